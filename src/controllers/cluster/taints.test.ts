import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Condition, Taint } from '../../api/index.ts';
import { isNotReadyTaint, notReadyTaintDecision, taintPatch } from './taints.ts';

/** When a transition stamped `…00:00:00Z` may have happened at the latest. */
const T0 = Date.parse('2026-01-01T00:00:00Z') + 999;
const timing = { gracePeriodMs: 40_000, stabilizationMs: 30_000 };
const ready = (status: Condition['status'], at = '2026-01-01T00:00:00Z'): Condition => ({
  type: 'Ready',
  status,
  reason: status === 'True' ? 'ClusterReady' : 'Unreachable',
  message: status === 'True' ? 'answers' : 'API server unreachable: no answer within 5000 ms',
  lastTransitionTime: at,
});
const ours: Taint = {
  key: 'cluster.meridian.dev/not-ready',
  effect: 'NoExecute',
  timeAdded: '2026-01-01T00:00:40Z',
};
const maintenance: Taint = { key: 'maintenance', value: 'true', effect: 'NoSchedule' };

test('not-ready taint: a decision for each state of Ready, taint and elapsed time', () => {
  const cases: Array<[string, Condition | undefined, Taint[] | undefined, number, string, number?]> = [
    ['no verdict yet', undefined, undefined, 100_000, 'keep'],
    ['not Ready within the grace period', ready('False'), undefined, 10_000, 'keep', 30_000],
    ['not Ready for the grace period', ready('False'), undefined, 40_000, 'add'],
    ['Unknown counts as not Ready', ready('Unknown'), [maintenance], 41_000, 'add'],
    ['not Ready and already tainted', ready('False'), [ours], 500_000, 'keep'],
    ['Ready and untainted', ready('True'), [maintenance], 500_000, 'keep'],
    ['Ready again, within the stabilisation period', ready('True'), [ours], 12_000, 'keep', 18_000],
    ['Ready again for the stabilisation period', ready('True'), [maintenance, ours], 30_000, 'remove'],
    [
      'a user taint with our key but NoSchedule is not ours',
      ready('True'),
      [{ key: 'cluster.meridian.dev/not-ready', effect: 'NoSchedule' }],
      500_000,
      'keep',
    ],
  ];
  for (const [name, cond, taints, elapsed, action, recheck] of cases) {
    const d = notReadyTaintDecision(cond, taints, T0 + elapsed, timing);
    assert.equal(d.action, action, name);
    if (d.action === 'keep') assert.equal(d.recheckAfterMs, recheck, `${name}: recheck`);
  }
});

test('not-ready taint: the added taint is NoExecute, stamped now, and the message says why', () => {
  const d = notReadyTaintDecision(ready('False'), undefined, T0 + 44_001, timing);
  assert.equal(d.action, 'add');
  if (d.action !== 'add') return;
  assert.deepEqual(d.taint, {
    key: 'cluster.meridian.dev/not-ready',
    effect: 'NoExecute',
    timeAdded: '2026-01-01T00:00:45Z',
  });
  assert.match(d.message, /not Ready for 44s \(grace period 40s; Unreachable: API server unreachable/);
  assert.ok(isNotReadyTaint(d.taint));
});

test('not-ready taint: a flap restarts the clock (time counts from the last transition)', () => {
  // Down at 0 s, back at 20 s, down again at 25 s: at 50 s it has been down only 25 s.
  const d = notReadyTaintDecision(ready('False', '2026-01-01T00:00:25Z'), undefined, T0 + 50_000, timing);
  assert.deepEqual(d, { action: 'keep', recheckAfterMs: 15_000 });
});

test('not-ready taint: periods count from the end of a whole-second timestamp, exactly from a fractional one', () => {
  const at = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(notReadyTaintDecision(ready('False'), undefined, at + 40_000, timing).action, 'keep');
  assert.equal(notReadyTaintDecision(ready('False'), undefined, at + 40_999, timing).action, 'add');
  const exact = ready('False', '2026-01-01T00:00:00.250Z');
  assert.equal(notReadyTaintDecision(exact, undefined, at + 40_249, timing).action, 'keep');
  assert.equal(notReadyTaintDecision(exact, undefined, at + 40_250, timing).action, 'add');
});

test('taintPatch adds to a missing list, guarded by resourceVersion', () => {
  const d = notReadyTaintDecision(ready('False'), undefined, T0 + 40_001, timing);
  assert.deepEqual(taintPatch(d, undefined, '7'), [
    { op: 'test', path: '/metadata/resourceVersion', value: '7' },
    {
      op: 'add',
      path: '/spec/taints',
      value: [
        { key: 'cluster.meridian.dev/not-ready', effect: 'NoExecute', timeAdded: '2026-01-01T00:00:41Z' },
      ],
    },
  ]);
});

test('taintPatch keeps other taints and is guarded by the list it was computed from', () => {
  const add = notReadyTaintDecision(ready('False'), [maintenance], T0 + 40_001, timing);
  assert.deepEqual(taintPatch(add, [maintenance], '7'), [
    { op: 'test', path: '/spec/taints', value: [maintenance] },
    {
      op: 'replace',
      path: '/spec/taints',
      value: [
        maintenance,
        { key: 'cluster.meridian.dev/not-ready', effect: 'NoExecute', timeAdded: '2026-01-01T00:00:41Z' },
      ],
    },
  ]);
  const remove = notReadyTaintDecision(ready('True'), [ours, maintenance], T0 + 30_000, timing);
  assert.deepEqual(taintPatch(remove, [ours, maintenance], '8'), [
    { op: 'test', path: '/spec/taints', value: [ours, maintenance] },
    { op: 'replace', path: '/spec/taints', value: [maintenance] },
  ]);
  assert.equal(taintPatch({ action: 'keep' }, [ours], '9'), undefined);
  assert.equal(taintPatch({ action: 'remove', message: '' }, undefined, '9'), undefined);
});
