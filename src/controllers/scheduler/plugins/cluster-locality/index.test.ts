import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deployment, makeCluster } from '../../fixtures.ts';
import { clusterLocality } from './index.ts';

test('cluster-locality scores 100 where the workload already runs, else 0', () => {
  const ctx = { unit: deployment(3), affinity: undefined, previous: new Map([['a', 3]]) };
  assert.equal(clusterLocality.score(ctx, makeCluster('a')), 100);
  assert.equal(clusterLocality.score(ctx, makeCluster('b')), 0);
  assert.equal(clusterLocality.score({ ...ctx, previous: new Map() }, makeCluster('a')), 0);
});
