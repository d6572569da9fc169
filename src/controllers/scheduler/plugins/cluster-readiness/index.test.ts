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
