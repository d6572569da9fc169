import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { parseAllDocuments } from 'yaml';
import { ApiClient } from '../kube/api-client.ts';
import { installCrds } from '../controllers/bootstrap/install-crds.ts';
import { runManager } from '../controllers/manager.ts';
import { createDashboard, DASHBOARD_PATH } from '../dashboard/server.ts';
import { ensureViewer, requestToken, VIEWER } from '../dashboard/viewer.ts';
import { startGateway } from '../gateway/gateway.ts';
import { staticTokens } from '../gateway/tokens.ts';
import { bindingName } from '../controllers/detector/binding-for.ts';
import { issueCertificate } from '../testenv/pki.ts';
import { startEnvironment, type ClusterInfo, type Environment } from '../testenv/environment.ts';
import { membersFor } from '../testenv/topology.ts';
import { runJoin } from './join.ts';
import { formatPlacement, placementRows } from './placement-report.ts';
import { createProgress } from './progress.ts';

/** The sample app: plain manifests plus a spread-by-region policy and per-site overrides. */
export const DEMO_APP = fileURLToPath(new URL('../../deploy/demo/shop.yaml', import.meta.url));
const APP_NS = 'shop';

const say = (line = '') => process.stdout.write(`${line}\n`);

interface Running {
  stop(): Promise<void>;
}

/** meridian-controllers in this process, logging to a file so the terminal stays readable. */
async function startControllers(hub: ClusterInfo, logFile: string): Promise<Running> {
  const kc = new KubeConfig();
  kc.loadFromFile(hub.kubeconfig);
  const client = await ApiClient.fromKubeConfig(kc, { userAgent: 'meridian-demo' });
  const abort = new AbortController();
  // The app is applied right after this: its policies need the CRDs served first.
  await installCrds(client, AbortSignal.timeout(60_000));
  const log = pino({ name: 'meridian-controllers' }, pino.destination({ dest: logFile, mkdir: true }));
  const done = runManager({ hub: client, log, signal: abort.signal, leaderElection: false });
  return {
    async stop() {
      abort.abort();
      await done.catch(() => {});
      await client.close();
    },
  };
}

/**
 * The fleet dashboard, served by a meridian-gateway in this process (HTTPS with a serving
 * certificate from the hub CA), and a read-only viewer token for it.
 */
async function startDashboard(
  hub: ClusterInfo,
  dir: string,
): Promise<Running & { url: string; token: string; tokenHours: number }> {
  // Loaded here, not at the top: esbuild is a devDependency, and only the demo (run from a
  // checkout) builds the UI; every other command must load without it.
  const { buildUi } = await import('../../ui/build.ts');
  await buildUi({ ifStale: true });
  const kc = new KubeConfig();
  kc.loadFromFile(hub.kubeconfig);
  const client = await ApiClient.fromKubeConfig(kc, { userAgent: 'meridian-dashboard' });
  const abort = new AbortController();
  await ensureViewer(client);
  const tokenHours = 24;
  const token = await requestToken(client, tokenHours * 3600);
  const ca = { certPath: hub.caPath, keyPath: join(hub.dir, 'pki', 'ca.key') };
  const serving = await issueCertificate(ca, join(dir, 'gateway'), 'serving', {
    commonName: 'meridian-gateway',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
    usage: 'server',
  });
  const dashboard = await createDashboard({ hub: client, signal: abort.signal });
  const gateway = await startGateway({
    host: '127.0.0.1',
    tls: {
      cert: await readFile(serving.certPath),
      key: await readFile(serving.keyPath),
      clientCa: await readFile(hub.caPath),
    },
    // The demo's members are joined in push mode: no agents connect.
    agents: staticTokens(new Map()),
    dashboard: dashboard.handle,
  });
  await dashboard.ready;
  return {
    url: `${gateway.url}${DASHBOARD_PATH}`,
    token,
    tokenHours,
    async stop() {
      abort.abort();
      await gateway.close();
      await client.close();
    },
  };
}

type AppObject = { kind?: string; metadata?: { name?: string }; spec?: { replicas?: number } };

/** The objects of the demo app that policies place (not its namespace and policies). */
function appObjects(): AppObject[] {
  return parseAllDocuments(readFileSync(DEMO_APP, 'utf8'))
    .map((d) => d.toJS() as AppObject)
    .filter((o) => !['Namespace', 'PropagationPolicy', 'OverridePolicy'].includes(o.kind ?? ''));
}

async function kubectlJson<T>(env: Environment, cluster: string, args: readonly string[]): Promise<T> {
  return JSON.parse((await env.kubectl(cluster, [...args, '-o', 'json'])).stdout) as T;
}

