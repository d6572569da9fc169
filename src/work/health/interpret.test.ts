import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubeObject } from '../../kube/wire.ts';
import { interpretHealth, type Health } from './interpret.ts';
import { healthRuleFromCrd, parseHealthRule, type HealthRule } from './rule.ts';

const obj = (
  apiVersion: string,
  kind: string,
  spec: Record<string, unknown> | undefined,
  status: Record<string, unknown> | undefined,
  generation = 1,
): KubeObject =>
  ({
    apiVersion,
    kind,
    metadata: { name: 'x', namespace: 'ns', generation },
    ...(spec === undefined ? {} : { spec }),
    ...(status === undefined ? {} : { status }),
  }) as KubeObject;

const deploy = (status: Record<string, unknown> | undefined, replicas = 3, generation = 2) =>
  obj('apps/v1', 'Deployment', { replicas }, status, generation);
const cond = (type: string, status: string, reason = 'R') => ({ type, status, reason });

const table: readonly (readonly [string, KubeObject | undefined, Health])[] = [
  ['no object', undefined, 'Unknown'],
  // Deployment
  ['deployment without status', deploy(undefined), 'Unknown'],
  [
    'deployment rolled out',
    deploy({
      observedGeneration: 2,
      replicas: 3,
      updatedReplicas: 3,
      availableReplicas: 3,
      readyReplicas: 3,
    }),
    'Healthy',
  ],
  [
    'deployment status for an older spec',
    deploy({ observedGeneration: 1, replicas: 3, updatedReplicas: 3, availableReplicas: 3 }),
    'Unhealthy',
  ],
  [
    'deployment still rolling',
    deploy({ observedGeneration: 2, replicas: 4, updatedReplicas: 3, availableReplicas: 3 }),
    'Unhealthy',
  ],
  [
    'deployment not yet available',
    deploy({ observedGeneration: 2, replicas: 3, updatedReplicas: 3, availableReplicas: 1 }),
    'Unhealthy',
  ],
  [
    'deployment past its progress deadline',
    deploy({
      observedGeneration: 2,
      replicas: 3,
      updatedReplicas: 3,
      availableReplicas: 3,
      conditions: [cond('Progressing', 'False', 'ProgressDeadlineExceeded')],
    }),
    'Unhealthy',
  ],
  ['deployment scaled to zero', deploy({ observedGeneration: 2 }, 0), 'Healthy'],
  [
    'deployment default replicas is 1',
    obj(
      'apps/v1',
      'Deployment',
      {},
      { observedGeneration: 1, replicas: 1, updatedReplicas: 1, availableReplicas: 1 },
    ),
    'Healthy',
  ],
  // StatefulSet
  [
    'statefulset ready',
    obj(
      'apps/v1',
      'StatefulSet',
      { replicas: 2 },
      { observedGeneration: 1, readyReplicas: 2, availableReplicas: 2, updatedReplicas: 2 },
    ),
    'Healthy',
  ],
  [
    'statefulset one not ready',
    obj(
      'apps/v1',
      'StatefulSet',
      { replicas: 2 },
      { observedGeneration: 1, readyReplicas: 1, updatedReplicas: 2 },
    ),
    'Unhealthy',
  ],
  [
    'statefulset partitioned rollout counts only the updatable pods',
    obj(
      'apps/v1',
      'StatefulSet',
      { replicas: 3, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 2 } } },
      { observedGeneration: 1, readyReplicas: 3, updatedReplicas: 1 },
    ),
    'Healthy',
  ],
  // DaemonSet
  [
    'daemonset everywhere',
    obj(
      'apps/v1',
      'DaemonSet',
      {},
      { observedGeneration: 1, desiredNumberScheduled: 4, updatedNumberScheduled: 4, numberAvailable: 4 },
    ),
    'Healthy',
  ],
  [
    'daemonset updating',
    obj(
      'apps/v1',
      'DaemonSet',
      {},
      { observedGeneration: 1, desiredNumberScheduled: 4, updatedNumberScheduled: 2, numberAvailable: 4 },
    ),
    'Unhealthy',
  ],
  [
    'daemonset stale status',
    obj('apps/v1', 'DaemonSet', {}, { observedGeneration: 1, desiredNumberScheduled: 0 }, 2),
    'Unhealthy',
  ],
  // ReplicaSet
  [
    'replicaset available',
    obj('apps/v1', 'ReplicaSet', { replicas: 2 }, { observedGeneration: 1, availableReplicas: 2 }),
    'Healthy',
  ],
  [
    'replicaset short',
    obj('apps/v1', 'ReplicaSet', { replicas: 2 }, { observedGeneration: 1, availableReplicas: 1 }),
    'Unhealthy',
  ],
  // Job
  [
    'job complete',
    obj('batch/v1', 'Job', {}, { conditions: [cond('Complete', 'True')], succeeded: 1 }),
    'Healthy',
  ],
  ['job failed', obj('batch/v1', 'Job', {}, { conditions: [cond('Failed', 'True')] }), 'Unhealthy'],
  [
    'job about to fail',
    obj('batch/v1', 'Job', {}, { conditions: [cond('FailureTarget', 'True')] }),
    'Unhealthy',
  ],
  ['job running', obj('batch/v1', 'Job', {}, { active: 1 }), 'Healthy'],
  // Pod
  ['pod ready', obj('v1', 'Pod', {}, { phase: 'Running', conditions: [cond('Ready', 'True')] }), 'Healthy'],
  [
    'pod not ready',
    obj('v1', 'Pod', {}, { phase: 'Running', conditions: [cond('Ready', 'False')] }),
    'Unhealthy',
  ],
  ['pod pending', obj('v1', 'Pod', {}, { phase: 'Pending' }), 'Unhealthy'],
  [
    'pod succeeded',
    obj('v1', 'Pod', {}, { phase: 'Succeeded', conditions: [cond('Ready', 'False')] }),
    'Healthy',
  ],
  ['pod failed', obj('v1', 'Pod', {}, { phase: 'Failed' }), 'Unhealthy'],
  ['pod without status', obj('v1', 'Pod', {}, undefined), 'Unknown'],
  // PVC
  ['pvc bound', obj('v1', 'PersistentVolumeClaim', {}, { phase: 'Bound' }), 'Healthy'],
  ['pvc pending', obj('v1', 'PersistentVolumeClaim', {}, { phase: 'Pending' }), 'Unhealthy'],
  ['pvc lost', obj('v1', 'PersistentVolumeClaim', {}, { phase: 'Lost' }), 'Unhealthy'],
  ['pvc without status', obj('v1', 'PersistentVolumeClaim', {}, undefined), 'Unknown'],
  // Service
  ['clusterip service', obj('v1', 'Service', { type: 'ClusterIP' }, {}), 'Healthy'],
  ['service of default type', obj('v1', 'Service', {}, undefined), 'Healthy'],
  [
    'loadbalancer with ingress',
    obj('v1', 'Service', { type: 'LoadBalancer' }, { loadBalancer: { ingress: [{ ip: '10.0.0.1' }] } }),
    'Healthy',
  ],
  ['loadbalancer pending', obj('v1', 'Service', { type: 'LoadBalancer' }, { loadBalancer: {} }), 'Unhealthy'],
  // Generic
  ['configmap exists', obj('v1', 'ConfigMap', undefined, undefined), 'Healthy'],
  [
    'custom resource Ready=True',
    obj('example.com/v1', 'Widget', {}, { conditions: [cond('Ready', 'True')] }),
    'Healthy',
  ],
  [
    'custom resource Ready=False',
    obj('example.com/v1', 'Widget', {}, { conditions: [cond('Ready', 'False')] }),
    'Unhealthy',
  ],
  [
    'custom resource Ready=Unknown',
    obj('example.com/v1', 'Widget', {}, { conditions: [cond('Ready', 'Unknown')] }),
    'Unknown',
  ],
  [
    'custom resource Available=True',
    obj('example.com/v1', 'Widget', {}, { conditions: [cond('Available', 'True')] }),
    'Healthy',
  ],
  [
    'custom resource whose conditions describe an older spec',
    obj('example.com/v1', 'Widget', {}, { observedGeneration: 1, conditions: [cond('Ready', 'True')] }, 2),
    'Unknown',
  ],
  [
    'custom resource without conditions',
    obj('example.com/v1', 'Widget', {}, { phase: 'Whatever' }),
    'Healthy',
  ],
  [
    'a kind named Deployment in another group is generic',
    obj('example.com/v1', 'Deployment', { replicas: 3 }, {}),
    'Healthy',
  ],
];

