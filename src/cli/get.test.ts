import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClusterResourceBinding, ResourceBinding } from '../api/index.ts';
import { bindingSummary, formatBindings } from './get.ts';

const T = '2026-01-01T00:00:00Z';
const cond = (type: string, status: 'True' | 'False', reason: string, message = '') => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: T,
});

const web: ResourceBinding = {
  apiVersion: 'meridian.dev/v1alpha1',
  kind: 'ResourceBinding',
  metadata: { name: 'web-deployment', namespace: 'shop', labels: { 'meridian.dev/policy-name': 'web' } },
  spec: {
    resource: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'shop', name: 'web' },
    replicas: 6,
    clusters: [
      { name: 'us-east', replicas: 4 },
      { name: 'eu-west', replicas: 2 },
    ],
    policyRef: { kind: 'PropagationPolicy', namespace: 'shop', name: 'web' },
  },
  status: {
    conditions: [
      cond('Scheduled', 'True', 'Success', '2 cluster(s) selected'),
      cond('FullyApplied', 'True', 'FullyApplied'),
    ],
    aggregatedStatus: [
      { clusterName: 'us-east', applied: true, health: 'Healthy', status: { readyReplicas: 4 } },
      { clusterName: 'eu-west', applied: true, health: 'Unhealthy', status: { readyReplicas: 1 } },
    ],
  },
};

const config: ResourceBinding = {
  apiVersion: 'meridian.dev/v1alpha1',
  kind: 'ResourceBinding',
  metadata: { name: 'cfg-configmap', namespace: 'shop', labels: { 'meridian.dev/dependency': 'true' } },
  spec: {
    resource: { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'cfg' },
    clusters: [
      { name: 'us-east', replicas: 0 },
      { name: 'onprem-dc1', replicas: 0 },
    ],
  },
  status: {
    conditions: [cond('Scheduled', 'True', 'Success')],
    aggregatedStatus: [
      { clusterName: 'us-east', applied: true, health: 'Healthy' },
      { clusterName: 'onprem-dc1', applied: false, appliedMessage: 'no Work for this cluster yet' },
    ],
  },
};

const crd: ClusterResourceBinding = {
  apiVersion: 'meridian.dev/v1alpha1',
  kind: 'ClusterResourceBinding',
  metadata: { name: 'gadgets.example.com-customresourcedefinition' },
  spec: {
    resource: {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      name: 'gadgets.example.com',
    },
  },
  status: { conditions: [cond('Scheduled', 'False', 'NoClusterFit', 'no feasible cluster')] },
};

test('a summary has the object, its policy, per-cluster placement and the summed ready replicas', () => {
  assert.deepEqual(bindingSummary(web), {
    namespace: 'shop',
    resource: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
    binding: { kind: 'ResourceBinding', name: 'web-deployment' },
    policy: { kind: 'PropagationPolicy', namespace: 'shop', name: 'web' },
    dependency: false,
    replicas: 6,
    ready: { ready: 5, desired: 6 },
    scheduled: { status: 'True', reason: 'Success', message: '2 cluster(s) selected' },
    fullyApplied: { status: 'True', reason: 'FullyApplied', message: '' },
    clusters: [
      { name: 'us-east', replicas: 4, applied: true, message: null, health: 'Healthy', readyReplicas: 4 },
      { name: 'eu-west', replicas: 2, applied: true, message: null, health: 'Unhealthy', readyReplicas: 1 },
    ],
  });
  const c = bindingSummary(config);
  assert.equal(c.policy, null);
  assert.equal(c.dependency, true);
  assert.equal(c.ready, null);
  assert.deepEqual(c.clusters[1], {
    name: 'onprem-dc1',
    replicas: null,
    applied: false,
    message: 'no Work for this cluster yet',
    health: null,
    readyReplicas: null,
  });
  const k = bindingSummary(crd);
  assert.equal(k.namespace, null);
  assert.deepEqual(k.scheduled, { status: 'False', reason: 'NoClusterFit', message: 'no feasible cluster' });
  assert.deepEqual(k.fullyApplied, { status: 'Unknown', reason: null, message: null });
});

test('the table has a column per placed cluster (sorted), then READY, SCHEDULED, APPLIED, HEALTHY', () => {
  const items = [web, config].map(bindingSummary);
  assert.equal(
    formatBindings(items, { namespaceColumn: false }),
    [
      'OBJECT          EU-WEST  ONPREM-DC1  US-EAST  READY  SCHEDULED  APPLIED  HEALTHY',
      'Deployment/web  1/2      -           4/4      5/6    True       2/2      1/2',
      'ConfigMap/cfg   -        pending     applied  -      True       1/2      1/2',
    ].join('\n'),
  );
  assert.equal(
    formatBindings([bindingSummary(crd)], { namespaceColumn: true }),
    [
      'NAMESPACE  OBJECT                                        READY  SCHEDULED  APPLIED  HEALTHY',
      '-          CustomResourceDefinition/gadgets.example.com  -      False      -        -',
    ].join('\n'),
  );
});
