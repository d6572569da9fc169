import assert from 'node:assert/strict';
import { test } from 'node:test';
import { aggregatedRoute, proxyPathPrefix, proxyVerb } from './aggregated.ts';

test('member paths under clusters/<name>/proxy keep their query', () => {
  assert.deepEqual(aggregatedRoute(`${proxyPathPrefix('us-east')}/api/v1/pods?watch=true&rv=5`), {
    kind: 'cluster',
    cluster: 'us-east',
    path: '/api/v1/pods?watch=true&rv=5',
  });
  assert.deepEqual(aggregatedRoute(`${proxyPathPrefix('us-east')}`), {
    kind: 'cluster',
    cluster: 'us-east',
    path: '/',
  });
  assert.deepEqual(aggregatedRoute(`${proxyPathPrefix('us-east')}?timeout=32s`), {
    kind: 'cluster',
    cluster: 'us-east',
    path: '/?timeout=32s',
  });
});

test('discovery documents for /apis, the group and the version', () => {
  const gl = aggregatedRoute('/apis') as { kind: string; body: { groups: { name: string }[] } };
  assert.equal(gl.kind, 'discovery');
  assert.deepEqual(
    gl.body.groups.map((g) => g.name),
    ['proxy.meridian.dev'],
  );
  const g = aggregatedRoute('/apis/proxy.meridian.dev/') as {
    body: { preferredVersion: { groupVersion: string } };
  };
  assert.equal(g.body.preferredVersion.groupVersion, 'proxy.meridian.dev/v1alpha1');
  const rl = aggregatedRoute('/apis/proxy.meridian.dev/v1alpha1') as {
    body: { resources: { name: string }[] };
  };
  assert.deepEqual(
    rl.body.resources.map((r) => r.name),
    ['clusters/proxy'],
  );
});

test('anything else in the group is not found, with what is served; other groups are not routed', () => {
  for (const p of [
    '/apis/proxy.meridian.dev/v1alpha1/clusters',
    '/apis/proxy.meridian.dev/v1alpha1/clusters/us-east',
    '/apis/proxy.meridian.dev/v1alpha1/clusters/US_EAST/proxy/api',
    '/apis/proxy.meridian.dev/v1alpha1/clusters/us-east/status',
  ]) {
    const r = aggregatedRoute(p);
    assert.equal(r?.kind, 'not-found', p);
    assert.match((r as { message: string }).message, /serves only clusters\/<name>\/proxy/);
  }
  assert.equal(aggregatedRoute('/apis/apps/v1/deployments'), undefined);
  assert.equal(aggregatedRoute('/api/v1/pods'), undefined);
});

test('verbs as kube-apiserver names them for a named resource', () => {
  assert.deepEqual(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'].map(proxyVerb), [
    'get',
    'get',
    'create',
    'update',
    'patch',
    'delete',
    'options',
  ]);
});