async function printPlacement(env: Environment): Promise<void> {
  const clusters = env.members.map((m) => m.name);
  const bindings = await kubectlJson<{ items: [] }>(env, 'hub', ['get', 'resourcebindings', '-n', APP_NS]);
  const templates = await kubectlJson<{ items: [] }>(env, 'hub', [
    'get',
    'deployments,services',
    '-n',
    APP_NS,
  ]);
  say(`Placement of namespace ${APP_NS} (policy shop-by-region, overrides shop-registries):`);
  say();
  say(
    formatPlacement(placementRows(bindings.items, templates.items, clusters), clusters).replace(/^/gm, '  '),
  );
  say();
  say('Image of deployment/frontend in each member (the override at work):');
  for (const m of env.members) {
    const image = await env.kubectl(m.name, [
      'get',
      'deployment/frontend',
      '-n',
      APP_NS,
      '-o',
      'jsonpath={.spec.template.spec.containers[0].image}',
    ]);
    say(`  ${m.name.padEnd(12)} ${image.stdout}`);
  }
}

/**
 * The README's demo: a local fleet (hub + simulated members), Meridian's controllers, the
 * members joined, and a sample app spread over three regions; prints where everything went
 * and how to drive it with kubectl. Runs until interrupted; everything it started is stopped
 * and (unless `dir` was given) removed on exit.
 */
export async function runDemo(opts: { members: number; dir?: string }): Promise<void> {
  const step = createProgress(process.stdout);
  say(`Meridian demo: a hub and ${opts.members} member clusters on this machine.`);
  let building = false;
  const env = await step(`hub and ${opts.members} member clusters started`, () =>
    startEnvironment({
      members: membersFor(opts.members),
      ...(opts.dir !== undefined && { dir: opts.dir }),
      log: (line) => {
        if (!building && line.includes('building into')) {
          building = true;
          say('\n  (building the Kubernetes binaries from the Go module proxy: first run only, minutes)');
        }
      },
    }),
  );
  let controllers: Running | undefined;
  let dashboard: Awaited<ReturnType<typeof startDashboard>> | undefined;
  try {
    const logFile = join(env.dir, 'logs', 'meridian-controllers.log');
    controllers = await step('Meridian controllers running', () => startControllers(env.hub, logFile));
    await step(`members joined: ${env.members.map((m) => m.name).join(', ')}`, async () => {
      for (const m of env.members) {
        await runJoin(
          { name: m.name, kubeconfig: m.kubeconfig, hubKubeconfig: env.hub.kubeconfig },
          () => {},
        );
      }
    });
    await step('demo app applied to the hub (deploy/demo/shop.yaml)', () =>
      env.kubectl('hub', ['apply', '-f', DEMO_APP]),
    );
    await step('placed in the members and Ready (aggregated status on the hub)', async () => {
      // Every object applied in every member it was placed in (its binding FullyApplied: a
      // dependency such as the ConfigMap is bound a moment after the Deployment that uses it),
      // then every Deployment's replicas Ready, summed on the hub.
      const objects = appObjects();
      for (const o of objects) {
        const binding = `resourcebinding/${bindingName(o)}`;
        await env.kubectl('hub', ['wait', '-n', APP_NS, binding, '--for=create', '--timeout=300s']);
        await env.kubectl('hub', [
          'wait',
          '-n',
          APP_NS,
          binding,
          '--for=condition=FullyApplied',
          '--timeout=300s',
        ]);
      }
      for (const d of objects.filter((o) => o.kind === 'Deployment')) {
        await env.kubectl('hub', [
          'wait',
          '-n',
          APP_NS,
          `deployment/${d.metadata?.name ?? ''}`,
          `--for=jsonpath={.status.readyReplicas}=${d.spec?.replicas ?? 1}`,
          '--timeout=300s',
        ]);
      }
    });
    dashboard = await step('dashboard served by meridian-gateway', () => startDashboard(env.hub, env.dir));
    say();
    await printPlacement(env);
    say();
    say(`Dashboard (live, read-only): ${dashboard.url}`);
    say(`  its certificate is signed by the hub CA (${env.hub.caPath}): the browser asks to trust it`);
    say(
      `  sign in with this read-only token (${VIEWER.namespace}/${VIEWER.name}, valid ${dashboard.tokenHours} h):`,
    );
    say(`  ${dashboard.token}`);
    say(
      `  another: kubectl --kubeconfig ${env.hub.kubeconfig} create token -n ${VIEWER.namespace} ${VIEWER.name}`,
    );
    say();
    say('Drive it with the pinned kubectl:');
    say(`  export PATH=${env.binDir}:$PATH`);
    say(`  kubectl --kubeconfig ${env.hub.kubeconfig} get deploy -n ${APP_NS}   # the hub`);
    say(`  kubectl --kubeconfig ${env.hub.kubeconfig} get resourcebindings -n ${APP_NS} -o yaml`);
    say(`  kubectl --kubeconfig ${env.hub.kubeconfig} scale -n ${APP_NS} deploy/frontend --replicas=9`);
    for (const m of env.members) {
      say(`  kubectl --kubeconfig ${m.kubeconfig} get pods -n ${APP_NS}   # ${m.name}`);
    }
    say(`Controller logs: ${logFile}`);
    say('Press Ctrl-C to stop.');
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    say('\nStopping…');
  } finally {
    await dashboard?.stop();
    await controllers?.stop();
    await env.stop();
  }
}
