import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ReplicaScheduling } from '../../api/index.ts';
import { availableReplicas } from './capacity.ts';
import { divideReplicas, largestRemainder, staticWeights, strategyOf, type DivideInput } from './divide.ts';
import { makeCluster } from './fixtures.ts';

const obj = (m: Map<string, number>) => Object.fromEntries(m);
const divided = (input: DivideInput) => {
  const r = divideReplicas(input);
  return r.ok ? obj(r.assignments) : r.reasons;
};

const duplicated: ReplicaScheduling = { replicaSchedulingType: 'Duplicated' };
const aggregated: ReplicaScheduling = {
  replicaSchedulingType: 'Divided',
  replicaDivisionPreference: 'Aggregated',
};
const dynamic: ReplicaScheduling = {
  replicaSchedulingType: 'Divided',
  replicaDivisionPreference: 'Weighted',
  weightPreference: { dynamicWeight: 'AvailableReplicas' },
};
const weighted = (w: Record<string, number>): ReplicaScheduling => ({
  replicaSchedulingType: 'Divided',
  replicaDivisionPreference: 'Weighted',
  weightPreference: {
    staticWeightList: Object.entries(w).map(([name, weight]) => ({
      targetCluster: { clusterNames: [name] },
      weight,
    })),
  },
});

test('strategyOf', () => {
  assert.equal(strategyOf(undefined), 'Duplicated');
  assert.equal(strategyOf(duplicated), 'Duplicated');
  assert.equal(strategyOf({ replicaSchedulingType: 'Divided' }), 'StaticWeight');
  assert.equal(strategyOf(aggregated), 'Aggregated');
  assert.equal(strategyOf(dynamic), 'DynamicWeight');
  assert.equal(strategyOf(weighted({ a: 1 })), 'StaticWeight');
});

test('largestRemainder: floors, then remainders, ties by name', () => {
  const table: Array<[string, number, Record<string, number>, Record<string, number>]> = [
    ['even', 6, { a: 1, b: 1, c: 1 }, { a: 2, b: 2, c: 2 }],
    ['tie broken by name', 7, { c: 1, b: 1, a: 1 }, { c: 2, b: 2, a: 3 }],
    ['two ties', 8, { b: 1, a: 1, c: 1 }, { b: 3, a: 3, c: 2 }],
    ['weights 2:1', 10, { a: 2, b: 1 }, { a: 7, b: 3 }],
    ['largest remainder wins over name', 10, { a: 1, b: 2, c: 3 }, { a: 2, b: 3, c: 5 }],
    ['zero weight gets none', 5, { a: 0, b: 1 }, { a: 0, b: 5 }],
    ['all zero', 5, { a: 0 }, { a: 0 }],
    ['zero total', 0, { a: 1, b: 3 }, { a: 0, b: 0 }],
  ];
  for (const [name, total, weights, want] of table) {
    assert.deepEqual(obj(largestRemainder(total, new Map(Object.entries(weights)))), want, name);
  }
});

test('staticWeights: max of matching entries, equal weights when none match', () => {
  const clusters = [makeCluster('a', { region: 'eu' }), makeCluster('b', { region: 'us' })];
  const byRegion: ReplicaScheduling = {
    replicaSchedulingType: 'Divided',
    replicaDivisionPreference: 'Weighted',
    weightPreference: {
      staticWeightList: [
        {
          targetCluster: {
            fieldSelector: { matchExpressions: [{ key: 'region', operator: 'In', values: ['eu'] }] },
          },
          weight: 2,
        },
        { targetCluster: { clusterNames: ['a'] }, weight: 5 },
      ],
    },
  };
  assert.deepEqual(obj(staticWeights(clusters, byRegion)), { a: 5, b: 0 });
  assert.deepEqual(obj(staticWeights(clusters, weighted({ z: 3 }))), { a: 1, b: 1 });
  assert.deepEqual(obj(staticWeights(clusters, { replicaSchedulingType: 'Divided' })), { a: 1, b: 1 });
});

