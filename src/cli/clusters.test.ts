import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Cluster } from '../api/index.ts';
import { clusterSummary, formatClusters, formatCpu, formatMemory, notReadyNotes } from './clusters.ts';

const ready = (status: 'True' | 'False' | 'Unknown', reason: string, message = '') => ({
  type: 'Ready',
  status,
  reason,
  message,
  lastTransitionTime: '2026-01-01T00:00:00Z',
});

const usEast: Cluster = {
  apiVersion: 'meridian.dev/v1alpha1',
  kind: 'Cluster',
  metadata: {
    name: 'us-east',
    labels: {
      'topology.kubernetes.io/region': 'us-east-1',
      'topology.kubernetes.io/zone': 'us-east-1a',
      'meridian.dev/provider': 'aws',
    },
  },
  spec: {
    syncMode: 'Push',
    apiEndpoint: 'https://127.0.0.1:6443',
    taints: [{ key: 'maintenance', value: 'true', effect: 'NoSchedule' }],
  },
  status: {
    conditions: [ready('True', 'ClusterReady', 'the API server answers /readyz')],
    kubernetesVersion: 'v1.37.2',
    nodeSummary: { total: 3, ready: 3 },
    resourceSummary: {
      allocatable: { cpu: '48', memory: '192Gi', pods: '330' },
      allocated: { cpu: '1250m', memory: '512Mi', pods: '7' },
      available: { cpu: '46750m', memory: '196096Mi', pods: '323' },
    },
    lastHeartbeatTime: '2026-01-01T00:00:10Z',
  },
};

const onprem: Cluster = {
  apiVersion: 'meridian.dev/v1alpha1',
  kind: 'Cluster',
  metadata: { name: 'onprem-dc1' },
  spec: { syncMode: 'Push', apiEndpoint: 'https://10.0.0.1:6443' },
  status: { conditions: [ready('False', 'Unreachable', 'no answer within 5 s')] },
};

test('a summary carries mode, readiness, topology, nodes, capacity and taints; missing ones are null', () => {
  const s = clusterSummary(usEast);
  assert.equal(s.mode, 'Push');
  assert.deepEqual(s.ready, {
    status: 'True',
    reason: 'ClusterReady',
    message: 'the API server answers /readyz',
  });
  assert.deepEqual([s.region, s.zone, s.provider], ['us-east-1', 'us-east-1a', 'aws']);
  assert.deepEqual(s.nodes, { ready: 3, total: 3 });
  assert.deepEqual(s.capacity.cpu, { allocatable: '48', allocated: '1250m', available: '46750m' });
  assert.deepEqual(s.taints, ['maintenance=true:NoSchedule']);
  const o = clusterSummary(onprem);
  assert.equal(o.kubernetesVersion, null);
  assert.equal(o.region, null);
  assert.equal(o.nodes, null);
  assert.deepEqual(o.capacity.memory, { allocatable: null, allocated: null, available: null });
  assert.deepEqual(clusterSummary({ ...onprem, status: {} }).ready, {
    status: 'Unknown',
    reason: null,
    message: null,
  });
});

test('the table shows available/allocatable capacity in human units and - for what is unknown', () => {
  assert.equal(
    formatClusters([clusterSummary(usEast), clusterSummary(onprem)]),
    [
      'NAME        MODE  READY  VERSION  REGION     PROVIDER  NODES  CPU      MEMORY         PODS',
      'us-east     Push  True   v1.37.2  us-east-1  aws       3/3    46.8/48  191.5Gi/192Gi  323/330',
      'onprem-dc1  Push  False  -        -          -         -      -        -              -',
    ].join('\n'),
  );
  const deleting = clusterSummary({
    ...usEast,
    metadata: { ...usEast.metadata, deletionTimestamp: '2026-01-01T00:00:00Z' },
  });
  assert.match(formatClusters([deleting]), /\nus-east\s+Push\s+Deleting\s/);
});

test('quantities for people', () => {
  assert.equal(formatCpu('250m'), '250m');
  assert.equal(formatCpu('2'), '2');
  assert.equal(formatCpu('13650m'), '13.7');
  assert.equal(formatMemory('64Gi'), '64Gi');
  assert.equal(formatMemory('1536Mi'), '1.5Gi');
  assert.equal(formatMemory('512Mi'), '512Mi');
  assert.equal(formatMemory('1000'), '1Ki');
  assert.equal(formatMemory('8G'), '7.5Gi');
});

test('clusters that are not Ready get a note saying why', () => {
  assert.deepEqual(notReadyNotes([clusterSummary(usEast), clusterSummary(onprem)]), [
    'cluster onprem-dc1 is not Ready (Unreachable): no answer within 5 s',
  ]);
  assert.match(
    notReadyNotes([clusterSummary({ ...onprem, status: {} })])[0] ?? '',
    /no status yet: are `meridian controllers` running/,
  );
});
