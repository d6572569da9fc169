import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Cluster } from '../../api/cluster.ts';
import type { ResourceBinding } from '../../api/resource-binding.ts';
import type { AnyOverridePolicy } from '../override/apply-overrides.ts';
import { cleanTemplate, overridesFor, renderFor, workFor, workName } from './render.ts';

const template = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {
    name: 'web',
    namespace: 'shop',
    uid: 'u1',
    resourceVersion: '42',
    generation: 3,
    creationTimestamp: '2026-01-01T00:00:00Z',
    labels: { app: 'web' },
    annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}', team: 'a' },
  },
  spec: { replicas: 6, template: { spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } } },
  status: { readyReplicas: 6 },
};

const binding = {
  apiVersion: 'meridian.dev/v1alpha1',
  kind: 'ResourceBinding',
  metadata: { name: 'web-deployment', namespace: 'shop' },
  spec: {
    resource: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'shop', name: 'web' },
    replicas: 6,
    conflictResolution: 'Abort',
  },
} as ResourceBinding;

const cluster = {
  apiVersion: 'meridian.dev/v1alpha1',
  kind: 'Cluster',
  metadata: { name: 'eu', labels: { 'topology.kubernetes.io/region': 'eu' } },
  spec: {},
} as unknown as Cluster;

test('cleanTemplate drops status, server metadata and last-applied', () => {
  const c = cleanTemplate(template) as typeof template;
  assert.equal('status' in c, false);
  assert.deepEqual(c.metadata, {
    name: 'web',
    namespace: 'shop',
    labels: { app: 'web' },
    annotations: { team: 'a' },
  });
  assert.equal(template.metadata.uid, 'u1', 'input untouched');
});

test('cleanTemplate drops a Service cluster IP', () => {
  const svc = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 's' },
    spec: { clusterIP: '10.0.0.1', clusterIPs: ['10.0.0.1'], ports: [] },
  };
  assert.deepEqual((cleanTemplate(svc) as typeof svc).spec, { ports: [] });
});

test('renderFor sets the cluster share of replicas and applies matching overrides', () => {
  const policy = {
    apiVersion: 'meridian.dev/v1alpha1',
    kind: 'OverridePolicy',
    metadata: { name: 'eu-mirror', namespace: 'shop' },
    spec: {
      resourceSelectors: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }],
      overrideRules: [
        {
          targetCluster: { clusterNames: ['eu'] },
          overriders: {
            imageOverrider: [{ component: 'Registry', operator: 'replace', value: 'mirror.eu' }],
          },
        },
      ],
    },
  } as unknown as AnyOverridePolicy;
  const other = {
    ...policy,
    metadata: { name: 'other-ns', namespace: 'elsewhere' },
  } as unknown as AnyOverridePolicy;
  const policies = overridesFor(template, [policy, other]);
  assert.deepEqual(
    policies.map((p) => p.metadata.name),
    ['eu-mirror'],
  );
  const r = renderFor(template, binding, cluster, 2, policies);
  const m = r.manifest as typeof template;
  assert.equal(m.spec.replicas, 2);
  assert.equal(m.spec.template.spec.containers[0]!.image, 'mirror.eu/nginx:1.27');
  assert.equal(r.overrides.length, 1);
  const work = workFor(binding, 'eu', r) as {
    metadata: { name: string; namespace: string; labels: Record<string, string> };
    spec: { conflictResolution: string };
  };
  assert.equal(work.metadata.namespace, 'meridian-cluster-eu');
  assert.equal(work.metadata.name, 'rb.shop.web-deployment');
  assert.equal(work.metadata.labels['meridian.dev/cluster'], 'eu');
  assert.equal(work.spec.conflictResolution, 'Abort');
});

test('workName never collides between namespaced and cluster bindings and fits 253 characters', () => {
  assert.notEqual(
    workName({ kind: 'ClusterResourceBinding', metadata: { name: 'a.b' } }),
    workName({ kind: 'ResourceBinding', metadata: { namespace: 'a', name: 'b' } }),
  );
  const long = workName({ kind: 'ResourceBinding', metadata: { namespace: 'ns', name: 'x'.repeat(300) } });
  assert.ok(long.length <= 253);
});
