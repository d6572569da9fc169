// Benchmark (issue 6, application failover): from the moment a workload's pods start
// crash-looping in one member (kwok's stage for the `fault.meridian.dev/crash-loop` label) until
// its replicas are Ready in the other members — over repeated trials, for a given
// failover.application tolerationSeconds. What Meridian adds on top of the toleration is the
// number to watch.
//
// Usage:
//   node bench/failover/application.ts [--toleration-s 5] [--trials 10] [--replicas 6]
//        [--timeout-s 600] [--out FILE]
//
// One environment (src/testenv: hub + 3 kwok members) for every trial; Meridian's controllers
// run in this process (`runManager`, no leader election, default settings). Trial i:
//   1. a fresh namespace with a Deployment (--replicas, 100m CPU each) divided with equal
//      weights over the 3 members, failover.application with the toleration and purgeMode
//      Graciously; wait until it is Ready on all 3;
//   2. label member i mod 3's pods crash-looping (t0: just before kubectl runs) and record, from
//      watches (never polling), the first time that
//        unhealthy   — that member's Work reports Available=False (detection),
//        evicted     — the binding's spec.evictedClusters names it (≈ unhealthy + toleration),
//        rescheduled — the binding's spec.clusters no longer name it,
//        ready       — the other two members' copies sum ≥ --replicas readyReplicas (headline),
//        purged      — the sick copy is gone from the member (graceful eviction ended);
//   3. delete the namespace and wait until every member is clean.
// Output: progress on stderr; one JSON line (every trial, p50/p99 per phase) and one Markdown
// table row on stdout; the JSON also to --out when given.
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { stringify } from 'yaml';
import { clusterNamespace, type Cluster, type ResourceBinding, type Work } from '../../src/api/index.ts';
import { runManager } from '../../src/controllers/manager.ts';
import { CLUSTERS } from '../../src/controllers/members/registry.ts';
import { Resources } from '../../src/controllers/resources.ts';
import { ApiClient, type ResourceType } from '../../src/kube/api-client.ts';
import { InformerFactory } from '../../src/kube/informer-factory.ts';
import { silentLogger, type Logger } from '../../src/kube/log.ts';
import { objectKey } from '../../src/kube/object-key.ts';
import type { StoreReader } from '../../src/kube/store.ts';
import type { KubeObject } from '../../src/kube/wire.ts';
import { startEnvironment, type ClusterInfo } from '../../src/testenv/environment.ts';
import { CRASH_LOOP_LABEL } from '../../src/testenv/kwok-config.ts';
import { percentile, when as whenWithin } from './when.ts';

/** `when`, bounded by this benchmark's timeout. */
const when = (what: string, stores: ReadonlyArray<StoreReader<KubeObject>>, holds: () => boolean) =>
  whenWithin(what, stores, holds, TIMEOUT_MS);

const { values: args } = parseArgs({
  options: {
    'toleration-s': { type: 'string', default: '5' },
    trials: { type: 'string', default: '10' },
    replicas: { type: 'string', default: '6' },
    'timeout-s': { type: 'string', default: '600' },
    out: { type: 'string' },
  },
});
const TOLERATION_S = Number(args['toleration-s']);
const TRIALS = Number(args.trials);
const REPLICAS = Number(args.replicas);
const TIMEOUT_MS = Number(args['timeout-s']) * 1000;
for (const [flag, v] of [['--toleration-s', TOLERATION_S], ['--trials', TRIALS], ['--replicas', REPLICAS], ['--timeout-s', TIMEOUT_MS]] as const) {
  if (!Number.isInteger(v) || v < 0) throw new Error(`${flag} must be a non-negative integer, got ${String(v)}`);
} // prettier-ignore
const run = randomBytes(3).toString('hex');
const DEPLOYMENTS: ResourceType = {
  group: 'apps',
  version: 'v1',
  resource: 'deployments',
  scope: 'Namespaced',
  kind: 'Deployment',
};
type Deployment = KubeObject & { spec?: { replicas?: number }; status?: { readyReplicas?: number } };

const progress = (m: string): void => void process.stderr.write(`[app-failover-bench] ${m}\n`);
const controllerLog: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: (o, m) => progress(`controller error: ${m ?? ''} ${JSON.stringify(o)}`),
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
  return ApiClient.fromKubeConfig(kc, { userAgent: 'meridian-app-failover-bench' });
}

interface Trial {
  readonly trial: number;
  readonly sick: string;
  /** Milliseconds from the pods turning crash-looping. */
  readonly unhealthy: number;
  readonly evicted: number;
  readonly rescheduled: number;
  readonly ready: number;
  readonly purged: number;
}

