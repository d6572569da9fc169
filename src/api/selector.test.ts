import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Cluster } from './cluster.ts';
import type { ClusterAffinity, LabelSelector } from './common.ts';
import {
  clusterAffinityMismatches,
  clusterField,
  labelSelectorMismatches,
  matchesLabelSelector,
} from './selector.ts';

const labels = { env: 'prod', tier: 'web' };

test('label selectors: matchLabels and every operator', () => {
  const table: Array<[string, LabelSelector, boolean]> = [
    ['empty selector matches all', {}, true],
    ['matchLabels equal', { matchLabels: { env: 'prod' } }, true],
    ['matchLabels differ', { matchLabels: { env: 'dev' } }, false],
    ['matchLabels missing', { matchLabels: { team: 'a' } }, false],
    ['In', { matchExpressions: [{ key: 'env', operator: 'In', values: ['dev', 'prod'] }] }, true],
    ['In, missing key', { matchExpressions: [{ key: 'x', operator: 'In', values: ['a'] }] }, false],
    ['NotIn', { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] }, false],
    [
      'NotIn, missing key matches',
      { matchExpressions: [{ key: 'x', operator: 'NotIn', values: ['a'] }] },
      true,
    ],
    ['Exists', { matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, true],
    ['DoesNotExist', { matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }, false],
    [
      'all requirements ANDed',
      { matchLabels: { env: 'prod' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['db'] }] },
      false,
    ],
  ];
  for (const [name, selector, want] of table)
    assert.equal(matchesLabelSelector(labels, selector), want, name);
  assert.equal(
    matchesLabelSelector(undefined, { matchExpressions: [{ key: 'a', operator: 'DoesNotExist' }] }),
    true,
  );
});

test('label selector reasons say which requirement failed', () => {
  assert.deepEqual(labelSelectorMismatches(labels, { matchLabels: { env: 'dev' } }), [
    'label env=dev required, found prod',
  ]);
});

const cluster = (name: string, l: Record<string, string> = {}): Cluster => ({
  apiVersion: 'meridian.dev/v1alpha1',
  kind: 'Cluster',
  metadata: { name, labels: l },
  spec: { syncMode: 'Pull' },
});

test('cluster affinity: names, exclude, labels and fields', () => {
  const eu = cluster('eu-1', {
    'topology.kubernetes.io/region': 'eu-west',
    'topology.kubernetes.io/zone': 'eu-west-a',
    'meridian.dev/provider': 'aws',
  });
  assert.equal(clusterField(eu, 'provider'), 'aws');
  assert.equal(clusterField(cluster('x'), 'region'), undefined);
  const table: Array<[string, ClusterAffinity, string[]]> = [
    ['empty', {}, []],
    ['by name', { clusterNames: ['eu-1', 'us-1'] }, []],
    ['not named', { clusterNames: ['us-1'] }, ['cluster not in clusterNames (us-1)']],
    ['excluded wins', { clusterNames: ['eu-1'], exclude: ['eu-1'] }, ['cluster is excluded by exclude']],
    [
      'field In',
      { fieldSelector: { matchExpressions: [{ key: 'region', operator: 'In', values: ['eu-west'] }] } },
      [],
    ],
    [
      'field NotIn',
      { fieldSelector: { matchExpressions: [{ key: 'provider', operator: 'NotIn', values: ['aws'] }] } },
      ['fieldSelector: provider aws is in (aws)'],
    ],
    [
      'labels and names both reported',
      { clusterNames: ['us-1'], labelSelector: { matchLabels: { 'meridian.dev/provider': 'gcp' } } },
      [
        'cluster not in clusterNames (us-1)',
        'labelSelector: label meridian.dev/provider=gcp required, found aws',
      ],
    ],
  ];
  for (const [name, affinity, want] of table)
    assert.deepEqual(clusterAffinityMismatches(eu, affinity), want, name);
});
