import assert from 'node:assert/strict';
import { test } from 'node:test';
import type {
  Cluster,
  GracefulEvictionTask,
  Placement,
  Taint,
  TargetCluster,
  Work,
} from '../../api/index.ts';
import { nextEvictionTasks, runsShare, type EvictionInput } from './eviction.ts';
import { deployment, makeCluster } from './fixtures.ts';
import { schedule } from './schedule.ts';

const NOW = Date.parse('2026-01-01T00:10:00Z');
const notReady: Taint = {
  key: 'cluster.meridian.dev/not-ready',
  effect: 'NoExecute',
  timeAdded: '2026-01-01T00:09:00Z',
};
const divided: Placement = {
  replicaScheduling: { replicaSchedulingType: 'Divided', replicaDivisionPreference: 'Weighted' },
};

const clusters = (...cs: Cluster[]) => new Map(cs.map((c) => [c.metadata.name ?? '', c]));
const a = makeCluster('a');
const b = makeCluster('b');
const cTainted = makeCluster('c', { ready: 'False', taints: [notReady] });

function input(over: Partial<EvictionInput>): EvictionInput {
  return {
    previous: [],
    next: [],
    tasks: [],
    clusters: clusters(a, b, cTainted),
    placement: divided,
    failover: undefined,
    nowMs: NOW,
    defaultTimeoutMs: 600_000,
    replacementHealthy: false,
    ...over,
  };
}

const task = (over: Partial<GracefulEvictionTask> = {}): GracefulEvictionTask => ({
  fromCluster: 'c',
  replicas: 2,
  reason: 'TaintUntolerated',
  message: 'cluster has untolerated taint cluster.meridian.dev/not-ready:NoExecute',
  purgeMode: 'Graciously',
  gracePeriodSeconds: 600,
  creationTimestamp: '2026-01-01T00:05:00Z',
  ...over,
});

const t = (name: string, replicas: number): TargetCluster => ({ name, replicas });

test('a cluster dropped for an untolerated NoExecute taint gets a graceful eviction task', () => {
  const out = nextEvictionTasks(
    input({ previous: [t('a', 2), t('b', 2), t('c', 2)], next: [t('a', 3), t('b', 3)] }),
  );
  assert.deepEqual(out.tasks, [task({ creationTimestamp: '2026-01-01T00:10:00Z' })]);
  assert.deepEqual(out.evicted, [
    {
      cluster: 'c',
      purgeMode: 'Graciously',
      reason: 'TaintUntolerated',
      why: 'cluster has untolerated taint cluster.meridian.dev/not-ready:NoExecute',
    },
  ]);
  assert.deepEqual(out.ended, []);
  assert.equal(out.recheckAfterMs, 600_000);
});

test('the policy decides the purge mode and grace period', () => {
  const base = { previous: [t('a', 3), t('c', 3)], next: [t('a', 6)] };
  const graceful = nextEvictionTasks(
    input({ ...base, failover: { cluster: { purgeMode: 'Graciously', gracePeriodSeconds: 120 } } }),
  );
  assert.equal(graceful.tasks[0]?.gracePeriodSeconds, 120);
  assert.equal(graceful.recheckAfterMs, 120_000);

  const immediately = nextEvictionTasks(
    input({ ...base, failover: { cluster: { purgeMode: 'Immediately' } } }),
  );
  assert.deepEqual(immediately.tasks, [], 'no task: the Work goes at once');
  assert.equal(immediately.evicted[0]?.purgeMode, 'Immediately');

  const never = nextEvictionTasks(input({ ...base, failover: { cluster: { purgeMode: 'Never' } } }));
  assert.equal(never.tasks[0]?.purgeMode, 'Never');
  assert.equal(never.tasks[0]?.gracePeriodSeconds, undefined);
  assert.equal(never.recheckAfterMs, undefined, 'no deadline');
});

test('a cluster that left for any other reason, or is gone, gets no task', () => {
  const cases: Array<[string, Partial<EvictionInput>]> = [
    ['affinity or spread change: no NoExecute taint', { previous: [t('a', 1), t('b', 1)], next: [t('a', 2)] }],
    ['the taint is tolerated', {
      previous: [t('a', 1), t('c', 1)],
      next: [t('a', 2)],
      placement: { ...divided, clusterTolerations: [{ key: 'cluster.meridian.dev/not-ready', operator: 'Exists', effect: 'NoExecute' }] },
    }],
    ['a NoSchedule taint', {
      previous: [t('a', 1), t('d', 1)],
      next: [t('a', 2)],
      clusters: clusters(a, makeCluster('d', { taints: [{ key: 'maintenance', effect: 'NoSchedule' }] })),
    }],
    ['the Cluster is gone', { previous: [t('a', 1), t('x', 1)], next: [t('a', 2)] }],
  ]; // prettier-ignore
  for (const [name, over] of cases) {
    const out = nextEvictionTasks(input(over));
    assert.deepEqual(out.tasks, [], name);
    assert.deepEqual(out.evicted, [], name);
  }
});

