// Cluster health → taints → failover, end to end with real faults. This file breaks members on
// purpose (it freezes a member's kube-apiserver), so it runs its own environment (hub + 3
// members) rather than the run's shared one, and Meridian's controllers in-process with
// aggressive health settings (1 s probes, 3 s grace and stabilisation) so faults are noticed
// quickly. Every fault is undone in `finally`.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { stringify } from 'yaml';
import { after, before, describe, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { TaintKeys, type Cluster, type Taint } from '../../src/api/index.ts';
import { runManager } from '../../src/controllers/manager.ts';
import type { ControllerSettings } from '../../src/controllers/context.ts';
import { CLUSTERS } from '../../src/controllers/members/registry.ts';
import { ApiClient } from '../../src/kube/api-client.ts';
import { InformerFactory } from '../../src/kube/informer-factory.ts';
import type { Logger } from '../../src/kube/log.ts';
import { objectKey } from '../../src/kube/object-key.ts';
import type { StoreReader } from '../../src/kube/store.ts';
import { startEnvironment, type Environment } from '../../src/testenv/environment.ts';
import { eventually } from '../support/eventually.ts';
import { meridian } from '../support/meridian.ts';

const run = randomBytes(3).toString('hex');
/** Generous: the machine is shared and slow; nothing here asserts on elapsed wall time. */
const WAIT_MS = 240_000;
const SETTINGS: ControllerSettings = {
  clusterProbeIntervalMs: 1_000,
  clusterProbeTimeoutMs: 1_000,
  clusterProbeRetryMs: 500,
  notReadyGracePeriodMs: 3_000,
  readyStabilizationMs: 3_000,
  evictionTimeoutMs: 600_000,
};

let lines: string[] = [];
const remember = (level: string, o: object, m?: string): void => {
  lines.push(`${new Date().toISOString()} ${level} ${m ?? ''} ${safeJson(o)}`);
  if (lines.length > 4000) lines = lines.slice(-2000);
};
const log: Logger = {
  debug: () => {},
  info: (o, m) => remember('INFO', o, m),
  warn: (o, m) => remember('WARN', o, m),
  error: (o, m) => {
    remember('ERROR', o, m);
    process.stderr.write(`[failover-test] ERROR ${m ?? ''} ${safeJson(o)}\n`);
  },
};
function safeJson(o: object): string {
  try {
    return JSON.stringify(o, (_k, v: unknown) => (v instanceof Error ? v.message : v));
  } catch {
    return String(o);
  }
}

let env: Environment;
let hub: ApiClient;
let abort: AbortController;
let manager: Promise<unknown> | undefined;
let clusters: StoreReader<Cluster>;

const kubectl = (cluster: string, args: string[], input?: string) =>
  env.kubectl(cluster, args, input === undefined ? { timeoutMs: 120_000 } : { input, timeoutMs: 120_000 });

const readyStatus = (c: Cluster | undefined): string | undefined =>
  c?.status?.conditions?.find((x) => x.type === 'Ready')?.status;
const notReadyTaint = (c: Cluster | undefined): Taint | undefined =>
  c?.spec.taints?.find((t) => t.key === TaintKeys.notReady && t.effect === 'NoExecute');

/** Resolves once `predicate` holds for the Cluster, re-checked on each of its changes. */
function waitForCluster(
  name: string,
  what: string,
  predicate: (c: Cluster | undefined) => boolean,
  timeoutMs = WAIT_MS,
): Promise<Cluster | undefined> {
  const key = objectKey(undefined, name);
  return new Promise((resolve, reject) => {
    const done = new AbortController();
    const check = (): void => {
      if (!clusters.isReady() || !predicate(clusters.get(key))) return;
      done.abort();
      clearTimeout(timer);
      resolve(clusters.get(key));
    };
    const timer = setTimeout(() => {
      done.abort();
      const c = clusters.get(key);
      reject(new Error(`timed out waiting for Cluster ${name}: ${what}; last seen ${safeJson({ spec: c?.spec, status: c?.status?.conditions })}`));
    }, timeoutMs); // prettier-ignore
    clusters.subscribe((c) => {
      if (c.key === key) check();
    }, done.signal);
    void clusters.ready.then(check);
  });
}

/** Events about one hub object, as `kubectl get events` lists them. */
async function eventsAbout(
  name: string,
  namespace = 'default',
): Promise<Array<{ reason: string; note: string }>> {
  const out = await kubectl('hub', ['get', 'events.events.k8s.io', '-n', namespace, '-o', 'json']);
  const list = JSON.parse(out.stdout) as {
    items: Array<{ reason?: string; note?: string; regarding?: { name?: string } }>;
  };
  return list.items
    .filter((e) => e.regarding?.name === name)
    .map((e) => ({ reason: e.reason ?? '', note: e.note ?? '' }));
}

const json = async <T>(p: Promise<{ stdout: string }>): Promise<T> => JSON.parse((await p).stdout) as T;
const yaml = (...docs: object[]) => docs.map((d) => stringify(d)).join('---\n');

type Deployment = {
  spec: { replicas: number };
  status?: { replicas?: number; readyReplicas?: number; availableReplicas?: number };
};
type Binding = {
  spec: {
    clusters?: Array<{ name: string; replicas: number }>;
    gracefulEvictionTasks?: Array<{ fromCluster: string; replicas?: number; purgeMode: string }>;
  };
};

/** A member's copy of a Deployment: undefined when it has none. */
async function memberDeployment(member: string, ns: string, name: string): Promise<Deployment | undefined> {
  const r = await kubectl(member, ['get', 'deployment', name, '-n', ns, '-o', 'json', '--ignore-not-found']);
  return r.stdout.trim() === '' ? undefined : (JSON.parse(r.stdout) as Deployment);
}

/** A loopback port nothing listens on: bind one, then close it. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
}

before(async () => {
  env = await startEnvironment({ log: (m) => process.stderr.write(`[failover-test env] ${m}\n`) });
  const kc = new KubeConfig();
  kc.loadFromFile(env.hub.kubeconfig);
  hub = await ApiClient.fromKubeConfig(kc);
  for (const m of env.members) {
    const r = await meridian(['join', m.name, '--kubeconfig', m.kubeconfig, '--hub-kubeconfig', env.hub.kubeconfig, '--labels', `meridian.dev/test-run=${run}`]); // prettier-ignore
    assert.equal(r.code, 0, `join ${m.name}: ${r.stderr}`);
  }
  abort = new AbortController();
  manager = runManager({
    hub,
    log,
    leaderElection: false,
    metrics: new Registry(),
    signal: abort.signal,
    settings: SETTINGS,
  });
  const informers = new InformerFactory(hub, abort.signal, log);
  clusters = informers.informer<Cluster>(CLUSTERS);
  await Promise.all(
    env.members.map((m) => waitForCluster(m.name, 'Ready', (c) => readyStatus(c) === 'True')),
  );
});

/** Runs a test body; on failure prints the controllers' recent log first. */
async function logged(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    process.stderr.write(`[failover-test] controller log tail:\n${lines.slice(-400).join('\n')}\n`);
    throw err;
  }
}

