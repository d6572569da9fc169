// Cluster health → taints → failover, end to end with real faults. This file breaks members on
// purpose (it freezes a member's kube-apiserver with SIGSTOP: it keeps accepting connections
// and answers nothing, like a hung or partitioned API server), so it runs its own environment
// (hub + 3 members) rather than the run's shared one, and Meridian's controllers in-process with
// aggressive health settings (1 s probes, 3 s grace and stabilisation) so that faults are
// noticed quickly. Every fault is undone in `finally`.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Cluster, ResourceBinding, Taint } from '../../src/api/index.ts';
import type { ControllerSettings } from '../../src/controllers/context.ts';
import { CLUSTERS } from '../../src/controllers/members/registry.ts';
import type { ApiClient } from '../../src/kube/api-client.ts';
import { objectKey } from '../../src/kube/object-key.ts';
import type { StoreReader } from '../../src/kube/store.ts';
import type { ClusterInfo, Environment } from '../../src/testenv/environment.ts';
import { eventually } from '../support/eventually.ts';
import { failoverFixture, json, notReadyTaint, readyStatus, yaml } from '../support/failover.ts';
import { meridian } from '../support/meridian.ts';

const run = randomBytes(3).toString('hex');
/** Generous: the machine is shared and slow; nothing here asserts on elapsed wall time. */
const WAIT_MS = 240_000;
const SETTINGS: ControllerSettings = {
  clusterProbeIntervalMs: 1_000,
  clusterProbeTimeoutMs: 3_000, // 1 s probes time out on a loaded machine and skew placement
  clusterProbeRetryMs: 500,
  notReadyGracePeriodMs: 3_000,
  readyStabilizationMs: 3_000,
  evictionTimeoutMs: 600_000,
};

const fx = failoverFixture({ name: 'failover-test', settings: SETTINGS, waitMs: WAIT_MS, run });
const { startControllers, stopControllers, kubectl, waitFor, expectEvent, freeze } = fx;
const { memberDeployment, hubDeployment, logged } = fx;

let env: Environment;
let hub: ApiClient;
let clusters: StoreReader<Cluster>;
let bindings: StoreReader<ResourceBinding>;

/** Resolves once `predicate` holds for the Cluster, re-checked on each of its changes. */
const waitForCluster = (
  name: string,
  what: string,
  predicate: (c: Cluster | undefined) => boolean,
  timeoutMs = WAIT_MS,
): Promise<Cluster | undefined> => waitFor(clusters, objectKey(undefined, name), what, predicate, timeoutMs);

/** A loopback port nothing listens on: bind one, then close it. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
}

/**
 * A Deployment `web` of 6 replicas in a fresh namespace, divided with equal weights over this
 * file's 3 members, graceful eviction with a long grace period; resolves once the hub shows it
 * Ready on all three (2 + 2 + 2).
 */
async function deployWeb(prefix: string): Promise<{ ns: string; binding: string; work: string }> {
  const ns = `${prefix}-${run}`;
  await kubectl('hub', ['create', 'namespace', ns]);
  const container = {
    name: 'app',
    image: 'nginx:1.27',
    resources: { requests: { cpu: '100m', memory: '64Mi' } },
  };
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
          template: { metadata: { labels: { app: 'web' } }, spec: { containers: [container] } },
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
  );
  const binding = 'web-deployment';
  await eventually(
    async () => {
      const b = bindings.get(objectKey(ns, binding));
      assert.deepEqual(
        b?.spec.clusters?.map((c) => c.replicas),
        [2, 2, 2],
      );
      assert.equal((await hubDeployment(ns)).status?.readyReplicas, 6);
    },
    { timeoutMs: WAIT_MS },
  );
  return { ns, binding, work: `rb.${ns}.${binding}` };
}

/**
 * With `lost` frozen: the binding places 3 + 3 on the others and they run them Ready; the hub
 * shows 6 ready out of 6 (the lost copy is not counted); graceful eviction has ended and the
 * lost cluster's Work is being deleted, waiting for the member to answer.
 */
