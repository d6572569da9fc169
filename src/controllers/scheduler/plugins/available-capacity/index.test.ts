import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deployment, makeCluster } from '../../fixtures.ts';
import { availableCapacity } from './index.ts';

test('available-capacity: raw score is replicas that fit, normalized against the roomiest', () => {
  const ctx = { unit: deployment(4, {}, '500m'), affinity: undefined, previous: new Map() };
  const table: Array<[string, Record<string, string | number> | undefined, number]> = [
    ['2 cpu fits 4', { cpu: '2', pods: 100 }, 4],
    ['pods limit', { cpu: '8', pods: 3 }, 3],
    ['no summary', undefined, 0],
    ['cpu not reported', { memory: '1Gi', pods: 10 }, 0],
  ];
  for (const [name, available, want] of table) {
    assert.equal(availableCapacity.score(ctx, makeCluster('c', available ? { available } : {})), want, name);
  }
  assert.equal(
    availableCapacity.score({ ...ctx, unit: deployment(0) }, makeCluster('c', { available: { pods: 9 } })),
    0,
  );
  assert.deepEqual(
    availableCapacity.normalize(
      ctx,
      new Map([
        ['a', 8],
        ['b', 2],
        ['c', 0],
      ]),
    ),
    new Map([
      ['a', 100],
      ['b', 25],
      ['c', 0],
    ]),
  );
  assert.deepEqual(availableCapacity.normalize(ctx, new Map([['a', 0]])), new Map([['a', 0]]));
});
