import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterAffinity } from '../../../../api/index.ts';
import { deployment, makeCluster } from '../../fixtures.ts';
import { clusterAffinity } from './index.ts';

test('cluster-affinity filter: names, exclude, labels, fields', () => {
  const cluster = makeCluster('eu-1', {
    region: 'eu-west',
    zone: 'eu-west-1a',
    provider: 'aws',
    labels: { tier: 'gold' },
  });
  const table: Array<[string, ClusterAffinity | undefined, boolean]> = [
    ['no affinity selects all', undefined, true],
    ['empty affinity selects all', {}, true],
    ['named', { clusterNames: ['eu-1'] }, true],
    ['not named', { clusterNames: ['us-1'] }, false],
    ['excluded', { exclude: ['eu-1'] }, false],
    [
      'label In',
      { labelSelector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['gold'] }] } },
      true,
    ],
    [
      'label NotIn',
      { labelSelector: { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['gold'] }] } },
      false,
    ],
    ['label Exists', { labelSelector: { matchExpressions: [{ key: 'tier', operator: 'Exists' }] } }, true],
    [
      'label DoesNotExist',
      { labelSelector: { matchExpressions: [{ key: 'gpu', operator: 'DoesNotExist' }] } },
      true,
    ],
    [
      'zone In',
      { fieldSelector: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['eu-west-1a'] }] } },
      true,
    ],
    [
      'provider NotIn',
      { fieldSelector: { matchExpressions: [{ key: 'provider', operator: 'NotIn', values: ['aws'] }] } },
      false,
    ],
    [
      'all criteria must hold',
      {
        clusterNames: ['eu-1'],
        fieldSelector: { matchExpressions: [{ key: 'region', operator: 'In', values: ['us'] }] },
      },
      false,
    ],
  ];
  for (const [name, affinity, ok] of table) {
    const got = clusterAffinity.filter({ unit: deployment(1), affinity, previous: new Map() }, cluster);
    assert.equal(got.ok, ok, name);
    if (!got.ok) assert.ok(got.reasons.length > 0 && got.reasons.every((r) => r.length > 0), name);
  }
});

test('cluster-affinity reasons name the criterion', () => {
  const got = clusterAffinity.filter(
    {
      unit: deployment(1),
      affinity: {
        fieldSelector: { matchExpressions: [{ key: 'region', operator: 'In', values: ['us-east'] }] },
      },
      previous: new Map(),
    },
    makeCluster('eu-1', { region: 'eu-west' }),
  );
  assert.deepEqual(got, {
    ok: false,
    code: 'Unschedulable',
    reasons: ['fieldSelector: region eu-west not in (us-east)'],
  });
});
