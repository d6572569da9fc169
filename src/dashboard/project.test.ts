import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Cluster, ResourceBinding, Work } from '../api/index.ts';
import { bindingKey, bindingView, clusterView, workView } from './project.ts';

test('a cluster: topology from labels, Ready, capacity in base units', () => {
  const v = clusterView({
    apiVersion: 'meridian.dev/v1alpha1',
    kind: 'Cluster',
    metadata: {
      name: 'eu-west',
      labels: { 'topology.kubernetes.io/region': 'europe-west1', 'meridian.dev/provider': 'gcp' },
    },
    spec: { syncMode: 'Pull' },
    status: {
      kubernetesVersion: 'v1.37.2',
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'Healthy',
          message: 'ok',
          lastTransitionTime: '2026-01-01T00:00:00Z',
        },
      ],
      resourceSummary: {
        allocatable: { cpu: '16', memory: '64Gi', pods: '220' },
        allocated: { cpu: '1500m', memory: '512Mi' },
      },
    },
  } as Cluster);
  assert.equal(v.key, 'eu-west');
  assert.equal(v.region, 'europe-west1');
  assert.equal(v.provider, 'gcp');
  assert.equal(v.ready, 'True');
  assert.deepEqual(v.cpu, { allocatable: 16, allocated: 1.5 });
  assert.deepEqual(v.memory, { allocatable: 64 * 2 ** 30, allocated: 512 * 2 ** 20 });
  assert.deepEqual(v.pods, { allocatable: 220, allocated: 0 });
});

test('a cluster without status: Unknown health, no capacity, nothing thrown on a malformed quantity', () => {
  const v = clusterView({
    metadata: { name: 'new' },
    spec: { syncMode: 'Push', apiEndpoint: 'https://x' },
    status: { resourceSummary: { allocatable: { cpu: 'lots' } } },
  } as unknown as Cluster);
  assert.equal(v.ready, 'Unknown');
  assert.equal(v.cpu, null);
  assert.equal(v.memory, null);
});

test('a binding: targets and reports merged per cluster, replicas from the member status', () => {
  const v = bindingView({
    apiVersion: 'meridian.dev/v1alpha1',
    kind: 'ResourceBinding',
    metadata: { name: 'web-deployment', namespace: 'shop' },
    spec: {
      resource: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'shop', name: 'web' },
      replicas: 5,
      clusters: [
        { name: 'b', replicas: 3 },
        { name: 'a', replicas: 2 },
      ],
      policyRef: { kind: 'PropagationPolicy', namespace: 'shop', name: 'spread' },
    },
    status: {
      aggregatedStatus: [
        { clusterName: 'a', applied: true, health: 'Healthy', status: { replicas: 2, readyReplicas: 2 } },
        { clusterName: 'gone', applied: true, health: 'Healthy', status: { replicas: 1 } },
      ],
    },
  } as ResourceBinding);
  assert.equal(v.key, 'shop/web-deployment');
  assert.equal(v.policy, 'PropagationPolicy shop/spread');
  assert.deepEqual(
    v.placements.map((p) => [p.cluster, p.scheduled, p.readyReplicas, p.health]),
    [
      ['a', 2, 2, 'Healthy'],
      ['b', 3, null, 'Unknown'],
      // Reported but no longer a target (being removed): shown, with no scheduled share.
      ['gone', null, 0, 'Healthy'],
    ],
  );
});

test('a Work: overrides and conflicts per manifest, never the manifest itself', () => {
  const v = workView({
    apiVersion: 'meridian.dev/v1alpha1',
    kind: 'Work',
    metadata: {
      name: 'web-deployment',
      namespace: 'meridian-cluster-a',
      labels: {
        'meridian.dev/cluster': 'a',
        'meridian.dev/binding-name': 'web-deployment',
        'meridian.dev/binding-namespace': 'shop',
      },
    },
    spec: {
      workload: {
        manifests: [
          {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: {
              name: 'creds',
              namespace: 'shop',
              annotations: {
                'meridian.dev/applied-overrides': '["OverridePolicy shop/mirror: imageOverrider"]',
              },
            },
            data: { password: 'c2VjcmV0LXZhbHVl' },
          },
        ],
      },
    },
    status: {
      manifestStatuses: [
        {
          identifier: { ordinal: 0, version: 'v1', kind: 'Secret', name: 'creds', namespace: 'shop' },
          applied: false,
          message: 'conflict: exists and is not managed by Meridian',
        },
      ],
    },
  } as Work);
  assert.equal(v.binding, bindingKey('shop', 'web-deployment'));
  assert.equal(v.cluster, 'a');
  assert.deepEqual(v.manifests[0]?.overrides, ['OverridePolicy shop/mirror: imageOverrider']);
  assert.equal(v.manifests[0]?.applied, false);
  assert.match(v.manifests[0]?.message ?? '', /conflict/);
  assert.doesNotMatch(JSON.stringify(v), /c2VjcmV0LXZhbHVl|password/);
});

test('binding keys match the label-safe names Works carry for long binding names', () => {
  const long = 'x'.repeat(80);
  const key = bindingKey('ns', long);
  assert.ok(key.length <= 'ns/'.length + 63);
  assert.equal(key, bindingKey('ns', long));
});