after(async () => {
  abort?.abort();
  await manager?.catch(() => {});
  await hub?.close();
  await env?.stop();
  if (process.exitCode)
    process.stderr.write(`[failover-test] controller log tail:\n${lines.slice(-300).join('\n')}\n`);
});

describe('cluster health → taints', () => {
  test('a cluster not Ready for the grace period is tainted not-ready:NoExecute, and untainted once Ready for the stabilisation period; other taints are kept', () =>
    logged(async () => {
      const m = env.members[2]!;
      const name = `flaky-${run}`;
      const r = await meridian([
        'join',
        name,
        '--kubeconfig',
        m.kubeconfig,
        '--hub-kubeconfig',
        env.hub.kubeconfig,
      ]);
      assert.equal(r.code, 0, r.stderr);
      try {
        const maintenance = { key: 'maintenance', value: 'true', effect: 'NoSchedule' };
        await kubectl('hub', ['patch', 'cluster', name, '--type=merge', '-p', JSON.stringify({ spec: { taints: [maintenance] } })]); // prettier-ignore
        await waitForCluster(name, 'Ready', (c) => readyStatus(c) === 'True');

        const port = await closedPort();
        await hub.patch(CLUSTERS, { name }, { type: 'merge', patch: { spec: { apiEndpoint: `https://127.0.0.1:${port}` } } }); // prettier-ignore
        const tainted = (await waitForCluster(name, 'tainted not-ready:NoExecute', (c) => notReadyTaint(c) !== undefined))!; // prettier-ignore
        assert.equal(readyStatus(tainted), 'False');
        const ready = tainted.status!.conditions!.find((x) => x.type === 'Ready')!;
        assert.equal(ready.reason, 'Unreachable');
        const taint = notReadyTaint(tainted)!;
        const waited = Date.parse(taint.timeAdded!) - Date.parse(ready.lastTransitionTime);
        assert.ok(
          waited >= SETTINGS.notReadyGracePeriodMs! - 1_000,
          `tainted ${waited} ms after Ready turned False`,
        );
        assert.deepEqual(
          tainted.spec.taints?.find((t) => t.key === 'maintenance'),
          maintenance,
          'user taint kept',
        );
        await eventually(async () => {
        const ev = await eventsAbout(name);
        assert.ok(ev.some((e) => e.reason === 'ClusterTainted' && /not Ready for/.test(e.note)), safeJson(ev));
      }, { timeoutMs: WAIT_MS }); // prettier-ignore

        // Back: Ready at once, but the taint stays for the stabilisation period.
        let sawReadyAndTainted = false;
        const seen = new AbortController();
        clusters.subscribe((c) => {
          if (
            c.key === objectKey(undefined, name) &&
            readyStatus(c.object) === 'True' &&
            notReadyTaint(c.object)
          )
            sawReadyAndTainted = true;
        }, seen.signal);
        await hub.patch(CLUSTERS, { name }, { type: 'merge', patch: { spec: { apiEndpoint: m.server } } });
        const untainted = (await waitForCluster(name, 'Ready and untainted', (c) => readyStatus(c) === 'True' && notReadyTaint(c) === undefined))!; // prettier-ignore
        seen.abort();
        assert.ok(sawReadyAndTainted, 'the taint outlived the return to Ready (stabilisation period)');
        assert.deepEqual(untainted.spec.taints, [maintenance], 'only our taint was removed');
        await eventually(async () => {
        const ev = await eventsAbout(name);
        assert.ok(ev.some((e) => e.reason === 'ClusterUntainted' && /Ready again for/.test(e.note)), safeJson(ev));
      }, { timeoutMs: WAIT_MS }); // prettier-ignore
      } finally {
        await hub.delete(CLUSTERS, { name }).catch(() => {});
        await waitForCluster(name, 'deleted', (c) => c === undefined).catch(() => {});
      }
    }));
});

