import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AnyPropagationPolicy } from './match.ts';
import { choosePolicy } from './match.ts';

const deploy = (name: string, labels: Record<string, string> = {}, namespace = 'shop') => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace, labels },
});

function pp(name: string, selector: object, priority = 0, namespace = 'shop'): AnyPropagationPolicy {
  return {
    apiVersion: 'meridian.dev/v1alpha1',
    kind: 'PropagationPolicy',
    metadata: { name, namespace },
    spec: { resourceSelectors: [{ apiVersion: 'apps/v1', kind: 'Deployment', ...selector }], priority },
  } as AnyPropagationPolicy;
}

function cpp(name: string, selector: object, priority = 0): AnyPropagationPolicy {
  return {
    apiVersion: 'meridian.dev/v1alpha1',
    kind: 'ClusterPropagationPolicy',
    metadata: { name },
    spec: { resourceSelectors: [{ apiVersion: 'apps/v1', kind: 'Deployment', ...selector }], priority },
  } as AnyPropagationPolicy;
}

const cases: {
  name: string;
  obj: ReturnType<typeof deploy>;
  policies: AnyPropagationPolicy[];
  want: string | undefined;
}[] = [
  { name: 'no policy', obj: deploy('web'), policies: [], want: undefined },
  {
    name: 'kind mismatch',
    obj: deploy('web'),
    policies: [pp('a', { kind: 'StatefulSet' })],
    want: undefined,
  },
  {
    name: 'other namespace PP never matches',
    obj: deploy('web'),
    policies: [pp('a', {}, 0, 'other')],
    want: undefined,
  },
  {
    name: 'name selector',
    obj: deploy('web'),
    policies: [pp('a', { name: 'api' }), pp('b', { name: 'web' })],
    want: 'b',
  },
  {
    name: 'label selector',
    obj: deploy('web', { tier: 'front' }),
    policies: [
      pp('a', { labelSelector: { matchLabels: { tier: 'back' } } }),
      pp('b', { labelSelector: { matchLabels: { tier: 'front' } } }),
    ],
    want: 'b',
  },
  {
    name: 'priority wins over specificity',
    obj: deploy('web'),
    policies: [pp('named', { name: 'web' }), pp('all', {}, 10)],
    want: 'all',
  },
  {
    name: 'name beats labels beats kind at equal priority',
    obj: deploy('web', { a: 'b' }),
    policies: [
      pp('kind', {}),
      pp('labels', { labelSelector: { matchLabels: { a: 'b' } } }),
      pp('named', { name: 'web' }),
    ],
    want: 'named',
  },
  {
    name: 'PropagationPolicy beats ClusterPropagationPolicy at equal priority',
    obj: deploy('web'),
    policies: [cpp('c', { name: 'web' }), pp('p', {})],
    want: 'p',
  },
  {
    name: 'ClusterPropagationPolicy with higher priority wins',
    obj: deploy('web'),
    policies: [cpp('c', {}, 5), pp('p', { name: 'web' })],
    want: 'c',
  },
  {
    name: 'CPP namespace field filters',
    obj: deploy('web'),
    policies: [cpp('c', { namespace: 'other' })],
    want: undefined,
  },
  {
    name: 'ties broken by name',
    obj: deploy('web'),
    policies: [pp('zeta', {}), pp('alpha', {})],
    want: 'alpha',
  },
];

for (const c of cases) {
  test(`choosePolicy: ${c.name}`, () => {
    assert.equal(choosePolicy(c.obj, c.policies)?.metadata.name, c.want);
  });
}

test('choosePolicy ignores policies being deleted', () => {
  const p = pp('a', {});
  const deleting = {
    ...p,
    metadata: { ...p.metadata, deletionTimestamp: '2026-01-01T00:00:00Z' },
  } as AnyPropagationPolicy;
  assert.equal(choosePolicy(deploy('web'), [deleting]), undefined);
});
