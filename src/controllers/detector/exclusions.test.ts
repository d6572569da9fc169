import assert from 'node:assert/strict';
import { test } from 'node:test';
import { excludedObject, propagatableType } from './exclusions.ts';

const all = ['get', 'list', 'watch', 'create'];

test('propagatableType', () => {
  assert.equal(propagatableType('apps', 'deployments', all), true);
  assert.equal(propagatableType('', 'configmaps', all), true);
  assert.equal(propagatableType('apiextensions.k8s.io', 'customresourcedefinitions', all), true);
  assert.equal(propagatableType('', 'events', all), false);
  assert.equal(propagatableType('coordination.k8s.io', 'leases', all), false);
  assert.equal(propagatableType('meridian.dev', 'works', all), false);
  assert.equal(propagatableType('apps', 'deployments/status', all), false);
  assert.equal(propagatableType('authentication.k8s.io', 'tokenreviews', ['create']), false);
});

test('excludedObject', () => {
  const o = (namespace: string | undefined, name: string, extra: object = {}) => ({
    metadata: { namespace, name },
    ...extra,
  });
  assert.equal(excludedObject('apps', 'Deployment', o('shop', 'web')), undefined);
  assert.match(excludedObject('apps', 'Deployment', o('kube-system', 'dns')) ?? '', /belongs to the hub/);
  assert.match(
    excludedObject('apps', 'Deployment', o('meridian-cluster-us', 'x')) ?? '',
    /belongs to the hub/,
  );
  assert.ok(excludedObject('', 'ServiceAccount', o('shop', 'default')));
  assert.equal(excludedObject('', 'ServiceAccount', o('shop', 'web')), undefined);
  assert.ok(excludedObject('', 'ConfigMap', o('shop', 'kube-root-ca.crt')));
  assert.ok(excludedObject('', 'Secret', o('shop', 't', { type: 'kubernetes.io/service-account-token' })));
  assert.ok(excludedObject('rbac.authorization.k8s.io', 'ClusterRole', o(undefined, 'system:controller:x')));
  assert.ok(
    excludedObject('apiextensions.k8s.io', 'CustomResourceDefinition', o(undefined, 'works.meridian.dev')),
  );
  assert.equal(
    excludedObject('apiextensions.k8s.io', 'CustomResourceDefinition', o(undefined, 'widgets.example.com')),
    undefined,
  );
});