describe('failover', () => {
  test('a member whose kube-apiserver stops: its replicas move to the other clusters once, the hub counts them once, and its stale copy is removed when it returns', () =>
    logged(async () => {
      const [lost, ...rest] = env.members as [(typeof env.members)[0], ...typeof env.members];
      const ns = `fo-${run}`;
      const binding = `web-deployment`;
      const work = `rb.${ns}.${binding}`;
      await kubectl('hub', ['create', 'namespace', ns]);
      await kubectl(
      'hub',
      ['apply', '-f', '-'],
      yaml(
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'web', namespace: ns, labels: { app: 'web' } },
          spec: {
            replicas: 6,
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
              clusterAffinity: { labelSelector: { matchLabels: { 'meridian.dev/test-run': run } } },
              replicaScheduling: { replicaSchedulingType: 'Divided', replicaDivisionPreference: 'Weighted' },
            },
            failover: { cluster: { purgeMode: 'Graciously', gracePeriodSeconds: 600 } },
          },
        },
      ),
    ); // prettier-ignore
      const hubDeployment = () =>
        json<Deployment>(kubectl('hub', ['get', 'deployment', 'web', '-n', ns, '-o', 'json']));
      const getBinding = () =>
        json<Binding>(kubectl('hub', ['get', 'resourcebinding', binding, '-n', ns, '-o', 'json']));
      await eventually(async () => {
      const b = await getBinding();
      assert.deepEqual(b.spec.clusters?.map((c) => c.replicas), [2, 2, 2]);
      const d = await hubDeployment();
      assert.equal(d.status?.readyReplicas, 6);
    }, { timeoutMs: WAIT_MS }); // prettier-ignore

      const apiserver = env.processes().find((p) => p.name === `${lost.name}/kube-apiserver`);
      assert.ok(apiserver, `${lost.name}'s kube-apiserver process`);
      process.kill(apiserver.pid, 'SIGSTOP');
      try {
        await waitForCluster(lost.name, 'not Ready and tainted', (c) => readyStatus(c) !== 'True' && notReadyTaint(c) !== undefined); // prettier-ignore

        // Its 2 replicas go to the other two clusters (3 + 3), and only there.
        await eventually(async () => {
        const b = await getBinding();
        assert.deepEqual(b.spec.clusters, rest.map((m) => ({ name: m.name, replicas: 3 })).sort((x, y) => (x.name < y.name ? -1 : 1))); // prettier-ignore
        for (const m of rest) {
          const d = await memberDeployment(m.name, ns, 'web');
          assert.equal(d?.spec.replicas, 3, m.name);
          assert.equal(d?.status?.readyReplicas, 3, m.name);
        }
        const d = await hubDeployment();
        assert.equal(d.status?.readyReplicas, 6, 'ready replicas summed over the targets');
        assert.equal(d.status?.replicas, 6, 'the lost copy is not counted: nothing duplicated');
      }, { timeoutMs: WAIT_MS }); // prettier-ignore

        // The replacement is healthy: graceful eviction ends and the lost cluster's Work is
        // deleted, waiting (finalizer) for the member to answer so its objects can go.
        await eventually(async () => {
        const b = await getBinding();
        assert.deepEqual(b.spec.gracefulEvictionTasks ?? [], []);
        const w = await json<{ metadata: { deletionTimestamp?: string } }>(kubectl('hub', ['get', 'work', work, '-n', `meridian-cluster-${lost.name}`, '-o', 'json'])); // prettier-ignore
        assert.ok(w.metadata.deletionTimestamp, 'the lost Work is being deleted');
      }, { timeoutMs: WAIT_MS }); // prettier-ignore
        const events = await eventsAbout(binding, ns);
        assert.ok(events.some((e) => e.reason === 'ClusterEvicted' && e.note.includes(`evicted from ${lost.name}`) && e.note.includes('not-ready:NoExecute')), safeJson(events)); // prettier-ignore
        assert.ok(events.some((e) => e.reason === 'GracefulEvictionEnded' && /replacing it are healthy/.test(e.note)), safeJson(events)); // prettier-ignore
      } finally {
        process.kill(apiserver.pid, 'SIGCONT');
      }

      // Back: the stale copy is removed from the member; the placement stays on the other two.
      await waitForCluster(lost.name, 'Ready and untainted', (c) => readyStatus(c) === 'True' && notReadyTaint(c) === undefined); // prettier-ignore
      await eventually(async () => {
      assert.equal(await memberDeployment(lost.name, ns, 'web'), undefined, 'stale Deployment removed');
      const pods = await json<{ items: unknown[] }>(kubectl(lost.name, ['get', 'pods', '-n', ns, '-l', 'app=web', '-o', 'json'])); // prettier-ignore
      assert.equal(pods.items.length, 0, 'its pods are gone too');
      const works = await kubectl('hub', ['get', 'work', work, '-n', `meridian-cluster-${lost.name}`, '--ignore-not-found', '-o', 'name']); // prettier-ignore
      assert.equal(works.stdout.trim(), '', 'the Work is gone');
    }, { timeoutMs: WAIT_MS }); // prettier-ignore
      const b = await getBinding();
      assert.deepEqual(b.spec.clusters?.map((c) => c.name), rest.map((m) => m.name).sort()); // prettier-ignore
      const d = await hubDeployment();
      assert.equal(d.status?.readyReplicas, 6);
      assert.equal(d.status?.replicas, 6);
    }));
});
