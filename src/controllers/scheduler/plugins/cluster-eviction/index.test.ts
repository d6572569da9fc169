import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deployment, makeCluster } from '../../fixtures.ts';
import { schedule } from '../../schedule.ts';
import { clusterEviction } from './index.ts';

test('cluster-eviction filters the clusters the binding was evicted from, and only those', () => {
  const unit = {
    ...deployment(2),
    evictedClusters: new Map([['b', 'ApplicationFailure: unhealthy for 30s']]),
  };
  const ctx = { unit, affinity: undefined, previous: new Map([['b', 1]]) };
  assert.deepEqual(clusterEviction.filter(ctx, makeCluster('a')), { ok: true });
  assert.deepEqual(clusterEviction.filter(ctx, makeCluster('b')), {
    ok: false,
    code: 'Unschedulable',
    reasons: ['binding was evicted from this cluster: ApplicationFailure: unhealthy for 30s'],
  });
  const none = { unit: deployment(2), affinity: undefined, previous: new Map() };
  assert.deepEqual(clusterEviction.filter(none, makeCluster('b')), { ok: true });
});

test('an evicted cluster gives its replicas to the others (Divided), keeping theirs', () => {
  const placement = {
    replicaScheduling: {
      replicaSchedulingType: 'Divided' as const,
      replicaDivisionPreference: 'Weighted' as const,
    },
  };
  const previous = {
    clusters: [
      { name: 'a', replicas: 2 },
      { name: 'b', replicas: 2 },
      { name: 'c', replicas: 2 },
    ],
    placement,
  };
  const unit = { ...deployment(6, placement), evictedClusters: new Map([['b', 'unhealthy']]) };
  const r = schedule(unit, [makeCluster('a'), makeCluster('b'), makeCluster('c')], previous);
  assert.ok(r.ok);
  assert.deepEqual(r.clusters, [
    { name: 'a', replicas: 3 },
    { name: 'c', replicas: 3 },
  ]);
  assert.equal(r.decisions.find((d) => d.clusterName === 'b')?.outcome, 'Filtered');
});
