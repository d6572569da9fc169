import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { APIResource } from '../kube/api-client.ts';
import { matchType, parseTypeAndName, type DiscoveredResource } from './resource-types.ts';

const r = (name: string, kind: string, namespaced: boolean, shortNames: string[] = []): APIResource => ({
  name,
  singularName: kind.toLowerCase(),
  kind,
  namespaced,
  verbs: ['get', 'list'],
  shortNames,
});

const served: DiscoveredResource[] = [
  { group: '', version: 'v1', resource: r('configmaps', 'ConfigMap', true, ['cm']) },
  { group: '', version: 'v1', resource: r('events', 'Event', true, ['ev']) },
  { group: 'apps', version: 'v1', resource: r('deployments', 'Deployment', true, ['deploy']) },
  { group: 'events.k8s.io', version: 'v1', resource: r('events', 'Event', true, ['ev']) },
  {
    group: 'meridian.dev',
    version: 'v1alpha1',
    resource: r('resourcebindings', 'ResourceBinding', true, ['rb']),
  },
  { group: 'meridian.dev', version: 'v1alpha1', resource: r('clusters', 'Cluster', false, ['mcl']) },
];

test('a type is found by plural, singular, kind or short name, case-insensitively', () => {
  const deployment = {
    group: 'apps',
    version: 'v1',
    resource: 'deployments',
    scope: 'Namespaced',
    kind: 'Deployment',
  };
  for (const t of ['deployments', 'deployment', 'Deployment', 'deploy', 'DEPLOY', 'deployments.apps']) {
    assert.deepEqual(matchType(t, served), deployment, t);
  }
  assert.equal(matchType('rb', served)?.kind, 'ResourceBinding');
  assert.equal(matchType('mcl', served)?.scope, 'Cluster');
  assert.equal(matchType('deployments.batch', served), undefined);
  assert.equal(matchType('widgets', served), undefined);
});

test('discovery order breaks ties (core first), and a group picks the other', () => {
  assert.equal(matchType('events', served)?.group, '');
  assert.equal(matchType('events.events.k8s.io', served)?.group, 'events.k8s.io');
});

test('kind/name or kind name, and usage errors that show the expected form', () => {
  assert.deepEqual(parseTypeAndName('deploy/web', undefined, 'get'), { type: 'deploy', name: 'web' });
  assert.deepEqual(parseTypeAndName('deploy', 'web', 'get'), { type: 'deploy', name: 'web' });
  assert.deepEqual(parseTypeAndName('deploy', undefined, 'get'), { type: 'deploy', name: undefined });
  assert.throws(() => parseTypeAndName('deploy/web', 'x', 'get'), { exitCode: 1, message: /not both/ });
  assert.throws(() => parseTypeAndName('deploy/', undefined, 'get'), {
    exitCode: 1,
    message: /<kind>\/<name>/,
  });
  assert.throws(() => parseTypeAndName('a/b/c', undefined, 'get'), { exitCode: 1 });
});
