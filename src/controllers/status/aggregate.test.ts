import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KubeObject } from '../../kube/wire.ts';
import { canonicalJson } from '../../kube/canonical-json.ts';
import { aggregateStatus, isAggregated, type ClusterStatus } from './aggregate.ts';

const now = new Date('2030-01-02T03:04:05.678Z');
const later = new Date('2030-01-02T04:00:00.000Z');

function template(
  apiVersion: string,
  kind: string,
  status?: Record<string, unknown>,
  generation = 3,
): KubeObject {
  return {
    apiVersion,
    kind,
    metadata: { name: 'web', namespace: 'ns', generation },
    ...(status && { status }),
  } as KubeObject;
}

const item = (clusterName: string, status?: Record<string, unknown>): ClusterStatus => ({
  clusterName,
  status,
  health: status === undefined ? 'Unknown' : 'Healthy',
  applied: true,
});

const cond = (type: string, status: string, reason = 'R') => ({ type, status, reason });

describe('aggregateStatus: Deployment', () => {
  const dep = (readyA: number, readyB: number) => [
    item('a', {
      replicas: 2,
      readyReplicas: readyA,
      availableReplicas: readyA,
      updatedReplicas: 2,
      unavailableReplicas: 2 - readyA,
      observedGeneration: 7,
      conditions: [cond('Available', 'True'), cond('Progressing', 'True', 'NewReplicaSetAvailable')],
    }),
    item('b', {
      replicas: 3,
      readyReplicas: readyB,
      availableReplicas: readyB,
      updatedReplicas: 3,
      conditions: [cond('Available', 'True'), cond('Progressing', 'True', 'NewReplicaSetAvailable')],
    }),
  ];

  test('sums the replica counters across clusters', () => {
    const s = aggregateStatus(template('apps/v1', 'Deployment'), dep(2, 3), { current: true, now })!;
    assert.equal(s['replicas'], 5);
    assert.equal(s['readyReplicas'], 5);
    assert.equal(s['availableReplicas'], 5);
    assert.equal(s['updatedReplicas'], 5);
    assert.equal(s['unavailableReplicas'], 0);
  });

  test('observedGeneration is the template generation only when every cluster is current', () => {
    const current = aggregateStatus(template('apps/v1', 'Deployment'), dep(2, 3), { current: true, now })!;
    assert.equal(current['observedGeneration'], 3);
    const stale = aggregateStatus(template('apps/v1', 'Deployment', { observedGeneration: 2 }), dep(2, 3), {
      current: false,
      now,
    })!;
    assert.equal(stale['observedGeneration'], 2, 'keeps the prior value');
    const fresh = aggregateStatus(template('apps/v1', 'Deployment'), dep(2, 3), { current: false, now })!;
    assert.equal(fresh['observedGeneration'], undefined);
  });

  test('Available and Progressing are True only when every cluster says so', () => {
    const s = aggregateStatus(template('apps/v1', 'Deployment'), dep(2, 3), { current: true, now })!;
    const conditions = s['conditions'] as { type: string; status: string; reason: string }[];
    assert.deepEqual(
      conditions.map((c) => [c.type, c.status, c.reason]),
      [
        ['Available', 'True', 'MinimumReplicasAvailable'],
        ['Progressing', 'True', 'NewReplicaSetAvailable'],
      ],
    );
  });

  test('one unavailable or stuck cluster makes the conditions False, naming it', () => {
    const items = dep(2, 0);
    const b = items[1]!;
    items[1] = {
      ...b,
      status: {
        ...b.status,
        conditions: [cond('Available', 'False'), cond('Progressing', 'False', 'ProgressDeadlineExceeded')],
      },
    };
    const s = aggregateStatus(template('apps/v1', 'Deployment'), items, { current: true, now })!;
    const conditions = s['conditions'] as { type: string; status: string; message: string }[];
    assert.equal(conditions[0]!.status, 'False');
    assert.match(conditions[0]!.message, /\bb\b/);
    assert.doesNotMatch(conditions[0]!.message, /\ba\b/);
    assert.equal(conditions[1]!.status, 'False');
    assert.match(conditions[1]!.message, /\bb\b/);
  });

  test('a cluster with no status yet makes the conditions Unknown and counts as 0', () => {
    const items = [dep(2, 3)[0]!, item('b')];
    const s = aggregateStatus(template('apps/v1', 'Deployment'), items, { current: false, now })!;
    assert.equal(s['readyReplicas'], 2);
    const conditions = s['conditions'] as { status: string; message: string }[];
    assert.equal(conditions[0]!.status, 'Unknown');
    assert.match(conditions[0]!.message, /\bb\b/);
  });

  test('re-aggregating unchanged input keeps timestamps (no write loop)', () => {
    const first = aggregateStatus(template('apps/v1', 'Deployment'), dep(2, 3), { current: true, now })!;
    const again = aggregateStatus(template('apps/v1', 'Deployment', first), dep(2, 3), {
      current: true,
      now: later,
    })!;
    assert.equal(canonicalJson(again), canonicalJson(first));
    // A count change with the same condition status keeps lastTransitionTime.
    const changed = aggregateStatus(template('apps/v1', 'Deployment', first), dep(1, 3), {
      current: true,
      now: later,
    })!;
    const c = (changed['conditions'] as { lastTransitionTime: string }[])[0]!;
    assert.equal(c.lastTransitionTime, '2030-01-02T03:04:05Z');
  });

  test('no target clusters: zero counters, no conditions', () => {
    const s = aggregateStatus(template('apps/v1', 'Deployment'), [], { current: false, now })!;
    assert.equal(s['replicas'], 0);
    assert.equal(s['conditions'], undefined);
  });
});

