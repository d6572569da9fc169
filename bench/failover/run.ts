// Benchmark (issue 6, "Cluster health, failover and rescheduling"): failover time — from the
// moment a member's kube-apiserver is frozen (SIGSTOP: it accepts connections and answers
// nothing, as a hung or partitioned API server does) until the replicas it ran are Ready in the
// other members — over repeated trials, with the default health settings or aggressive ones.
//
// Usage:
//   node bench/failover/run.ts [--profile aggressive|default] [--trials 10] [--replicas 6]
//        [--timeout-s 600] [--out FILE] [--log FILE]
//
// One environment (src/testenv: hub + 3 kwok members) for every trial; Meridian's controllers
// run in this process (`runManager`, no leader election) with the profile's settings. Trial i:
//   1. a fresh namespace with a Deployment (--replicas, 100m CPU each) and a policy dividing it
//      over the 3 members with equal static weights, failover.cluster purgeMode Graciously;
//      wait until the hub shows it Ready on all 3;
//   2. freeze member i mod 3's kube-apiserver (t0) and record, from watches (never polling),
//      the first time that
//        not ready   — its Cluster's Ready condition is not True,
//        tainted     — it carries cluster.meridian.dev/not-ready:NoExecute,
//        rescheduled — the binding's spec.clusters no longer name it,
//        ready       — the other two members' copies sum ≥ --replicas readyReplicas (the
//                      replacement is Ready elsewhere: the headline number),
//        hub         — the binding's aggregatedStatus covers only the other two and sums
//                      --replicas readyReplicas (what `kubectl get` on the hub shows);
//   3. thaw it (t1) and record when it is Ready and untainted again and when its stale copy is
//      gone from it (`recovered`, from t1); delete the namespace and wait until every member is
//      clean before the next trial.
// Output: progress on stderr; one JSON line (every trial, and p50/p99 per phase) and one
// Markdown table row on stdout; the JSON also to --out when given, and the controllers' log
// (JSON lines, with each freeze and thaw marked) to --log.
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { stringify } from 'yaml';
import { TaintKeys, type Cluster, type ResourceBinding } from '../../src/api/index.ts';
import type { ControllerSettings } from '../../src/controllers/context.ts';
import { runManager } from '../../src/controllers/manager.ts';
import { CLUSTERS } from '../../src/controllers/members/registry.ts';
import { Resources } from '../../src/controllers/resources.ts';
import { ApiClient, type ResourceType } from '../../src/kube/api-client.ts';
import { NotFoundError } from '../../src/kube/errors.ts';
import { InformerFactory } from '../../src/kube/informer-factory.ts';
import { silentLogger, type Logger } from '../../src/kube/log.ts';
import { objectKey } from '../../src/kube/object-key.ts';
import type { StoreReader } from '../../src/kube/store.ts';
import type { KubeObject } from '../../src/kube/wire.ts';
import { startEnvironment, type ClusterInfo } from '../../src/testenv/environment.ts';
import { percentile, when as whenWithin } from './when.ts';

/** `when`, bounded by this benchmark's timeout. */
const when = (what: string, stores: ReadonlyArray<StoreReader<KubeObject>>, holds: () => boolean) =>
  whenWithin(what, stores, holds, TIMEOUT_MS);

const { values: args } = parseArgs({
  options: {
    profile: { type: 'string', default: 'aggressive' },
    trials: { type: 'string', default: '10' },
    replicas: { type: 'string', default: '6' },
    'timeout-s': { type: 'string', default: '600' },
    out: { type: 'string' },
    log: { type: 'string' },
  },
});

const PROFILES: Record<string, ControllerSettings> = {
  /** Every controller default: probe 10 s ±20 %, 5 s timeout, retry 2 s, grace 40 s, stabilisation 30 s. */
  default: {},
  aggressive: {
    clusterProbeIntervalMs: 1_000,
    clusterProbeTimeoutMs: 1_000,
    clusterProbeRetryMs: 500,
    notReadyGracePeriodMs: 2_000,
    readyStabilizationMs: 3_000,
  },
};
const profile = args.profile ?? 'aggressive';
const settings = PROFILES[profile];
if (settings === undefined)
  throw new Error(`unknown --profile ${profile} (known: ${Object.keys(PROFILES).join(', ')})`);
const TRIALS = Number(args.trials);
const REPLICAS = Number(args.replicas);
const TIMEOUT_MS = Number(args['timeout-s']) * 1000;
const run = randomBytes(3).toString('hex');
const DEPLOYMENTS: ResourceType = {
  group: 'apps',
  version: 'v1',
  resource: 'deployments',
  scope: 'Namespaced',
  kind: 'Deployment',
};
type Deployment = KubeObject & { spec?: { replicas?: number }; status?: { readyReplicas?: number } };

