import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SpreadConstraint } from '../../../../api/index.ts';
import { deployment, makeCluster } from '../../fixtures.ts';
import { selectBySpread, spreadConstraint, type ScoredCluster } from './index.ts';

test('spread-constraint filter: clusters need the labels the placement spreads by', () => {
  const ctx = (constraints: SpreadConstraint[]) => ({
    unit: deployment(1, { spreadConstraints: constraints }),
    affinity: undefined,
    previous: new Map(),
  });
  const noZone = makeCluster('a', { region: 'eu' });
  assert.deepEqual(spreadConstraint.filter(ctx([{ spreadByField: 'region', minGroups: 1 }]), noZone), {
    ok: true,
  });
  assert.deepEqual(spreadConstraint.filter(ctx([{ spreadByField: 'zone', minGroups: 1 }]), noZone), {
    ok: false,
    code: 'Unschedulable',
    reasons: ['cluster has no zone label, required to spread by zone'],
  });
  assert.deepEqual(spreadConstraint.filter(ctx([{ spreadByField: 'cluster', minGroups: 2 }]), noZone), {
    ok: true,
  });
});

// eu: a(90) b(80); us: c(70) d(10); ap: e(50). Sorted best first, as the scheduler passes them.
const scored: ScoredCluster[] = [
  { cluster: makeCluster('a', { region: 'eu', provider: 'aws' }), score: 90 },
  { cluster: makeCluster('b', { region: 'eu', provider: 'gcp' }), score: 80 },
  { cluster: makeCluster('c', { region: 'us', provider: 'aws' }), score: 70 },
  { cluster: makeCluster('e', { region: 'ap', provider: 'aws' }), score: 50 },
  { cluster: makeCluster('d', { region: 'us', provider: 'gcp' }), score: 10 },
];
const names = (r: ReturnType<typeof selectBySpread>) =>
  r.ok ? r.selected.map((s) => s.cluster.metadata.name) : r.reasons;

test('selectBySpread table', () => {
  const table: Array<[string, SpreadConstraint[], string[]]> = [
    ['no constraints: everything', [], ['a', 'b', 'c', 'e', 'd']],
    ['cluster max 2: the best two', [{ spreadByField: 'cluster', minGroups: 1, maxGroups: 2 }], ['a', 'b']],
    [
      'region max 2: best regions eu and us, all their clusters',
      [{ spreadByField: 'region', minGroups: 1, maxGroups: 2 }],
      ['a', 'b', 'c', 'd'],
    ],
    [
      'region min 2 + cluster max 2: one per region, not the two best of eu',
      [
        { spreadByField: 'region', minGroups: 2, maxGroups: 2 },
        { spreadByField: 'cluster', minGroups: 2, maxGroups: 2 },
      ],
      ['a', 'c'],
    ],
    [
      'region max 3 + cluster max 4: each region covered, then best remaining',
      [
        { spreadByField: 'region', minGroups: 3, maxGroups: 3 },
        { spreadByField: 'cluster', minGroups: 1, maxGroups: 4 },
      ],
      ['a', 'b', 'c', 'e'],
    ],
    [
      'provider and region both',
      [
        { spreadByField: 'provider', minGroups: 1, maxGroups: 1 },
        { spreadByField: 'region', minGroups: 2, maxGroups: 2 },
      ],
      ['a', 'c'],
    ],
    [
      'region min 4: impossible',
      [{ spreadByField: 'region', minGroups: 4 }],
      ['spread by region needs at least 4 groups, only 3 available (eu, us, ap)'],
    ],
    [
      'cluster min 6: impossible',
      [{ spreadByField: 'cluster', minGroups: 6 }],
      ['spread by cluster needs at least 6 clusters, only 5 feasible (a, b, c, e, d)'],
    ],
    [
      'cluster max below region min: impossible, says why',
      [
        { spreadByField: 'region', minGroups: 3 },
        { spreadByField: 'cluster', minGroups: 1, maxGroups: 2 },
      ],
      ['spread by cluster allows at most 2 clusters, too few to cover 3 region groups'],
    ],
  ];
  for (const [name, constraints, want] of table)
    assert.deepEqual(names(selectBySpread(scored, constraints)), want, name);
});

test('selectBySpread explains each cluster left out', () => {
  const r = selectBySpread(scored, [
    { spreadByField: 'region', minGroups: 1, maxGroups: 1 },
    { spreadByField: 'cluster', minGroups: 1, maxGroups: 1 },
  ]);
  assert.ok(r.ok);
  assert.deepEqual(
    r.selected.map((s) => s.cluster.metadata.name),
    ['a'],
  );
  assert.deepEqual(Object.fromEntries(r.rejected), {
    b: 'spread by cluster: maxGroups 1 clusters already selected',
    c: 'region us is not among the 1 region groups selected (maxGroups 1): eu',
    d: 'region us is not among the 1 region groups selected (maxGroups 1): eu',
    e: 'region ap is not among the 1 region groups selected (maxGroups 1): eu',
  });
});
