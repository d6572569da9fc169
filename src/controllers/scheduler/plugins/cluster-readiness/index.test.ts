import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deployment, makeCluster, type ClusterFixture } from '../../fixtures.ts';
import { clusterReadiness } from './index.ts';

test('cluster-readiness filter', () => {
  const ctx = { unit: deployment(1), affinity: undefined, previous: new Map() };
  const table: Array<[string, ClusterFixture, string | undefined]> = [
    ['ready', {}, undefined],
    ['not ready', { ready: 'False' }, 'cluster is not ready (Ready=False, Offline)'],
    ['unknown', { ready: 'Unknown' }, 'cluster is not ready (Ready=Unknown, Offline)'],
    ['no condition yet', { ready: 'Missing' }, 'cluster has not reported a Ready condition'],
    ['being deleted', { deleting: true }, 'cluster is being deleted'],
  ];
  for (const [name, fixture, reason] of table) {
    const got = clusterReadiness.filter(ctx, makeCluster('c', fixture));
    assert.deepEqual(
      got,
      reason ? { ok: false, code: 'Unschedulable', reasons: [reason] } : { ok: true },
      name,
    );
  }
});

test('cluster-readiness keeps a cluster the workload already runs on while it is not ready, not while it is deleted', () => {
  const ctx = { unit: deployment(1), affinity: undefined, previous: new Map([['c', 1]]) };
  assert.deepEqual(clusterReadiness.filter(ctx, makeCluster('c', { ready: 'False' })), { ok: true });
  assert.deepEqual(clusterReadiness.filter(ctx, makeCluster('c', { ready: 'Missing' })), { ok: true });
  assert.deepEqual(clusterReadiness.filter(ctx, makeCluster('c', { deleting: true })), {
    ok: false,
    code: 'Unschedulable',
    reasons: ['cluster is being deleted'],
  });
  assert.equal(clusterReadiness.filter(ctx, makeCluster('d', { ready: 'False' })).ok, false, 'new placement');
});
