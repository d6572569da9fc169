import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ResourceBinding, Work } from '../api/index.ts';
import { describeObject, formatDescription, replicaSchedulingText, type CoreEvent } from './describe.ts';

const NOW = Date.parse('2026-01-01T01:00:00Z');
const T = '2026-01-01T00:55:00Z';
const cond = (type: string, status: 'True' | 'False', reason: string, message: string) => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: T,
});

const binding: ResourceBinding = {
  apiVersion: 'meridian.dev/v1alpha1',
  kind: 'ResourceBinding',
  metadata: { name: 'web-deployment', namespace: 'shop', uid: 'b-1' },
  spec: {
    resource: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'shop', name: 'web' },
    replicas: 6,
    clusters: [
      { name: 'us-east', replicas: 4 },
      { name: 'eu-west', replicas: 2 },
    ],
    placement: {
      replicaScheduling: {
        replicaSchedulingType: 'Divided',
        replicaDivisionPreference: 'Weighted',
        weightPreference: { staticWeightList: [{ targetCluster: { clusterNames: ['us-east'] }, weight: 2 }] },
      },
    },
    policyRef: { kind: 'PropagationPolicy', namespace: 'shop', name: 'web' },
  },
  status: {
    lastScheduledTime: '2026-01-01T00:50:00Z',
    conditions: [
      cond('Scheduled', 'True', 'Success', '2 cluster(s) selected'),
      cond('FullyApplied', 'False', 'NotFullyApplied', 'not applied to 1 of 2 cluster(s): eu-west: conflict'),
    ],
    schedulingDecisions: [
      {
        clusterName: 'eu-west',
        outcome: 'Selected',
        score: 100,
        replicas: 2,
        reasons: ['score 100 (cluster-locality=0, available-capacity=100)'],
      },
      {
        clusterName: 'onprem-dc1',
        outcome: 'Filtered',
        reasons: [
          'cluster-readiness: cluster is not Ready',
          'taint-toleration: cluster has untolerated taint x:NoSchedule',
        ],
      },
      { clusterName: 'us-east', outcome: 'Selected', score: 200, replicas: 4, reasons: ['score 200'] },
    ],
    aggregatedStatus: [
      { clusterName: 'us-east', applied: true, health: 'Healthy', status: { readyReplicas: 3 } },
      { clusterName: 'eu-west', applied: false, appliedMessage: 'Deployment shop/web exists in eu-west' },
    ],
  },
};

const work = (cluster: string, overrides: string[] | undefined, applied: ReturnType<typeof cond>): Work => ({
  apiVersion: 'meridian.dev/v1alpha1',
  kind: 'Work',
  metadata: {
    name: 'rb.shop.web-deployment',
    namespace: `meridian-cluster-${cluster}`,
    labels: { 'meridian.dev/cluster': cluster },
  },
  spec: {
    workload: {
      manifests: [
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: {
            name: 'web',
            ...(overrides && {
              annotations: { 'meridian.dev/applied-overrides': JSON.stringify(overrides) },
            }),
          },
        },
      ],
    },
  },
  status: { conditions: [applied] },
});

const works = [
  work('us-east', undefined, cond('Applied', 'True', 'AppliedSuccessfully', '')),
  work(
    'eu-west',
    ['OverridePolicy/shop/eu-mirror: overrideRules[0].overriders.imageOverrider[0]'],
    cond(
      'Applied',
      'False',
      'Conflict',
      'Deployment shop/web exists in eu-west; set conflictResolution: Overwrite',
    ),
  ),
];

const events: CoreEvent[] = [
  {
    metadata: { name: 'e2' },
    type: 'Normal',
    reason: 'Scheduled',
    message: 'placed on eu-west:2, us-east:4',
    eventTime: '2026-01-01T00:50:00.000000Z',
    involvedObject: { kind: 'ResourceBinding', name: 'web-deployment' },
  },
  {
    metadata: { name: 'e1' },
    type: 'Warning',
    reason: 'DriftReverted',
    message: 'cluster us-east: Deployment shop/web spec was changed outside Meridian; reverted',
    eventTime: '2026-01-01T00:40:00.000000Z',
    series: { count: 3, lastObservedTime: '2026-01-01T00:58:00.000000Z' },
    involvedObject: { kind: 'Deployment', name: 'web' },
  },
];

