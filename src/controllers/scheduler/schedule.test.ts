import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Placement, ReplicaScheduling } from '../../api/index.ts';
import { deployment, makeCluster } from './fixtures.ts';
import { schedule } from './schedule.ts';

const fleet = [
  makeCluster('eu-1', { region: 'eu', zone: 'eu-a', provider: 'aws', available: { cpu: '4', pods: 100 } }),
  makeCluster('eu-2', { region: 'eu', zone: 'eu-b', provider: 'gcp', available: { cpu: '2', pods: 100 } }),
  makeCluster('us-1', { region: 'us', zone: 'us-a', provider: 'aws', available: { cpu: '8', pods: 100 } }),
  makeCluster('down', { region: 'us', zone: 'us-b', provider: 'aws', ready: 'False' }),
  makeCluster('tainted', {
    region: 'ap',
    zone: 'ap-a',
    provider: 'aws',
    taints: [{ key: 'gpu', effect: 'NoSchedule' }],
  }),
  makeCluster('old', { region: 'ap', zone: 'ap-b', provider: 'onprem', apis: { v1: ['ConfigMap'] } }),
];
const byName = (r: ReturnType<typeof schedule>) =>
  Object.fromEntries(r.decisions.map((d) => [d.clusterName, d]));
const targets = (r: ReturnType<typeof schedule>) =>
  r.ok ? Object.fromEntries(r.clusters.map((c) => [c.name, c.replicas])) : r.reasons;

const dividedStatic: ReplicaScheduling = {
  replicaSchedulingType: 'Divided',
  replicaDivisionPreference: 'Weighted',
};
const dynamic: ReplicaScheduling = {
  replicaSchedulingType: 'Divided',
  replicaDivisionPreference: 'Weighted',
  weightPreference: { dynamicWeight: 'AvailableReplicas' },
};

test('schedule table: targets per placement', () => {
  const table: Array<[string, Placement, number, Record<string, number> | string[]]> = [
    ['Duplicated over every feasible cluster', {}, 2, { 'eu-1': 2, 'eu-2': 2, 'us-1': 2 }],
    [
      'tolerating the taint adds that cluster',
      { clusterTolerations: [{ key: 'gpu', operator: 'Exists' }] },
      1,
      { 'eu-1': 1, 'eu-2': 1, tainted: 1, 'us-1': 1 },
    ],
    [
      'affinity by region',
      {
        clusterAffinity: {
          fieldSelector: { matchExpressions: [{ key: 'region', operator: 'In', values: ['eu'] }] },
        },
      },
      1,
      { 'eu-1': 1, 'eu-2': 1 },
    ],
    ['Divided equally', { replicaScheduling: dividedStatic }, 7, { 'eu-1': 3, 'eu-2': 2, 'us-1': 2 }],
    [
      'Divided by capacity (500m each: 8, 4, 16 fit)',
      { replicaScheduling: dynamic },
      7,
      { 'eu-1': 2, 'eu-2': 1, 'us-1': 4 },
    ],
    [
      'spread over 2 regions, 2 clusters, divided',
      {
        spreadConstraints: [
          { spreadByField: 'region', minGroups: 2, maxGroups: 2 },
          { spreadByField: 'cluster', minGroups: 2, maxGroups: 2 },
        ],
        replicaScheduling: dividedStatic,
      },
      4,
      // available-capacity ranks us-1 (16 fit) then eu-1 (8): one per region.
      { 'eu-1': 2, 'us-1': 2 },
    ],
    [
      'nothing matches',
      { clusterAffinity: { clusterNames: ['down'] } },
      1,
      ['no feasible cluster: 6 filtered out'],
    ],
    [
      'spread impossible',
      { spreadConstraints: [{ spreadByField: 'provider', minGroups: 3 }] },
      1,
      ['spread by provider needs at least 3 groups, only 2 available (aws, gcp)'],
    ],
  ];
  for (const [name, placement, replicas, want] of table) {
    assert.deepEqual(targets(schedule(deployment(replicas, placement, '500m'), fleet)), want, name);
  }
});

test('schedule explains every cluster', () => {
  const r = schedule(
    deployment(3, { replicaScheduling: dividedStatic, clusterAffinity: { exclude: ['eu-2'] } }, '500m'),
    fleet,
  );
  assert.ok(r.ok);
  const d = byName(r);
  assert.deepEqual(Object.keys(d), ['down', 'eu-1', 'eu-2', 'old', 'tainted', 'us-1']);
  assert.deepEqual(d['down'], {
    clusterName: 'down',
    outcome: 'Filtered',
    reasons: ['cluster-readiness: cluster is not ready (Ready=False, Offline)'],
  });
  assert.deepEqual(d['eu-2']?.reasons, ['cluster-affinity: cluster is excluded by exclude']);
  assert.deepEqual(d['tainted']?.reasons, ['taint-toleration: cluster has untolerated taint gpu:NoSchedule']);
  assert.deepEqual(d['old']?.reasons, ['api-enablement: cluster does not serve apps/v1']);
  assert.deepEqual(d['us-1'], {
    clusterName: 'us-1',
    outcome: 'Selected',
    score: 100,
    replicas: 1,
    reasons: ['score 100 (available-capacity=100)'],
  });
  assert.deepEqual(d['eu-1'], {
    clusterName: 'eu-1',
    outcome: 'Selected',
    score: 50,
    replicas: 2,
    reasons: ['score 50 (available-capacity=50)'],
  });
});