describe('aggregateStatus: StatefulSet and DaemonSet', () => {
  test('StatefulSet counters are summed', () => {
    const s = aggregateStatus(
      template('apps/v1', 'StatefulSet'),
      [
        item('a', {
          replicas: 1,
          readyReplicas: 1,
          currentReplicas: 1,
          updatedReplicas: 1,
          availableReplicas: 1,
        }),
        item('b', {
          replicas: 2,
          readyReplicas: 1,
          currentReplicas: 2,
          updatedReplicas: 0,
          availableReplicas: 1,
        }),
        item('c'),
      ],
      { current: true, now },
    );
    assert.deepEqual(s, {
      observedGeneration: 3,
      replicas: 3,
      readyReplicas: 2,
      currentReplicas: 3,
      updatedReplicas: 1,
      availableReplicas: 2,
    });
  });

  test('DaemonSet counters are summed', () => {
    const ds = (n: number) => ({
      currentNumberScheduled: n,
      desiredNumberScheduled: n,
      numberReady: n,
      numberAvailable: n - 1,
      updatedNumberScheduled: n,
      numberMisscheduled: 0,
      numberUnavailable: 1,
    });
    const s = aggregateStatus(template('apps/v1', 'DaemonSet'), [item('a', ds(2)), item('b', ds(4))], {
      current: false,
      now,
    });
    assert.deepEqual(s, {
      currentNumberScheduled: 6,
      desiredNumberScheduled: 6,
      numberReady: 6,
      numberAvailable: 4,
      updatedNumberScheduled: 6,
      numberMisscheduled: 0,
      numberUnavailable: 2,
    });
  });
});

