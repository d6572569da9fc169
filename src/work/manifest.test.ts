import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EmbeddedObject } from '../api/schema.ts';
import type { KubeObject } from '../kube/wire.ts';
import {
  applyReason,
  conflictMessage,
  conflictResolutionFor,
  desiredObject,
  identifierOf,
  identityKey,
  isSubset,
  ownershipOf,
  type AppliedRecord,
} from './manifest.ts';
import { workKeyOf } from './member-watches.ts';

const work = { namespace: 'meridian-cluster-c1', name: 'web-abc' };
const ownLabels = {
  'app.kubernetes.io/managed-by': 'meridian',
  'meridian.dev/work-namespace': work.namespace,
  'meridian.dev/work-name': work.name,
};

const deployment: EmbeddedObject = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {
    name: 'web',
    namespace: 'shop',
    uid: 'hub-uid',
    resourceVersion: '42',
    generation: 3,
    creationTimestamp: '2026-01-01T00:00:00Z',
    finalizers: ['meridian.dev/resource-cleanup'],
    ownerReferences: [{ apiVersion: 'v1', kind: 'X', name: 'x', uid: 'u' }],
    labels: { app: 'web' },
    annotations: { team: 'a' },
  },
  spec: { replicas: 2 },
  status: { readyReplicas: 2 },
};

test('desiredObject drops server-set metadata and status and adds ownership labels', () => {
  const d = desiredObject(deployment, work, 'Namespaced') as Record<string, unknown> & KubeObject;
  assert.deepEqual(d.metadata, {
    name: 'web',
    namespace: 'shop',
    labels: { app: 'web', ...ownLabels },
    annotations: { team: 'a' },
  });
  assert.equal(d['status'], undefined);
  assert.deepEqual(d['spec'], { replicas: 2 });
  assert.equal(d.apiVersion, 'apps/v1');
});

test('desiredObject: a namespaced manifest without a namespace goes to default; cluster-scoped loses it', () => {
  const cm: EmbeddedObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } };
  assert.equal(desiredObject(cm, work, 'Namespaced').metadata?.namespace, 'default');
  const cr: EmbeddedObject = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: 'r', namespace: 'x' },
  };
  assert.equal(desiredObject(cr, work, 'Cluster').metadata?.namespace, undefined);
});

test('desiredObject: Meridian labels win over manifest labels of the same key', () => {
  const m: EmbeddedObject = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'c', namespace: 'n', labels: { 'app.kubernetes.io/managed-by': 'helm' } },
  };
  assert.equal(
    desiredObject(m, work, 'Namespaced').metadata?.labels?.['app.kubernetes.io/managed-by'],
    'meridian',
  );
});

test('identifierOf and identityKey ignore version and ordinal', () => {
  const id = identifierOf(deployment, 4, { resource: 'deployments', scope: 'Namespaced' });
  assert.deepEqual(id, {
    ordinal: 4,
    group: 'apps',
    version: 'v1',
    kind: 'Deployment',
    resource: 'deployments',
    namespace: 'shop',
    name: 'web',
  });
  const other = identifierOf({ ...deployment, apiVersion: 'apps/v2' }, 0, undefined);
  assert.equal(identityKey(id), identityKey(other));
});

const withManagers = (
  labels: Record<string, string>,
  managers: { manager: string; operation: string }[] = [],
): KubeObject => ({
  metadata: { name: 'web', namespace: 'shop', labels, managedFields: managers },
});

test('ownershipOf: labels naming this Work, another Work, or none', () => {
  assert.deepEqual(ownershipOf(withManagers(ownLabels), work, false), { type: 'this-work' });
  assert.deepEqual(
    ownershipOf(withManagers({ ...ownLabels, 'meridian.dev/work-name': 'other' }), work, false),
    { type: 'other-work', work: { namespace: work.namespace, name: 'other' } },
  );
  assert.deepEqual(ownershipOf(withManagers({ app: 'web' }), work, false), { type: 'unmanaged' });
});

test('ownershipOf: labels stripped from an object Meridian applied for this Work is still ours', () => {
  const stripped = withManagers({ app: 'web' }, [{ manager: 'meridian', operation: 'Apply' }]);
  assert.deepEqual(ownershipOf(stripped, work, true), { type: 'this-work' });
  // …but never without this Work's own record of applying it: a stranger's object stays unmanaged.
  assert.deepEqual(ownershipOf(stripped, work, false), { type: 'unmanaged' });
  const kubectl = withManagers({ app: 'web' }, [
    { manager: 'kubectl-client-side-apply', operation: 'Update' },
  ]);
  assert.deepEqual(ownershipOf(kubectl, work, true), { type: 'unmanaged' });
});

test('conflictResolutionFor: the manifest annotation wins, then the Work, then Abort', () => {
  const annotated = (v: string): EmbeddedObject => ({
    ...deployment,
    metadata: { name: 'web', annotations: { 'meridian.dev/conflict-resolution': v } },
  });
  assert.equal(conflictResolutionFor({ spec: { workload: { manifests: [] } } }, deployment), 'Abort');
  assert.equal(
    conflictResolutionFor(
      { spec: { workload: { manifests: [] }, conflictResolution: 'Overwrite' } },
      deployment,
    ),
    'Overwrite',
  );
  assert.equal(
    conflictResolutionFor(
      { spec: { workload: { manifests: [] }, conflictResolution: 'Overwrite' } },
      annotated('Abort'),
    ),
    'Abort',
  );
  assert.equal(
    conflictResolutionFor({ spec: { workload: { manifests: [] } } }, annotated('Overwrite')),
    'Overwrite',
  );
  assert.equal(conflictResolutionFor({ spec: { workload: { manifests: [] } } }, annotated('bogus')), 'Abort');
});