const progress = (m: string): void => void process.stderr.write(`[failover-bench] ${m}\n`);
const logLines: string[] = [];
const record = (level: string, o: object, m?: string): void => {
  if (args.log === undefined && level !== 'error') return;
  const line = JSON.stringify({ t: new Date().toISOString(), level, msg: m, ...o }, (_k, v: unknown) =>
    v instanceof Error ? v.message : v,
  );
  if (level === 'error') progress(`controller error: ${line}`);
  if (args.log !== undefined && logLines.length < 2_000_000) logLines.push(line);
};
const controllerLog: Logger = {
  debug: () => {},
  info: (o, m) => record('info', o, m),
  warn: (o, m) => record('warn', o, m),
  error: (o, m) => record('error', o, m),
};

function cli(argv: readonly string[]): Promise<void> {
  const main = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
  return new Promise((resolve, reject) =>
    execFile(process.execPath, [main, ...argv], { timeout: 300_000 }, (err, _out, stderr) =>
      err ? reject(new Error(`meridian ${argv.join(' ')}: ${stderr || err.message}`)) : resolve(),
    ),
  );
}

async function client(kubeconfig: string): Promise<ApiClient> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return ApiClient.fromKubeConfig(kc, { userAgent: 'meridian-failover-bench' });
}

interface Trial {
  readonly trial: number;
  readonly lost: string;
  /** Milliseconds from the freeze. */
  readonly notReady: number;
  readonly tainted: number;
  readonly rescheduled: number;
  readonly ready: number;
  readonly hub: number;
  /** Milliseconds from the thaw until its stale copy is gone. */
  readonly recovered: number;
}