test('availableReplicas: min over requested resources and pods', () => {
  const c = (available: Record<string, string | number>) => makeCluster('c', { available });
  assert.equal(
    availableReplicas(c({ cpu: '2', memory: '4Gi', pods: 110 }), {
      resourceRequest: { cpu: '500m', memory: '1Gi' },
    }),
    4,
  );
  assert.equal(
    availableReplicas(c({ cpu: '2', memory: '1Gi', pods: 110 }), {
      resourceRequest: { cpu: '500m', memory: '512Mi' },
    }),
    2,
  );
  assert.equal(availableReplicas(c({ cpu: '100', pods: 3 }), { resourceRequest: { cpu: '1' } }), 3);
  assert.equal(availableReplicas(c({ cpu: '1' }), { resourceRequest: { cpu: '300m' } }), 3);
  assert.equal(availableReplicas(c({ cpu: '1' }), { resourceRequest: { 'nvidia.com/gpu': 1 } }), 0);
  assert.equal(availableReplicas(makeCluster('none'), { resourceRequest: { cpu: '1' } }), 0);
  assert.equal(availableReplicas(c({ cpu: '-1' }), { resourceRequest: { cpu: '1' } }), 0);
  assert.equal(availableReplicas(c({ memory: '1Gi' }), undefined), 2_147_483_647);
});

const abc = ['a', 'b', 'c'].map((n) => makeCluster(n));

test('fresh division table', () => {
  const roomy = [
    makeCluster('a', { available: { cpu: '1', pods: 100 } }), // fits 2 at 500m
    makeCluster('b', { available: { cpu: '4', pods: 100 } }), // fits 8
    makeCluster('c', { available: { cpu: '3', pods: 100 } }), // fits 6
  ];
  const table: Array<[string, DivideInput, Record<string, number> | string[]]> = [
    [
      'Duplicated: everyone gets all',
      { replicas: 3, strategy: duplicated, clusters: abc },
      { a: 3, b: 3, c: 3 },
    ],
    ['no strategy is Duplicated', { replicas: 2, strategy: undefined, clusters: abc }, { a: 2, b: 2, c: 2 }],
    [
      'Divided without preference: equal weights',
      { replicas: 7, strategy: { replicaSchedulingType: 'Divided' }, clusters: abc },
      { a: 3, b: 2, c: 2 },
    ],
    [
      'static 1:2:3 of 12',
      { replicas: 12, strategy: weighted({ a: 1, b: 2, c: 3 }), clusters: abc },
      { a: 2, b: 4, c: 6 },
    ],
    [
      'static 1:1:1 of 10, tie to a',
      { replicas: 10, strategy: weighted({ a: 1, b: 1, c: 1 }), clusters: abc },
      { a: 4, b: 3, c: 3 },
    ],
    [
      'static: unmatched cluster gets 0',
      { replicas: 5, strategy: weighted({ a: 1, b: 4 }), clusters: abc },
      { a: 1, b: 4, c: 0 },
    ],
    [
      'dynamic: by available replicas 2:8:6 of 8',
      { replicas: 8, strategy: dynamic, clusters: roomy, requirements: { resourceRequest: { cpu: '500m' } } },
      { a: 1, b: 4, c: 3 },
    ],
    [
      'dynamic: not enough room',
      {
        replicas: 17,
        strategy: dynamic,
        clusters: roomy,
        requirements: { resourceRequest: { cpu: '500m' } },
      },
      ['insufficient capacity: 17 replicas to place, selected clusters fit 16 (a: 2, b: 8, c: 6)'],
    ],
    [
      'aggregated: roomiest cluster alone when it fits',
      {
        replicas: 8,
        strategy: aggregated,
        clusters: roomy,
        requirements: { resourceRequest: { cpu: '500m' } },
      },
      { a: 0, b: 8, c: 0 },
    ],
    [
      'aggregated: fewest clusters, split by room',
      {
        replicas: 10,
        strategy: aggregated,
        clusters: roomy,
        requirements: { resourceRequest: { cpu: '500m' } },
      },
      { a: 0, b: 6, c: 4 },
    ],
    [
      'zero replicas: every selected cluster with 0',
      { replicas: 0, strategy: weighted({ a: 1 }), clusters: abc },
      { a: 0, b: 0, c: 0 },
    ],
  ];
  for (const [name, input, want] of table) assert.deepEqual(divided(input), want, name);
});

