import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterToleration, Taint } from '../../../../api/index.ts';
import { deployment, makeCluster } from '../../fixtures.ts';
import { taintToleration, tolerates } from './index.ts';

const noSchedule: Taint = { key: 'maintenance', value: 'true', effect: 'NoSchedule' };
const noExecute: Taint = { key: 'unreachable', effect: 'NoExecute', timeAdded: '2025-01-01T00:00:00Z' };

test('tolerates: Kubernetes matching rules', () => {
  const table: Array<[string, ClusterToleration, Taint, boolean]> = [
    ['Equal, same key and value', { key: 'maintenance', operator: 'Equal', value: 'true' }, noSchedule, true],
    ['Equal is the default operator', { key: 'maintenance', value: 'true' }, noSchedule, true],
    ['Equal, other value', { key: 'maintenance', value: 'false' }, noSchedule, false],
    ['Exists ignores value', { key: 'maintenance', operator: 'Exists' }, noSchedule, true],
    ['other key', { key: 'x', operator: 'Exists' }, noSchedule, false],
    ['empty key + Exists tolerates everything', { operator: 'Exists' }, noExecute, true],
    ['empty key + Equal tolerates nothing', { value: 'true' }, noSchedule, false],
    [
      'effect must match when set',
      { key: 'maintenance', operator: 'Exists', effect: 'NoExecute' },
      noSchedule,
      false,
    ],
    ['effect matches', { key: 'unreachable', operator: 'Exists', effect: 'NoExecute' }, noExecute, true],
    ['Equal with no value matches a taint with no value', { key: 'unreachable' }, noExecute, true],
  ];
  for (const [name, tol, taint, want] of table) assert.equal(tolerates(tol, taint), want, name);
});

test('taint-toleration filter', () => {
  const tainted = makeCluster('c', { taints: [noSchedule, noExecute] });
  const table: Array<[string, ClusterToleration[], string[], string[]]> = [
    [
      'no tolerations: both taints reported',
      [],
      [],
      [
        'cluster has untolerated taint maintenance=true:NoSchedule',
        'cluster has untolerated taint unreachable:NoExecute',
      ],
    ],
    [
      'both tolerated',
      [
        { key: 'maintenance', operator: 'Exists' },
        { key: 'unreachable', operator: 'Exists', tolerationSeconds: 30, effect: 'NoExecute' },
      ],
      [],
      [],
    ],
    [
      'already placed there: NoSchedule does not evict, NoExecute does',
      [],
      ['c'],
      ['cluster has untolerated taint unreachable:NoExecute'],
    ],
    [
      'tolerationSeconds does not matter to the filter',
      [{ operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 0 }],
      ['c'],
      [],
    ],
  ];
  for (const [name, clusterTolerations, previous, reasons] of table) {
    const ctx = {
      unit: deployment(1, { clusterTolerations }),
      affinity: undefined,
      previous: new Map(previous.map((p) => [p, 1])),
    };
    const got = taintToleration.filter(ctx, tainted);
    assert.deepEqual(
      got,
      reasons.length ? { ok: false, code: 'Unschedulable', reasons } : { ok: true },
      name,
    );
  }
  assert.deepEqual(
    taintToleration.filter(
      { unit: deployment(1), affinity: undefined, previous: new Map() },
      makeCluster('clean'),
    ),
    { ok: true },
  );
});