describe('aggregateStatus: Job', () => {
  const running = (start: string) => ({ active: 1, ready: 1, startTime: start });
  const done = (start: string, end: string) => ({
    succeeded: 1,
    startTime: start,
    completionTime: end,
    conditions: [cond('SuccessCriteriaMet', 'True'), cond('Complete', 'True')],
  });
  const failed = (start: string) => ({
    failed: 2,
    startTime: start,
    conditions: [cond('FailureTarget', 'True'), cond('Failed', 'True', 'BackoffLimitExceeded')],
  });
  const types = (s: Record<string, unknown> | undefined) =>
    ((s?.['conditions'] as { type: string; status: string }[] | undefined) ?? []).map((c) => c.type);

  test('running: counters summed, earliest startTime, no terminal condition', () => {
    const s = aggregateStatus(
      template('batch/v1', 'Job'),
      [
        item('a', running('2030-01-01T00:00:10Z')),
        item('b', done('2030-01-01T00:00:05Z', '2030-01-01T00:01:00Z')),
      ],
      { current: true, now },
    )!;
    assert.equal(s['active'], 1);
    assert.equal(s['succeeded'], 1);
    assert.equal(s['ready'], 1);
    assert.equal(s['startTime'], '2030-01-01T00:00:05Z');
    assert.equal(s['completionTime'], undefined);
    assert.deepEqual(types(s), []);
  });

  test('Complete when every cluster completed; latest completionTime', () => {
    const s = aggregateStatus(
      template('batch/v1', 'Job'),
      [
        item('a', done('2030-01-01T00:00:10Z', '2030-01-01T00:02:00Z')),
        item('b', done('2030-01-01T00:00:05Z', '2030-01-01T00:01:00Z')),
      ],
      { current: true, now },
    )!;
    assert.equal(s['succeeded'], 2);
    assert.equal(s['completionTime'], '2030-01-01T00:02:00Z');
    assert.deepEqual(types(s), ['SuccessCriteriaMet', 'Complete']);
  });

  test('a cluster without status keeps the Job incomplete', () => {
    const s = aggregateStatus(
      template('batch/v1', 'Job'),
      [item('a', done('2030-01-01T00:00:10Z', '2030-01-01T00:02:00Z')), item('b')],
      { current: true, now },
    )!;
    assert.deepEqual(types(s), []);
  });

  test('Failed when any failed, once nothing is active; FailureTarget before that', () => {
    const whileRunning = aggregateStatus(
      template('batch/v1', 'Job'),
      [item('a', running('2030-01-01T00:00:10Z')), item('b', failed('2030-01-01T00:00:05Z'))],
      { current: true, now },
    )!;
    assert.deepEqual(types(whileRunning), ['FailureTarget']);
    const finished = aggregateStatus(
      template('batch/v1', 'Job'),
      [
        item('a', done('2030-01-01T00:00:10Z', '2030-01-01T00:02:00Z')),
        item('b', failed('2030-01-01T00:00:05Z')),
      ],
      { current: true, now },
    )!;
    assert.deepEqual(types(finished), ['FailureTarget', 'Failed']);
    assert.match((finished['conditions'] as { message: string }[])[1]!.message, /\bb\b/);
    assert.equal(finished['completionTime'], undefined);
    assert.equal(finished['failed'], 2);
  });
});

describe('aggregateStatus: Service', () => {
  test('load balancer ingress is the deduplicated union, in cluster order', () => {
    const s = aggregateStatus(
      template('v1', 'Service'),
      [
        item('a', { loadBalancer: { ingress: [{ ip: '10.0.0.1' }, { hostname: 'lb.example' }] } }),
        item('b', { loadBalancer: { ingress: [{ ip: '10.0.0.2' }, { ip: '10.0.0.1' }] } }),
        item('c', { loadBalancer: {} }),
      ],
      { current: true, now },
    );
    assert.deepEqual(s, {
      loadBalancer: { ingress: [{ ip: '10.0.0.1' }, { hostname: 'lb.example' }, { ip: '10.0.0.2' }] },
    });
  });

  test('no ingress anywhere: empty loadBalancer', () => {
    const s = aggregateStatus(template('v1', 'Service'), [item('a', {})], { current: true, now });
    assert.deepEqual(s, { loadBalancer: {} });
  });
});

describe('aggregateStatus: other kinds', () => {
  for (const [apiVersion, kind] of [
    ['v1', 'ConfigMap'],
    ['example.com/v1', 'Widget'],
    ['extensions/v1beta1', 'Deployment'],
    ['apps/v1', 'ReplicaSet'],
  ] as const) {
    test(`${apiVersion} ${kind}: undefined (reported per cluster in the binding only)`, () => {
      assert.equal(
        aggregateStatus(template(apiVersion, kind), [item('a', { x: 1 })], { current: true, now }),
        undefined,
      );
      assert.equal(isAggregated(apiVersion, kind), false);
    });
  }

  test('isAggregated names the five kinds', () => {
    for (const [v, k] of [
      ['apps/v1', 'Deployment'],
      ['apps/v1', 'StatefulSet'],
      ['apps/v1', 'DaemonSet'],
      ['batch/v1', 'Job'],
      ['v1', 'Service'],
    ] as const) {
      assert.equal(isAggregated(v, k), true, `${v} ${k}`);
    }
  });
});
