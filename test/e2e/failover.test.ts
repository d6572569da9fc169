// Cluster health → taints → failover, end to end with real faults. This file breaks members on
// purpose (it freezes a member's kube-apiserver), so it runs its own environment (hub + 3
// members) rather than the run's shared one, and Meridian's controllers in-process with
// aggressive health settings (1 s probes, 3 s grace and stabilisation) so faults are noticed
// quickly. Every fault is undone in `finally`.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
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

after(async () => {
  abort?.abort();
  await manager?.catch(() => {});
  await hub?.close();
  await env?.stop();
  if (process.exitCode)
    process.stderr.write(`[failover-test] controller log tail:\n${lines.slice(-300).join('\n')}\n`);
});

describe('cluster health → taints', () => {
  test('a cluster not Ready for the grace period is tainted not-ready:NoExecute, and untainted once Ready for the stabilisation period; other taints are kept', async () => {
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
  });
});