const described = () =>
  describeObject({
    object: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'shop', name: 'web' },
    template: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { replicas: 6 } },
    binding,
    works,
    events,
  });

test('a description has a row per cluster the scheduler considered, with what happened there', () => {
  const d = described();
  assert.deepEqual(d.binding, { kind: 'ResourceBinding', namespace: 'shop', name: 'web-deployment' });
  assert.deepEqual(d.policy, { kind: 'PropagationPolicy', namespace: 'shop', name: 'web' });
  assert.equal(d.replicaScheduling, 'Divided (Weighted: static weights)');
  assert.deepEqual(
    d.clusters.map((c) => [c.name, c.decision, c.target, c.replicas, c.applied, c.readyReplicas, c.work]),
    [
      ['eu-west', 'Selected', true, 2, false, 0, 'meridian-cluster-eu-west/rb.shop.web-deployment'],
      ['onprem-dc1', 'Filtered', false, null, null, null, null],
      ['us-east', 'Selected', true, 4, true, 3, 'meridian-cluster-us-east/rb.shop.web-deployment'],
    ],
  );
  assert.deepEqual(d.clusters[1]?.reasons.length, 2);
  assert.deepEqual(d.clusters[0]?.overrides, [
    'OverridePolicy/shop/eu-mirror: overrideRules[0].overriders.imageOverrider[0]',
  ]);
  assert.deepEqual(d.conflicts, [
    {
      cluster: 'eu-west',
      message: 'Deployment shop/web exists in eu-west; set conflictResolution: Overwrite',
    },
  ]);
  assert.deepEqual(d.applyErrors, []);
  // Oldest first, by when each was last seen; a series counts its repeats.
  assert.deepEqual(
    d.events.map((e) => [e.reason, e.object, e.count]),
    [
      ['Scheduled', 'ResourceBinding/web-deployment', 1],
      ['DriftReverted', 'Deployment/web', 3],
    ],
  );
});

test('the text form: fields, then Clusters, Overrides, Conflicts, Conditions and Events tables', () => {
  const text = formatDescription(described(), NOW);
  assert.equal(
    text,
    `Object:     Deployment shop/web (apps/v1), 6 replica(s)
Binding:    ResourceBinding shop/web-deployment
Policy:     PropagationPolicy shop/web
Replicas:   Divided (Weighted: static weights)
Scheduled:  True (Success): 2 cluster(s) selected; last scheduled 10m ago

Clusters:
  CLUSTER     DECISION  REPLICAS  SCORE  APPLIED  HEALTH   READY  REASONS
  eu-west     Selected  2         100    no       -        0/2    score 100 (cluster-locality=0, available-capacity=100); Deployment shop/web exists in eu-west
  onprem-dc1  Filtered  -         -      -        -        -      cluster-readiness: cluster is not Ready; taint-toleration: cluster has untolerated taint x:NoSchedule
  us-east     Selected  4         200    yes      Healthy  3/4    score 200

Overrides:
  CLUSTER  OVERRIDER
  eu-west  OverridePolicy/shop/eu-mirror: overrideRules[0].overriders.imageOverrider[0]

Conflicts:
  CLUSTER  MESSAGE
  eu-west  Deployment shop/web exists in eu-west; set conflictResolution: Overwrite

Conditions:
  TYPE          STATUS  REASON           AGE  MESSAGE
  Scheduled     True    Success          5m   2 cluster(s) selected
  FullyApplied  False   NotFullyApplied  5m   not applied to 1 of 2 cluster(s): eu-west: conflict

Events:
  AGE  TYPE     REASON         OBJECT                          MESSAGE
  10m  Normal   Scheduled      ResourceBinding/web-deployment  placed on eu-west:2, us-east:4
  2m   Warning  DriftReverted  Deployment/web                  cluster us-east: Deployment shop/web spec was changed outside Meridian; reverted (x3)`,
  );
});