async function main(): Promise<void> {
  progress(`profile ${profile} ${JSON.stringify(settings)}; ${TRIALS} trial(s), ${REPLICAS} replicas`);
  const env = await startEnvironment({ log: progress });
  const abort = new AbortController();
  const hub = await client(env.hub.kubeconfig);
  const members = new Map<string, ApiClient>();
  let manager: Promise<unknown> | undefined;
  const trials: Trial[] = [];
  try {
    for (const m of env.members) {
      await cli(['join', m.name, '--kubeconfig', m.kubeconfig, '--hub-kubeconfig', env.hub.kubeconfig, '--labels', `meridian.dev/bench-run=${run}`]); // prettier-ignore
      members.set(m.name, await client(m.kubeconfig));
    }
    manager = runManager({
      hub,
      log: controllerLog,
      leaderElection: false,
      metrics: new Registry(),
      signal: abort.signal,
      settings: settings as ControllerSettings,
    });
    const hubInformers = new InformerFactory(hub, abort.signal, silentLogger);
    const clusters = hubInformers.informer<Cluster>(CLUSTERS);
    const bindings = hubInformers.informer<ResourceBinding>(Resources.ResourceBinding);
    const memberDeployments = new Map<string, StoreReader<Deployment>>();
    for (const m of env.members) {
      const inf = new InformerFactory(members.get(m.name) as ApiClient, abort.signal, silentLogger);
      memberDeployments.set(m.name, inf.informer<Deployment>(DEPLOYMENTS));
    }
    const cluster = (name: string) => clusters.get(objectKey(undefined, name));
    const isReady = (name: string) =>
      cluster(name)?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    const isTainted = (name: string) =>
      cluster(name)?.spec.taints?.some((t) => t.key === TaintKeys.notReady && t.effect === 'NoExecute') ??
      false;
    await when('every member Ready', [clusters], () => env.members.every((m) => isReady(m.name)));

    for (let i = 0; i < TRIALS; i++) {
      const lost = env.members[i % env.members.length] as ClusterInfo;
      const others = env.members.filter((m) => m !== lost);
      const ns = `failover-${run}-${i}`;
      const binding = () => bindings.get(objectKey(ns, 'web-deployment'));
      const copy = (member: string) => memberDeployments.get(member)?.get(objectKey(ns, 'web'));
      await env.kubectl('hub', ['create', 'namespace', ns]);
      await env.kubectl('hub', ['apply', '-f', '-'], {
        input: [
          {
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            metadata: { name: 'web', namespace: ns, labels: { app: 'web' } },
            spec: {
              replicas: REPLICAS,
              selector: { matchLabels: { app: 'web' } },
              template: {
                metadata: { labels: { app: 'web' } },
                spec: { containers: [{ name: 'app', image: 'nginx:1.27', resources: { requests: { cpu: '100m', memory: '64Mi' } } }] },
              },
            },
          },
          {
            apiVersion: 'meridian.dev/v1alpha1',
            kind: 'PropagationPolicy',
            metadata: { name: 'web', namespace: ns },
            spec: {
              resourceSelectors: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }],
              placement: {
                clusterAffinity: { labelSelector: { matchLabels: { 'meridian.dev/bench-run': run } } },
                replicaScheduling: { replicaSchedulingType: 'Divided', replicaDivisionPreference: 'Weighted' },
              },
              failover: { cluster: { purgeMode: 'Graciously', gracePeriodSeconds: 600 } },
            },
          },
        ].map((d) => stringify(d)).join('---\n'),
      }); // prettier-ignore
      const stores = [bindings, ...memberDeployments.values()] as StoreReader<KubeObject>[];
      await when(`trial ${i}: placed on all 3 and Ready`, stores, () => {
        const b = binding();
        return (
          b?.spec.clusters?.length === env.members.length &&
          env.members.every((m) => {
            const d = copy(m.name);
            return (d?.status?.readyReplicas ?? 0) >= (d?.spec?.replicas ?? Infinity);
          })
        );
      });

      const apiserver = env.processes().find((p) => p.name === `${lost.name}/kube-apiserver`);
      if (apiserver === undefined) throw new Error(`no kube-apiserver process for ${lost.name}`);
      const t0 = performance.now();
      process.kill(apiserver.pid, 'SIGSTOP');
      record('info', { trial: i, cluster: lost.name }, 'bench: kube-apiserver frozen (SIGSTOP)');
      let t: Omit<Trial, 'recovered'>;
      try {
        const [notReady, tainted, rescheduled, ready, hubReady] = await Promise.all([
          when('not ready', [clusters], () => !isReady(lost.name)),
          when('tainted', [clusters], () => isTainted(lost.name)),
          when('rescheduled', [bindings], () => !(binding()?.spec.clusters ?? []).some((c) => c.name === lost.name)),
          when('ready elsewhere', stores, () => others.reduce((s, m) => s + (copy(m.name)?.status?.readyReplicas ?? 0), 0) >= REPLICAS),
          when('hub shows it', [bindings], () => {
            const items = binding()?.status?.aggregatedStatus ?? [];
            const ready = items.reduce((s, x) => s + Number((x.status as { readyReplicas?: number } | undefined)?.readyReplicas ?? 0), 0);
            return !items.some((x) => x.clusterName === lost.name) && items.length === others.length && ready >= REPLICAS;
          }),
        ]); // prettier-ignore
        t = {
          trial: i,
          lost: lost.name,
          notReady: notReady - t0,
          tainted: tainted - t0,
          rescheduled: rescheduled - t0,
          ready: ready - t0,
          hub: hubReady - t0,
        };
      } finally {
        process.kill(apiserver.pid, 'SIGCONT');
        record('info', { trial: i, cluster: lost.name }, 'bench: kube-apiserver thawed (SIGCONT)');
      }
      const t1 = performance.now();
      const lostClient = members.get(lost.name) as ApiClient;
      // The member's own API is polled here (its informer may still be reconnecting).
      for (;;) {
        try {
          await lostClient.get(DEPLOYMENTS, { namespace: ns, name: 'web' });
        } catch (err) {
          if (err instanceof NotFoundError) break;
        }
        if (performance.now() - t1 > TIMEOUT_MS)
          throw new Error(`trial ${i}: the stale copy on ${lost.name} stayed`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const recovered = performance.now() - t1;
      await when(
        `trial ${i}: ${lost.name} Ready and untainted`,
        [clusters],
        () => isReady(lost.name) && !isTainted(lost.name),
      );
      const trial: Trial = { ...t, recovered };
      trials.push(trial);
      progress(`trial ${i} (${lost.name}): ${Object.entries(trial).slice(2).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`).join(', ')}`); // prettier-ignore

      await env.kubectl('hub', ['delete', 'namespace', ns, '--wait=false']);
      await when(`trial ${i}: members clean`, stores, () => binding() === undefined && env.members.every((m) => copy(m.name) === undefined)); // prettier-ignore
    }
  } finally {
    abort.abort();
    await manager?.catch(() => {});
    await hub.close();
    for (const c of members.values()) await c.close();
    await env.stop();
  }

  const phases = ['notReady', 'tainted', 'rescheduled', 'ready', 'hub', 'recovered'] as const;
  const summary = Object.fromEntries(
    phases.map((p) => {
      const xs = trials.map((t) => t[p]);
      return [p, { p50: Math.round(percentile(xs, 50)), p99: Math.round(percentile(xs, 99)), max: Math.round(Math.max(...xs)) }];
    }),
  ); // prettier-ignore
  const result = {
    date: new Date().toISOString(),
    profile,
    settings,
    trials: trials.length,
    replicas: REPLICAS,
    summary,
    perTrial: trials.map((t) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, typeof v === 'number' && k !== 'trial' ? Math.round(v) : v]))),
  }; // prettier-ignore
  const json = JSON.stringify(result);
  process.stdout.write(`${json}\n`);
  if (args.out) writeFileSync(args.out, `${JSON.stringify(result, null, 2)}\n`);
  if (args.log) writeFileSync(args.log, `${logLines.join('\n')}\n`);
  const s = (p: (typeof phases)[number]) =>
    `${((summary[p]?.p50 ?? NaN) / 1000).toFixed(1)} / ${((summary[p]?.p99 ?? NaN) / 1000).toFixed(1)}`;
  process.stdout.write(
    `| ${result.date.slice(0, 16)}Z | ${profile} | ${trials.length} | ${s('notReady')} | ${s('tainted')} | ${s('rescheduled')} | **${s('ready')}** | ${s('hub')} | ${s('recovered')} |\n`,
  );
}

await main();