test('a filtered cluster lists every failing plugin', () => {
  const broken = makeCluster('broken', {
    ready: 'Unknown',
    apis: 'none',
    taints: [{ key: 'x', effect: 'NoExecute' }],
  });
  const r = schedule(deployment(1), [broken]);
  assert.equal(r.ok, false);
  assert.deepEqual(r.decisions[0]?.reasons, [
    'cluster-readiness: cluster is not ready (Ready=Unknown, Offline)',
    'taint-toleration: cluster has untolerated taint x:NoExecute',
    'api-enablement: cluster has not reported its API enablements',
  ]);
});

test('Divided: a cluster given no replicas is NotSelected, with the reason', () => {
  const placement: Placement = {
    replicaScheduling: { replicaSchedulingType: 'Divided', replicaDivisionPreference: 'Aggregated' },
  };
  const r = schedule(deployment(10, placement, '500m'), fleet);
  assert.deepEqual(targets(r), { 'us-1': 10 });
  assert.equal(byName(r)['eu-1']?.outcome, 'NotSelected');
  assert.match(
    byName(r)['eu-1']?.reasons?.at(-1) ?? '',
    /replica division \(Aggregated\) assigned no replicas/,
  );
});

test('clusterAffinities: the first feasible term wins, attempts are reported', () => {
  const placement: Placement = {
    clusterAffinities: [
      { affinityName: 'primary', clusterNames: ['down'] },
      {
        affinityName: 'ap',
        fieldSelector: { matchExpressions: [{ key: 'region', operator: 'In', values: ['ap'] }] },
      },
      { affinityName: 'backup', clusterNames: ['eu-2'] },
      { affinityName: 'never-reached', clusterNames: ['eu-1'] },
    ],
  };
  const r = schedule(deployment(1, placement), fleet);
  assert.ok(r.ok);
  assert.equal(r.affinityName, 'backup');
  assert.deepEqual(targets(r), { 'eu-2': 1 });
  assert.deepEqual(
    r.attempts.map((a) => [a.affinityName, a.ok]),
    [
      ['primary', false],
      ['ap', false],
      ['backup', true],
    ],
  );
});

test('clusterAffinities: when every term fails, reasons name each term', () => {
  const r = schedule(
    deployment(1, {
      clusterAffinities: [
        { affinityName: 'a', clusterNames: ['down'] },
        { affinityName: 'b', clusterNames: ['old'] },
      ],
    }),
    fleet,
  );
  assert.equal(r.ok, false);
  assert.ok(!r.ok);
  assert.deepEqual(r.reasons, [
    'a: no feasible cluster: 6 filtered out',
    'b: no feasible cluster: 6 filtered out',
  ]);
  assert.deepEqual(byName(r)['old']?.reasons, ['api-enablement: cluster does not serve apps/v1']);
});

test('stability: rescheduling with the previous result changes nothing, even after capacity moved', () => {
  const unit = deployment(7, { replicaScheduling: dynamic }, '500m');
  const first = schedule(unit, fleet);
  assert.ok(first.ok);
  // Our replicas now use capacity: us-1 had 16 free, it holds 4 of ours, so it reports 12 left, etc.
  const after = fleet.map((c) =>
    c.metadata.name === 'us-1'
      ? makeCluster('us-1', {
          region: 'us',
          zone: 'us-a',
          provider: 'aws',
          available: { cpu: '1', pods: 96 },
        })
      : c,
  );
  const again = schedule(unit, after, { clusters: first.clusters, placement: unit.placement });
  assert.deepEqual(targets(again), targets(first));
});

test('stability: scale-up and scale-down keep clusters and move proportionally', () => {
  const unit = (n: number) => deployment(n, { replicaScheduling: dividedStatic });
  const first = schedule(unit(6), fleet);
  assert.deepEqual(targets(first), { 'eu-1': 2, 'eu-2': 2, 'us-1': 2 });
  assert.ok(first.ok);
  const previous = {
    clusters: [
      { name: 'eu-1', replicas: 4 },
      { name: 'eu-2', replicas: 1 },
      { name: 'us-1', replicas: 1 },
    ],
  };
  // Adding 3 to 4:1:1 (equal weights, 3 each): only the clusters short of 3 gain, by shortfall.
  assert.deepEqual(targets(schedule(unit(9), fleet, previous)), { 'eu-1': 4, 'eu-2': 3, 'us-1': 2 });
  // Removing 3 of 4:1:1 takes 2 from eu-1, and the last one by name tie-break from eu-2.
  assert.deepEqual(targets(schedule(unit(3), fleet, previous)), { 'eu-1': 2, 'us-1': 1 });
});

test('stability: previous clusters win spread selection among equals', () => {
  const equal = ['a', 'b', 'c'].map((n) => makeCluster(n));
  const unit = deployment(1, {
    spreadConstraints: [{ spreadByField: 'cluster', minGroups: 1, maxGroups: 1 }],
  });
  assert.deepEqual(targets(schedule(unit, equal)), { a: 1 });
  assert.deepEqual(targets(schedule(unit, equal, { clusters: [{ name: 'c', replicas: 1 }] })), { c: 1 });
});

test('a changed placement divides afresh', () => {
  const previous = {
    clusters: [
      { name: 'eu-1', replicas: 5 },
      { name: 'eu-2', replicas: 1 },
    ],
    placement: {},
  };
  const unit = deployment(6, {
    replicaScheduling: dividedStatic,
    clusterAffinity: { clusterNames: ['eu-1', 'eu-2'] },
  });
  assert.deepEqual(targets(schedule(unit, fleet, previous)), { 'eu-1': 3, 'eu-2': 3 });
  assert.deepEqual(targets(schedule(unit, fleet, { ...previous, placement: unit.placement })), {
    'eu-1': 5,
    'eu-2': 1,
  });
});

test('deterministic whatever the snapshot order', () => {
  const unit = deployment(5, { replicaScheduling: dividedStatic });
  assert.deepEqual(schedule(unit, [...fleet].reverse()), schedule(unit, fleet));
});