test('a task ends when the replacement is healthy, at its deadline, when its cluster is a target again or gone', () => {
  const targets = { previous: [t('a', 3), t('b', 3)], next: [t('a', 3), t('b', 3)] };
  const cases: Array<[string, Partial<EvictionInput>, string | undefined, number | undefined]> = [
    ['waiting: not healthy yet, before the deadline', { ...targets, tasks: [task()] }, undefined, 300_000],
    ['the targets run their shares healthily', { ...targets, tasks: [task()], replacementHealthy: true }, 'Healthy', undefined],
    ['the grace period passed', { ...targets, tasks: [task({ gracePeriodSeconds: 300 })] }, 'Timeout', undefined],
    ['Never waits for a healthy replacement', { ...targets, tasks: [task({ purgeMode: 'Never' })], replacementHealthy: true }, undefined, undefined],
    ['Never has no deadline', { ...targets, tasks: [task({ purgeMode: 'Never', creationTimestamp: '2025-01-01T00:00:00Z' })] }, undefined, undefined],
    ['its cluster is a target again', { previous: [t('a', 3), t('b', 3)], next: [t('a', 2), t('b', 2), t('c', 2)], tasks: [task()] }, 'Rescheduled', undefined],
    ['its cluster is gone', { ...targets, tasks: [task()], clusters: clusters(a, b) }, 'ClusterGone', undefined],
  ]; // prettier-ignore
  for (const [name, over, ended, recheck] of cases) {
    const out = nextEvictionTasks(input(over));
    assert.deepEqual(
      out.ended.map((e) => e.why),
      ended === undefined ? [] : [ended],
      name,
    );
    assert.equal(out.tasks.length, ended === undefined ? 1 : 0, `${name}: tasks`);
    assert.equal(out.recheckAfterMs, recheck, `${name}: recheck`);
  }
});

test('an existing task is kept as it is when its cluster is dropped again (no second eviction)', () => {
  const existing = task();
  const out = nextEvictionTasks(
    input({ previous: [t('a', 3), t('c', 3)], next: [t('a', 6)], tasks: [existing] }),
  );
  assert.deepEqual(out.tasks, [existing]);
  assert.deepEqual(out.evicted, []);
});

test('with the scheduler: a tainted cluster leaves, its replicas go to the others, and it gets a task; a not-Ready untainted one stays', () => {
  const snapshot = [a, b, cTainted, makeCluster('d', { ready: 'False' })];
  const previous = [t('a', 2), t('b', 2), t('c', 2), t('d', 2)];
  const unit = deployment(8, divided);
  const r = schedule(unit, snapshot, { clusters: previous, placement: divided });
  assert.ok(r.ok);
  // c's 2 replicas are added to the remaining clusters; d, not Ready but untainted, keeps its 2.
  assert.equal(
    r.clusters.reduce((s, x) => s + x.replicas, 0),
    8,
  );
  assert.deepEqual(
    r.clusters.map((x) => x.name),
    ['a', 'b', 'd'],
  );
  assert.equal(r.clusters.find((x) => x.name === 'd')?.replicas, 2);
  const out = nextEvictionTasks(input({ previous, next: r.clusters, clusters: clusters(...snapshot) }));
  assert.deepEqual(
    out.tasks.map((x) => [x.fromCluster, x.replicas]),
    [['c', 2]],
  );
});

function work(over: {
  replicas?: string;
  generation?: number;
  observed?: number;
  health?: 'Healthy' | 'Unhealthy' | 'Unknown';
  applied?: boolean;
  deleting?: boolean;
  status?: boolean;
}): Work {
  return {
    apiVersion: 'meridian.dev/v1alpha1',
    kind: 'Work',
    metadata: {
      name: 'rb.shop.web-deployment',
      namespace: 'meridian-cluster-a',
      generation: over.generation ?? 2,
      annotations: { 'meridian.dev/scheduled-replicas': over.replicas ?? '3' },
      ...(over.deleting && { deletionTimestamp: '2026-01-01T00:00:00Z' }),
    },
    spec: { workload: { manifests: [{ apiVersion: 'apps/v1', kind: 'Deployment' }] } },
    ...(over.status !== false && {
      status: {
        manifestStatuses: [
          {
            identifier: { ordinal: 0, group: 'apps', version: 'v1', kind: 'Deployment', name: 'web' },
            applied: over.applied ?? true,
            health: over.health ?? 'Healthy',
            observedGeneration: over.observed ?? 2,
          },
        ],
      },
    }),
  } as Work;
}