for (const [name, o, want] of table) {
  test(`interpretHealth: ${name} ⇒ ${want}`, () => {
    assert.equal(interpretHealth(o), want);
  });
}

const rule = (annotations: Record<string, string>): HealthRule => {
  const r = parseHealthRule(annotations);
  assert.ok(r.ok, r.ok ? '' : r.error);
  assert.ok(r.rule !== undefined);
  return r.rule;
};

const widget = (
  status: Record<string, unknown> | undefined,
  spec: Record<string, unknown> = { replicas: 2 },
) => obj('example.com/v1', 'Widget', spec, status);

const ruleTable: readonly (readonly [string, Record<string, string>, KubeObject, Health])[] = [
  [
    'condition True',
    { 'meridian.dev/health-condition': 'Synced' },
    widget({ conditions: [cond('Synced', 'True')] }),
    'Healthy',
  ],
  [
    'condition False',
    { 'meridian.dev/health-condition': 'Synced' },
    widget({ conditions: [cond('Synced', 'False')] }),
    'Unhealthy',
  ],
  [
    'condition absent',
    { 'meridian.dev/health-condition': 'Synced' },
    widget({ conditions: [cond('Ready', 'True')] }),
    'Unknown',
  ],
  [
    'field equals',
    { 'meridian.dev/health-fields': '.status.phase=Running' },
    widget({ phase: 'Running' }),
    'Healthy',
  ],
  [
    'field differs',
    { 'meridian.dev/health-fields': '.status.phase=Running' },
    widget({ phase: 'Pending' }),
    'Unhealthy',
  ],
  ['field missing', { 'meridian.dev/health-fields': '.status.phase=Running' }, widget({}), 'Unknown'],
  [
    'jsonpath alias',
    { 'meridian.dev/health-jsonpath': 'status.phase=Running' },
    widget({ phase: 'Running' }),
    'Healthy',
  ],
  [
    'not-equal clause',
    { 'meridian.dev/health-fields': '.status.phase!=Failed' },
    widget({ phase: 'Running' }),
    'Healthy',
  ],
  [
    'numbers compare as text',
    { 'meridian.dev/health-fields': '.status.ready=2' },
    widget({ ready: 2 }),
    'Healthy',
  ],
  [
    'booleans compare as text',
    { 'meridian.dev/health-fields': '.status.ok=true' },
    widget({ ok: true }),
    'Healthy',
  ],
  [
    'path against path',
    { 'meridian.dev/health-fields': '.status.ready=.spec.replicas' },
    widget({ ready: 2 }),
    'Healthy',
  ],
  [
    'path against path, short',
    { 'meridian.dev/health-fields': '.status.ready=.spec.replicas' },
    widget({ ready: 1 }),
    'Unhealthy',
  ],
  [
    'list index',
    { 'meridian.dev/health-fields': '.status.endpoints[1].up=yes' },
    widget({ endpoints: [{ up: 'no' }, { up: 'yes' }] }),
    'Healthy',
  ],
  [
    'all clauses must hold',
    { 'meridian.dev/health-fields': '.status.phase=Running, .status.ready=.spec.replicas' },
    widget({ phase: 'Running', ready: 1 }),
    'Unhealthy',
  ],
  [
    'condition and fields together',
    { 'meridian.dev/health-condition': 'Ready', 'meridian.dev/health-fields': '.status.phase=Running' },
    widget({ phase: 'Running', conditions: [cond('Ready', 'True')] }),
    'Healthy',
  ],
  [
    'unhealthy wins over unknown',
    { 'meridian.dev/health-condition': 'Ready', 'meridian.dev/health-fields': '.status.phase=Running' },
    widget({ phase: 'Failed' }),
    'Unhealthy',
  ],
];

