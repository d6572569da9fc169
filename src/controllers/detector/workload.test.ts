import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dependenciesOf, replicaRequests, replicasOf } from './workload.ts';

const deployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'shop' },
  spec: {
    replicas: 4,
    template: {
      spec: {
        serviceAccountName: 'web-sa',
        imagePullSecrets: [{ name: 'registry' }],
        containers: [
          {
            name: 'a',
            resources: { requests: { cpu: '250m', memory: '128Mi' } },
            env: [
              { valueFrom: { configMapKeyRef: { name: 'cfg' } } },
              { valueFrom: { secretKeyRef: { name: 'creds' } } },
            ],
            envFrom: [{ configMapRef: { name: 'cfg' } }],
          },
          { name: 'b', resources: { requests: { cpu: '1', memory: '1Gi' } } },
        ],
        volumes: [
          { secret: { secretName: 'tls' } },
          { persistentVolumeClaim: { claimName: 'data' } },
          { projected: { sources: [{ configMap: { name: 'extra' } }] } },
        ],
      },
    },
  },
};

test('replicasOf: divided kinds default to 1, others undefined', () => {
  assert.equal(replicasOf(deployment), 4);
  assert.equal(replicasOf({ ...deployment, spec: {} } as never), 1);
  assert.equal(replicasOf({ apiVersion: 'v1', kind: 'ConfigMap' }), undefined);
  assert.equal(replicasOf({ apiVersion: 'apps/v1', kind: 'DaemonSet' }), undefined);
});

test('replicaRequests sums containers', () => {
  assert.deepEqual(replicaRequests(deployment), { cpu: '1250m', memory: String(128 * 2 ** 20 + 2 ** 30) });
  assert.equal(replicaRequests({ apiVersion: 'v1', kind: 'ConfigMap' }), undefined);
});

test('dependenciesOf finds every referenced ConfigMap, Secret, ServiceAccount and PVC once', () => {
  assert.deepEqual(
    dependenciesOf(deployment).map((d) => `${d.kind}/${d.name}`),
    [
      'ConfigMap/cfg',
      'ConfigMap/extra',
      'PersistentVolumeClaim/data',
      'Secret/creds',
      'Secret/registry',
      'Secret/tls',
      'ServiceAccount/web-sa',
    ],
  );
});