test('runsShare: rendered for the share, applied from the latest generation, healthy', () => {
  const cases: Array<[string, Work | undefined, boolean]> = [
    ['current and healthy', work({}), true],
    ['no Work', undefined, false],
    ['rendered for another share', work({ replicas: '2' }), false],
    ['latest generation not applied yet', work({ generation: 3 }), false],
    ['not applied', work({ applied: false }), false],
    ['unhealthy', work({ health: 'Unhealthy' }), false],
    ['health unknown', work({ health: 'Unknown' }), false],
    ['no status yet', work({ status: false }), false],
    ['being deleted', work({ deleting: true }), false],
  ];
  for (const [name, w, want] of cases) assert.equal(runsShare(w, 3), want, name);
});

test('with the scheduler: a region spread constraint replaces the lost region with another one, which catches up', () => {
  const spread: Placement = {
    ...divided,
    spreadConstraints: [{ spreadByField: 'region', minGroups: 2, maxGroups: 2 }],
  };
  const snapshot = [
    makeCluster('a', { region: 'r1', ready: 'False', taints: [notReady] }),
    makeCluster('b', { region: 'r2' }),
    makeCluster('c', { region: 'r3' }),
  ];
  const previous = [t('a', 3), t('b', 3)];
  const r = schedule(deployment(6, spread), snapshot, { clusters: previous, placement: spread });
  assert.ok(r.ok);
  assert.deepEqual(r.clusters, [t('b', 3), t('c', 3)]);
  const out = nextEvictionTasks(
    input({ previous, next: r.clusters, clusters: clusters(...snapshot), placement: spread }),
  );
  assert.deepEqual(
    out.tasks.map((x) => x.fromCluster),
    ['a'],
  );
});

test('with the scheduler: when the others cannot fit the replicas, nothing is evicted and the placement stays', () => {
  const dynamic: Placement = {
    replicaScheduling: { replicaSchedulingType: 'Divided', replicaDivisionPreference: 'Weighted', weightPreference: { dynamicWeight: 'AvailableReplicas' } },
  }; // prettier-ignore
  const snapshot = [
    makeCluster('a', { available: { pods: 1 } }),
    makeCluster('c', { ready: 'False', taints: [notReady], available: { pods: 100 } }),
  ];
  const previous = [t('a', 2), t('c', 4)];
  const r = schedule(deployment(6, dynamic), snapshot, { clusters: previous, placement: dynamic });
  assert.equal(r.ok, false);
  const out = nextEvictionTasks(
    input({ previous, next: previous, clusters: clusters(...snapshot), placement: dynamic }),
  );
  assert.deepEqual(out.tasks, []);
  assert.deepEqual(out.evicted, []);
});

test('a cluster dropped by application failover gets a task with failover.application purge mode and grace', () => {
  const out = nextEvictionTasks(
    input({
      previous: [t('a', 2), t('b', 2)],
      next: [t('a', 4)],
      failover: {
        application: {
          decisionConditions: { tolerationSeconds: 30 },
          purgeMode: 'Graciously',
          gracePeriodSeconds: 120,
        },
        cluster: { purgeMode: 'Never' },
      },
      evictedClusters: new Map([['b', 'unhealthy for 31s']]),
    }),
  );
  assert.deepEqual(out.evicted, [
    {
      cluster: 'b',
      purgeMode: 'Graciously',
      reason: 'ApplicationFailure',
      why: 'application failover: unhealthy for 31s',
    },
  ]);
  assert.deepEqual(out.tasks, [
    {
      fromCluster: 'b',
      replicas: 2,
      reason: 'ApplicationFailure',
      message: 'application failover: unhealthy for 31s',
      purgeMode: 'Graciously',
      gracePeriodSeconds: 120,
      creationTimestamp: '2026-01-01T00:10:00Z',
    },
  ]);
  assert.equal(out.recheckAfterMs, 120_000);
});

test('application failover with purgeMode Immediately records the eviction but keeps no copy', () => {
  const out = nextEvictionTasks(
    input({
      previous: [t('a', 2), t('b', 2)],
      next: [t('a', 4)],
      failover: { application: { decisionConditions: { tolerationSeconds: 0 }, purgeMode: 'Immediately' } },
      evictedClusters: new Map([['b', 'crash-looping']]),
    }),
  );
  assert.deepEqual(out.tasks, []);
  assert.deepEqual(
    out.evicted.map((e) => [e.cluster, e.purgeMode]),
    [['b', 'Immediately']],
  );
});

test('a cluster both tainted and application-evicted follows failover.cluster', () => {
  const out = nextEvictionTasks(
    input({
      previous: [t('a', 2), t('c', 2)],
      next: [t('a', 4)],
      failover: {
        application: { decisionConditions: { tolerationSeconds: 0 }, purgeMode: 'Immediately' },
        cluster: { purgeMode: 'Never' },
      },
      evictedClusters: new Map([['c', 'unhealthy']]),
    }),
  );
  assert.deepEqual(
    out.tasks.map((x) => [x.fromCluster, x.reason, x.purgeMode]),
    [['c', 'TaintUntolerated', 'Never']],
  );
});