async function expectFailedOver(lost: ClusterInfo, ns: string, binding: string, work: string): Promise<void> {
  const rest = env.members.filter((m) => m !== lost);
  await eventually(
    async () => {
      const b = bindings.get(objectKey(ns, binding));
      assert.deepEqual(
        b?.spec.clusters,
        rest.map((m) => ({ name: m.name, replicas: 3 })).sort((x, y) => (x.name < y.name ? -1 : 1)),
      );
      for (const m of rest) {
        const d = await memberDeployment(m.name, ns, 'web');
        assert.equal(d?.spec.replicas, 3, m.name);
        assert.equal(d?.status?.readyReplicas, 3, m.name);
      }
      const d = await hubDeployment(ns);
      assert.equal(d.status?.readyReplicas, 6, 'ready replicas summed over the targets');
      assert.equal(d.status?.replicas, 6, 'the lost copy is not counted: nothing duplicated');
      assert.deepEqual(b?.spec.gracefulEvictionTasks ?? [], [], 'graceful eviction ended');
      const w = await json<{ metadata: { deletionTimestamp?: string } }>(
        kubectl('hub', ['get', 'work', work, '-n', `meridian-cluster-${lost.name}`, '-o', 'json']),
      );
      assert.ok(w.metadata.deletionTimestamp, 'the lost Work is being deleted, waiting for the member');
    },
    { timeoutMs: WAIT_MS },
  );
  await expectEvent(
    binding,
    ns,
    'ClusterEvicted',
    new RegExp(`evicted from ${lost.name} .*not-ready:NoExecute`),
  );
  await expectEvent(binding, ns, 'GracefulEvictionEnded', /the clusters replacing it are healthy/);
}

/** After `lost` is back: untainted, its stale copy and Work gone, the placement still 3 + 3. */
async function expectRecovered(lost: ClusterInfo, ns: string, binding: string, work: string): Promise<void> {
  await waitForCluster(
    lost.name,
    'Ready and untainted',
    (c) => readyStatus(c) === 'True' && !notReadyTaint(c),
  );
  await eventually(
    async () => {
      assert.equal(await memberDeployment(lost.name, ns, 'web'), undefined, 'stale Deployment removed');
      const pods = await json<{ items: unknown[] }>(
        kubectl(lost.name, ['get', 'pods', '-n', ns, '-l', 'app=web', '-o', 'json']),
      );
      assert.equal(pods.items.length, 0, 'its pods are gone too');
      const left = await kubectl('hub', ['get', 'work', work, '-n', `meridian-cluster-${lost.name}`, '--ignore-not-found', '-o', 'name']); // prettier-ignore
      assert.equal(left.stdout.trim(), '', 'the Work is gone');
    },
    { timeoutMs: WAIT_MS },
  );
  const b = bindings.get(objectKey(ns, binding));
  assert.deepEqual(
    b?.spec.clusters?.map((c) => c.name),
    env.members
      .filter((m) => m !== lost)
      .map((m) => m.name)
      .sort(),
  );
  const d = await hubDeployment(ns);
  assert.equal(d.status?.readyReplicas, 6);
  assert.equal(d.status?.replicas, 6);
}

before(async () => {
  ({ env, hub, clusters, bindings } = await fx.start());
});

after(() => fx.stop());

