import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Condition } from '../../api/index.ts';
import {
  FAILURE_THRESHOLD,
  notConnectedCondition,
  readyCondition,
  setCondition,
  type ProbeOutcome,
} from './conditions.ts';

const T0 = '2026-01-01T00:00:00Z';
const T1 = '2026-01-01T00:00:10Z';
const ok: ProbeOutcome = { ok: true, version: 'v1.37.2' };
const down: ProbeOutcome = {
  ok: false,
  reason: 'Unreachable',
  message: 'API server unreachable: connect ECONNREFUSED',
};

test('setCondition keeps lastTransitionTime while the status holds, moves it on a change', () => {
  const first = setCondition(undefined, readyCondition(ok, 0, undefined), T0);
  assert.equal(first[0]!.lastTransitionTime, T0);
  const same = setCondition(first, { ...readyCondition(ok, 0, undefined), message: 'reworded' }, T1);
  assert.equal(same[0]!.lastTransitionTime, T0, 'same status: no transition');
  assert.equal(same[0]!.message, 'reworded');
  const changed = setCondition(same, readyCondition(down, FAILURE_THRESHOLD, same[0]), T1);
  assert.equal(changed[0]!.status, 'False');
  assert.equal(changed[0]!.lastTransitionTime, T1);
});

test('setCondition leaves other conditions (and its input) alone', () => {
  const other: Condition = {
    type: 'TunnelConnected',
    status: 'True',
    reason: 'Up',
    message: '',
    lastTransitionTime: T0,
  };
  const input = [other];
  const out = setCondition(input, notConnectedCondition('Secret x/y not found'), T1);
  assert.equal(input.length, 1);
  assert.deepEqual(out[0], other);
  assert.equal(out[1]!.reason, 'NotConnected');
  assert.equal(out[1]!.message, 'Secret x/y not found');
});

test('Ready: one failed probe keeps the verdict; the threshold turns it False with the reason', () => {
  const readyNow = setCondition(undefined, readyCondition(ok, 0, undefined), T0)[0];
  const once = readyCondition(down, 1, readyNow);
  assert.equal(once.status, 'True', 'a single failure does not flap');
  const twice = readyCondition(down, FAILURE_THRESHOLD, readyNow);
  assert.equal(twice.status, 'False');
  assert.equal(twice.reason, 'Unreachable');
  assert.match(twice.message, /ECONNREFUSED/);
  assert.equal(readyCondition(ok, 0, undefined).status, 'True');
});

test('Ready: a first probe that fails is Unknown until the threshold', () => {
  const first = readyCondition(down, 1, undefined);
  assert.equal(first.status, 'Unknown');
  assert.equal(first.reason, 'Probing');
  assert.equal(readyCondition(down, FAILURE_THRESHOLD, undefined).status, 'False');
});

test('Ready recovers to True on the first successful probe', () => {
  const notReady = setCondition(undefined, readyCondition(down, 5, undefined), T0)[0];
  const back = setCondition([notReady!], readyCondition(ok, 0, notReady), T1)[0]!;
  assert.equal(back.status, 'True');
  assert.equal(back.lastTransitionTime, T1);
});