for (const [name, annotations, o, want] of ruleTable) {
  test(`health rule: ${name} ⇒ ${want}`, () => {
    assert.equal(interpretHealth(o, rule(annotations)), want);
  });
}

test('a rule replaces the built-in interpretation', () => {
  const d = deploy({ observedGeneration: 2, replicas: 3, updatedReplicas: 3, availableReplicas: 3 });
  assert.equal(interpretHealth(d), 'Healthy');
  assert.equal(
    interpretHealth(d, rule({ 'meridian.dev/health-fields': '.status.readyReplicas=3' })),
    'Unknown',
  );
});

test('parseHealthRule: no annotations ⇒ no rule', () => {
  assert.deepEqual(parseHealthRule(undefined), { ok: true, rule: undefined });
  assert.deepEqual(parseHealthRule({ other: 'x' }), { ok: true, rule: undefined });
});

for (const [bad, why] of [
  [
    { 'meridian.dev/health-fields': 'status.phase' },
    /meridian.dev\/health-fields: clause "status.phase" is not/,
  ],
  [{ 'meridian.dev/health-fields': '.status..phase=1' }, /meridian.dev\/health-fields: bad field name ""/],
  [{ 'meridian.dev/health-fields': ' , ' }, /no clauses/],
  [
    { 'meridian.dev/health-condition': 'not a type!' },
    /meridian.dev\/health-condition: "not a type!" is not a condition type/,
  ],
] as const) {
  test(`parseHealthRule rejects ${JSON.stringify(bad)} naming the annotation`, () => {
    const r = parseHealthRule(bad);
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.error, why);
  });
}

test('healthRuleFromCrd reads the group, kind and annotations of a CRD', () => {
  const got = healthRuleFromCrd({
    metadata: { annotations: { 'meridian.dev/health-condition': 'Ready' } },
    spec: { group: 'example.com', names: { kind: 'Widget' } },
  });
  assert.deepEqual(got, {
    group: 'example.com',
    kind: 'Widget',
    result: { ok: true, rule: { condition: 'Ready' } },
  });
  assert.equal(healthRuleFromCrd({ metadata: {} }), undefined);
});