describe('cluster health → taints', () => {
  test(
    'a cluster not Ready for the grace period is tainted not-ready:NoExecute, and untainted once Ready for the stabilisation period; other taints are kept',
    logged(async () => {
      const m = env.members[2] as ClusterInfo;
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
        const unreachable = { spec: { apiEndpoint: `https://127.0.0.1:${port}` } };
        await hub.patch(CLUSTERS, { name }, { type: 'merge', patch: unreachable });
        const tainted = (await waitForCluster(
          name,
          'tainted',
          (c) => notReadyTaint(c) !== undefined,
        )) as Cluster;
        assert.equal(readyStatus(tainted), 'False');
        const ready = tainted.status?.conditions?.find((x) => x.type === 'Ready');
        assert.equal(ready?.reason, 'Unreachable');
        const taint = notReadyTaint(tainted) as Taint;
        const waited = Date.parse(taint.timeAdded ?? '') - Date.parse(ready?.lastTransitionTime ?? '');
        // Both stamps have second precision.
        assert.ok(waited >= (SETTINGS.notReadyGracePeriodMs ?? 0) - 1_000, `tainted ${waited} ms after Ready turned False`); // prettier-ignore
        assert.deepEqual(
          tainted.spec.taints?.find((t) => t.key === 'maintenance'),
          maintenance,
          'user taint kept',
        );
        await expectEvent(name, 'default', 'ClusterTainted', /not Ready for/);

        // Back: Ready at once, but the taint stays for the stabilisation period.
        let sawReadyAndTainted = false;
        const seen = new AbortController();
        clusters.subscribe((c) => {
          const k = c.key === objectKey(undefined, name);
          if (k && readyStatus(c.object) === 'True' && notReadyTaint(c.object)) sawReadyAndTainted = true;
        }, seen.signal);
        await hub.patch(CLUSTERS, { name }, { type: 'merge', patch: { spec: { apiEndpoint: m.server } } });
        const untainted = (await waitForCluster(name, 'Ready and untainted', (c) => readyStatus(c) === 'True' && !notReadyTaint(c))) as Cluster; // prettier-ignore
        seen.abort();
        assert.ok(sawReadyAndTainted, 'the taint outlived the return to Ready (stabilisation period)');
        assert.deepEqual(untainted.spec.taints, [maintenance], 'only our taint was removed');
        await expectEvent(name, 'default', 'ClusterUntainted', /Ready again for/);
      } finally {
        await hub.delete(CLUSTERS, { name }).catch(() => {});
        await waitForCluster(name, 'deleted', (c) => c === undefined).catch(() => {});
      }
    }),
  );
});

describe('failover', () => {
  test(
    'a member whose kube-apiserver stops: its replicas move to the other clusters once, the hub counts them once, and its stale copy is removed when it returns',
    logged(async () => {
      const lost = env.members[0] as ClusterInfo;
      const { ns, binding, work } = await deployWeb('fo');
      const thaw = freeze(lost);
      try {
        await waitForCluster(lost.name, 'not Ready and tainted', (c) => readyStatus(c) !== 'True' && !!notReadyTaint(c)); // prettier-ignore
        await expectFailedOver(lost, ns, binding, work);
      } finally {
        thaw();
      }
      await expectRecovered(lost, ns, binding, work);
    }),
  );

  test(
    'the controllers are stopped mid-failover and started again: the failover completes, nothing lost or duplicated',
    logged(async () => {
      const lost = env.members[1] as ClusterInfo;
      const { ns, binding, work } = await deployWeb('fo-restart');
      // Stop the controllers the moment the binding records its graceful eviction: the old copy
      // is kept, the replacement is not Ready yet, nothing has been cleaned up.
      let sawTask = false;
      const stopped = new Promise<void>((resolve) => {
        const done = new AbortController();
        bindings.subscribe((c) => {
          if (c.key !== objectKey(ns, binding) || !c.object.spec.gracefulEvictionTasks?.length) return;
          sawTask = true;
          done.abort();
          resolve(stopControllers());
        }, done.signal);
      });
      const thaw = freeze(lost);
      try {
        await stopped;
        assert.ok(sawTask);
        const b = bindings.get(objectKey(ns, binding));
        assert.deepEqual(
          b?.spec.gracefulEvictionTasks?.map((t) => [t.fromCluster, t.replicas, t.purgeMode]),
          [[lost.name, 2, 'Graciously']],
        );
        startControllers();
        await expectFailedOver(lost, ns, binding, work);
      } finally {
        thaw();
      }
      await expectRecovered(lost, ns, binding, work);
    }),
  );
});