test('conflictMessage names the object, the cluster and both ways out', () => {
  const id = identifierOf(deployment, 0, { resource: 'deployments', scope: 'Namespaced' });
  const m = conflictMessage(id, 'c1', { type: 'unmanaged' }, work);
  assert.match(m, /Deployment shop\/web already exists in cluster c1 and was not created by Meridian/);
  assert.match(m, /conflictResolution: Overwrite/);
  assert.match(m, /meridian.dev\/conflict-resolution=Overwrite/);
});

test('isSubset: server-added fields are ignored, changed values and list lengths are not', () => {
  assert.ok(isSubset({ a: 1, b: { c: 'x' } }, { a: 1, b: { c: 'x', d: 2 }, e: 3 }));
  assert.ok(isSubset({ ports: [{ port: 80 }] }, { ports: [{ port: 80, protocol: 'TCP' }] }));
  assert.ok(!isSubset({ a: 1 }, { a: 2 }));
  assert.ok(!isSubset({ l: [1, 2] }, { l: [1] }));
  assert.ok(!isSubset({ o: { x: 1 } }, { o: null }));
  assert.ok(!isSubset({ a: 'x' }, {}));
});

// applyReason: (desired, live, work generation, record, taking over) → reason.
const desired = desiredObject(deployment, work, 'Namespaced');
const live = (
  generation: number | undefined,
  labels: Record<string, string> = { app: 'web', ...ownLabels },
  extra: Record<string, unknown> = {},
): KubeObject =>
  ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'web',
      namespace: 'shop',
      labels,
      annotations: { team: 'a' },
      resourceVersion: '9',
      ...(generation === undefined ? {} : { generation }),
    },
    spec: { replicas: 2 },
    ...extra,
  }) as KubeObject;
const rec = (appliedGeneration: number | undefined, observedGeneration = 7): AppliedRecord => ({
  applied: true,
  observedGeneration,
  ...(appliedGeneration === undefined ? {} : { appliedGeneration }),
});

const reasons: readonly [
  string,
  KubeObject | undefined,
  AppliedRecord | undefined,
  boolean,
  ReturnType<typeof applyReason>,
][] = [
  ['absent, never applied', undefined, undefined, false, 'create'],
  ['absent after a conflict', undefined, { applied: false }, false, 'create'],
  ['absent after being applied: deleted by someone', undefined, rec(2), false, 'recreate'],
  ['taking over an unmanaged object', live(5, { app: 'web' }), undefined, true, 'take-over'],
  ['ours but no record (restart before status was written)', live(2), undefined, false, 'not-recorded'],
  ['the Work changed', live(2), rec(2, 6), false, 'work-changed'],
  ['nothing changed', live(2), rec(2), false, undefined],
  [
    'only status changed (same generation)',
    live(2, undefined, { status: { readyReplicas: 1 } }),
    rec(2),
    false,
    undefined,
  ],
  ['spec changed by someone (generation moved)', live(3), rec(2), false, 'spec-drift'],
  ['a generation but none recorded', live(3), rec(undefined), false, 'not-recorded'],
  ['a Meridian label removed', live(2, { ...ownLabels }), rec(2), false, 'metadata-drift'],
  ['a Meridian label changed', live(2, { app: 'other', ...ownLabels }), rec(2), false, 'metadata-drift'],
  [
    'an extra label added by someone else is fine',
    live(2, { app: 'web', extra: 'x', ...ownLabels }),
    rec(2),
    false,
    undefined,
  ],
];

for (const [name, l, r, takeOver, want] of reasons) {
  test(`applyReason: ${name} ⇒ ${String(want)}`, () => {
    assert.equal(applyReason(desired, l, 7, r, takeOver), want);
  });
}

test('applyReason: objects without a generation are compared field by field', () => {
  const cm: EmbeddedObject = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'c', namespace: 'n' },
    data: { k: 'v' },
  };
  const want = desiredObject(cm, work, 'Namespaced');
  const have = (data: Record<string, string>): KubeObject =>
    ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c', namespace: 'n', labels: ownLabels },
      data,
    }) as KubeObject;
  assert.equal(applyReason(want, have({ k: 'v', added: 'x' }), 7, rec(undefined), false), undefined);
  assert.equal(applyReason(want, have({ k: 'changed' }), 7, rec(undefined), false), 'fields-drift');
});

test('applyReason: a Secret written with stringData is not seen as drifted forever', () => {
  const s: EmbeddedObject = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 's', namespace: 'n' },
    stringData: { k: 'v' },
  };
  const have = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 's', namespace: 'n', labels: ownLabels },
    data: { k: 'dg==' },
  } as KubeObject;
  assert.equal(applyReason(desiredObject(s, work, 'Namespaced'), have, 7, rec(undefined), false), undefined);
});

test('workKeyOf maps a member object to its Work only within its own cluster', () => {
  const obj = { metadata: { name: 'web', labels: ownLabels } };
  assert.equal(workKeyOf(obj, 'c1'), 'meridian-cluster-c1/web-abc');
  assert.equal(workKeyOf(obj, 'c2'), undefined);
  assert.equal(
    workKeyOf({ metadata: { name: 'x', labels: { 'app.kubernetes.io/managed-by': 'meridian' } } }, 'c1'),
    undefined,
  );
  assert.equal(workKeyOf(undefined, 'c1'), undefined);
});