async function main(): Promise<void> {
  progress(`tolerationSeconds ${TOLERATION_S}; ${TRIALS} trial(s), ${REPLICAS} replicas`);
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
    manager = runManager({ hub, log: controllerLog, leaderElection: false, metrics: new Registry(), signal: abort.signal }); // prettier-ignore
    const hubInformers = new InformerFactory(hub, abort.signal, silentLogger);
    const clusters = hubInformers.informer<Cluster>(CLUSTERS);
    const bindings = hubInformers.informer<ResourceBinding>(Resources.ResourceBinding);
    const works = hubInformers.informer<Work>(Resources.Work);
    const memberDeployments = new Map<string, StoreReader<Deployment>>();
    for (const m of env.members) {
      const inf = new InformerFactory(members.get(m.name) as ApiClient, abort.signal, silentLogger);
      memberDeployments.set(m.name, inf.informer<Deployment>(DEPLOYMENTS));
    }
    const isReady = (name: string) =>
      clusters.get(objectKey(undefined, name))?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false; // prettier-ignore
    await when('every member Ready', [clusters], () => env.members.every((m) => isReady(m.name)));

    for (let i = 0; i < TRIALS; i++) {
      const sick = env.members[i % env.members.length] as ClusterInfo;
      const others = env.members.filter((m) => m !== sick);
      const ns = `app-failover-${run}-${i}`;
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
              failover: { application: { decisionConditions: { tolerationSeconds: TOLERATION_S }, purgeMode: 'Graciously', gracePeriodSeconds: 600 } },
            },
          },
        ].map((d) => stringify(d)).join('---\n'),
      }); // prettier-ignore
      const stores = [bindings, works, ...memberDeployments.values()] as StoreReader<KubeObject>[];
      // Ready in every member, and Meridian has seen it so (each Work Available=True): otherwise a
      // Work still False from the rollout would date the fault from the Deployment's creation.
      await when(`trial ${i}: placed on all 3 and Ready`, stores, () => {
        const b = binding();
        return (
          b?.spec.clusters?.length === env.members.length &&
          env.members.every((m) =>
            works
              .get(objectKey(clusterNamespace(m.name), `rb.${ns}.web-deployment`))
              ?.status?.conditions?.some((c) => c.type === 'Available' && c.status === 'True'),
          ) &&
          env.members.every((m) => {
            const d = copy(m.name);
            return (d?.status?.readyReplicas ?? 0) >= (d?.spec?.replicas ?? Infinity);
          })
        );
      });

      // t0 just before the label: the fault starts within kubectl's run, so phases are upper bounds.
      const t0 = performance.now();
      await env.kubectl(sick.name, ['label', 'pods', '-n', ns, '-l', 'app=web', `${CRASH_LOOP_LABEL}=true`]);
      const sickWork = () => works.get(objectKey(clusterNamespace(sick.name), `rb.${ns}.web-deployment`));
      const [unhealthy, evicted, rescheduled, ready, purged] = await Promise.all([
        when('unhealthy', [works], () => sickWork()?.status?.conditions?.some((c) => c.type === 'Available' && c.status === 'False') ?? false),
        when('evicted', [bindings], () => (binding()?.spec.evictedClusters ?? []).some((e) => e.name === sick.name)),
        when('rescheduled', [bindings], () => !(binding()?.spec.clusters ?? []).some((c) => c.name === sick.name)),
        when('ready elsewhere', stores, () => others.reduce((s, m) => s + (copy(m.name)?.status?.readyReplicas ?? 0), 0) >= REPLICAS),
        when('purged', stores, () => copy(sick.name) === undefined),
      ]); // prettier-ignore
      const trial: Trial = {
        trial: i,
        sick: sick.name,
        unhealthy: unhealthy - t0,
        evicted: evicted - t0,
        rescheduled: rescheduled - t0,
        ready: ready - t0,
        purged: purged - t0,
      };
      trials.push(trial);
      progress(`trial ${i} (${sick.name}): ${Object.entries(trial).slice(2).map(([k, v]) => `${k} ${(Number(v) / 1000).toFixed(1)} s`).join(', ')}`); // prettier-ignore
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

  const phases = ['unhealthy', 'evicted', 'rescheduled', 'ready', 'purged'] as const;
  const summary = Object.fromEntries(
    phases.map((p) => {
      const xs = trials.map((t) => t[p]);
      return [p, { p50: Math.round(percentile(xs, 50)), p99: Math.round(percentile(xs, 99)), max: Math.round(Math.max(...xs)) }];
    }),
  ); // prettier-ignore
  const result = {
    date: new Date().toISOString(),
    tolerationSeconds: TOLERATION_S,
    trials: trials.length,
    replicas: REPLICAS,
    summary,
    perTrial: trials.map((t) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, typeof v === 'number' && k !== 'trial' ? Math.round(v) : v]))),
  }; // prettier-ignore
  process.stdout.write(`${JSON.stringify(result)}\n`);
  if (args.out) writeFileSync(args.out, `${JSON.stringify(result, null, 2)}\n`);
  const s = (p: (typeof phases)[number]) =>
    `${((summary[p]?.p50 ?? NaN) / 1000).toFixed(1)} / ${((summary[p]?.p99 ?? NaN) / 1000).toFixed(1)}`;
  process.stdout.write(
    `| ${result.date.slice(0, 16)}Z | ${TOLERATION_S} s | ${trials.length} | ${s('unhealthy')} | ${s('evicted')} | ${s('rescheduled')} | **${s('ready')}** | ${s('purged')} |\n`,
  );
}

await main();