test('an object no policy selects is described as not propagated, with its events', () => {
  const d = describeObject({
    object: { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'lonely' },
    template: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'lonely' } },
    binding: undefined,
    works: [],
    events: [],
  });
  assert.equal(d.binding, null);
  assert.deepEqual(d.clusters, []);
  assert.equal(
    formatDescription(d, NOW),
    `Object:   ConfigMap shop/lonely (v1)
Binding:  <none>: no PropagationPolicy or ClusterPropagationPolicy selects this object, so it stays on the hub (or \`meridian controllers\` are not running)

Events:
  <none>`,
  );
});

test('replica scheduling in words', () => {
  assert.equal(replicaSchedulingText(undefined, false), 'copied whole to each cluster (no replicas)');
  assert.equal(replicaSchedulingText(undefined, true), 'Duplicated (all replicas in each cluster)');
  assert.equal(
    replicaSchedulingText({ replicaScheduling: { replicaSchedulingType: 'Divided' } }, true),
    'Divided (equal weights)',
  );
  assert.equal(
    replicaSchedulingText(
      {
        replicaScheduling: {
          replicaSchedulingType: 'Divided',
          replicaDivisionPreference: 'Weighted',
          weightPreference: { dynamicWeight: 'AvailableReplicas' },
        },
      },
      true,
    ),
    'Divided (Weighted: AvailableReplicas)',
  );
  assert.equal(
    replicaSchedulingText(
      { replicaScheduling: { replicaSchedulingType: 'Divided', replicaDivisionPreference: 'Aggregated' } },
      true,
    ),
    'Divided (Aggregated: as few clusters as fit)',
  );
});

test("a binding's failover state and history: graceful evictions, evicted clusters, decisions from its Events", () => {
  const failedOver: ResourceBinding = {
    ...binding,
    spec: {
      ...binding.spec,
      clusters: [{ name: 'eu-west', replicas: 6 }],
      gracefulEvictionTasks: [
        {
          fromCluster: 'us-east',
          replicas: 4,
          reason: 'ApplicationFailure',
          message: 'application failover: unhealthy for 31s',
          purgeMode: 'Graciously',
          gracePeriodSeconds: 600,
          creationTimestamp: '2026-01-01T00:58:00Z',
        },
      ],
      evictedClusters: [
        {
          name: 'us-east',
          reason: 'ApplicationFailure',
          message:
            'unhealthy for 31s (tolerationSeconds 30): not healthy in cluster us-east: Deployment shop/web',
          evictionTime: '2026-01-01T00:58:00Z',
        },
      ],
    },
  };
  const decision = (name: string, reason: string, message: string, at: string): CoreEvent => ({
    metadata: { name },
    type: 'Warning',
    reason,
    message,
    eventTime: at,
    involvedObject: { kind: 'ResourceBinding', name: 'web-deployment' },
  });
  const d = describeObject({
    object: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'shop', name: 'web' },
    template: undefined,
    binding: failedOver,
    works: [],
    events: [
      ...events,
      decision(
        'f2',
        'ClusterEvicted',
        'evicted from us-east (application failover: …)',
        '2026-01-01T00:58:01.000000Z',
      ),
      decision(
        'f1',
        'ApplicationFailover',
        'moving the workload off us-east: …',
        '2026-01-01T00:58:00.000000Z',
      ),
    ],
  });
  assert.deepEqual(
    d.failover?.history.map((h) => h.reason),
    ['ApplicationFailover', 'ClusterEvicted'],
    'only failover decisions, oldest first',
  );
  const text = formatDescription(d, NOW);
  assert.match(
    text,
    /Failover:\n {2}Graceful evictions \(old copy kept until the replacement is healthy\):\n {4}CLUSTER +REASON +PURGE +REPLICAS +AGE +GRACE +MESSAGE\n {4}us-east +ApplicationFailure +Graciously +4 +2m +600s +application failover: unhealthy for 31s/,
  );
  assert.match(
    text,
    /Evicted clusters \(application failover; not candidates until lifted\):\n {4}CLUSTER.*\n {4}us-east +ApplicationFailure +2m +unhealthy for 31s/,
  );
  assert.match(
    text,
    /History:\n {4}AGE +TYPE +REASON +MESSAGE\n {4}2m +Warning +ApplicationFailover +moving the workload off us-east/,
  );
});