test('stability: unchanged input keeps the previous assignment', () => {
  // Previous assignment differs from what a fresh division would give (e.g. capacity moved since).
  const roomy = ['a', 'b', 'c'].map((n) => makeCluster(n, { available: { pods: 100 } }));
  const previous = new Map([
    ['a', 5],
    ['b', 1],
    ['c', 0],
  ]);
  for (const strategy of [dynamic, aggregated, weighted({ a: 1, b: 1, c: 1 })]) {
    assert.deepEqual(
      divided({ replicas: 6, strategy, clusters: roomy, previous }),
      { a: 5, b: 1, c: 0 },
      JSON.stringify(strategy),
    );
  }
});

test('stability: scale-up adds by the strategy, nobody loses replicas', () => {
  const previous = new Map([
    ['a', 4],
    ['b', 2],
    ['c', 0],
  ]);
  // Static 1:1:1: the 3 new replicas go to the clusters short of 3 each, by shortfall (b 1, c 3).
  assert.deepEqual(
    divided({ replicas: 9, strategy: weighted({ a: 1, b: 1, c: 1 }), clusters: abc, previous }),
    { a: 4, b: 3, c: 2 },
  );
  // A cluster that just joined the selection (a failover replacement) catches up.
  assert.deepEqual(
    divided({
      replicas: 6,
      strategy: weighted({ a: 1, b: 1, c: 1 }),
      clusters: abc.slice(1),
      previous: new Map([['b', 3]]),
    }),
    { b: 3, c: 3 },
  );
  // Dynamic: the 6 new replicas by free room 1:2:3.
  const room = [1, 2, 3].map((pods, i) => makeCluster('abc'[i] ?? '', { available: { pods } }));
  assert.deepEqual(divided({ replicas: 12, strategy: dynamic, clusters: room, previous }), {
    a: 5,
    b: 4,
    c: 3,
  });
  // Dynamic without room for the increment fails rather than reshuffling.
  assert.deepEqual(divided({ replicas: 13, strategy: dynamic, clusters: room, previous }), [
    'insufficient capacity: 7 replicas to place, selected clusters fit 6 (a: 1, b: 2, c: 3)',
  ]);
  // Aggregated: fill clusters already in use before opening a new one.
  const agg = [
    makeCluster('a', { available: { pods: 1 } }),
    makeCluster('b', { available: { pods: 1 } }),
    makeCluster('c', { available: { pods: 50 } }),
  ];
  assert.deepEqual(divided({ replicas: 8, strategy: aggregated, clusters: agg, previous }), {
    a: 5,
    b: 3,
    c: 0,
  });
});

test('stability: scale-down removes proportionally, nobody gains', () => {
  const previous = new Map([
    ['a', 6],
    ['b', 3],
    ['c', 3],
  ]);
  assert.deepEqual(
    divided({ replicas: 8, strategy: weighted({ a: 1, b: 1, c: 1 }), clusters: abc, previous }),
    { a: 4, b: 2, c: 2 },
  );
  assert.deepEqual(divided({ replicas: 11, strategy: dynamic, clusters: abc, previous }), {
    a: 5,
    b: 3,
    c: 3,
  });
  assert.deepEqual(divided({ replicas: 0, strategy: dynamic, clusters: abc, previous }), {
    a: 0,
    b: 0,
    c: 0,
  });
});

test('stability: replicas of a cluster that left are re-placed on the others only', () => {
  const previous = new Map([
    ['a', 3],
    ['b', 3],
    ['gone', 3],
  ]);
  const ab = abc.slice(0, 2);
  assert.deepEqual(divided({ replicas: 9, strategy: weighted({ a: 1, b: 1 }), clusters: ab, previous }), {
    a: 5,
    b: 4,
  });
});

test('a changed strategy divides from scratch', () => {
  const previous = new Map([
    ['a', 5],
    ['b', 1],
    ['c', 0],
  ]);
  assert.deepEqual(
    divided({
      replicas: 6,
      strategy: weighted({ a: 1, b: 1, c: 1 }),
      clusters: abc,
      previous,
      placementChanged: true,
    }),
    { a: 2, b: 2, c: 2 },
  );
});
