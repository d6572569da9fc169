import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rebalanceStep, type StepInput } from './step.ts';

const input = (over: Partial<StepInput>): StepInput => ({
  rebalance: { maxReplicasPerStep: 1, intervalSeconds: 30 },
  current: [
    { name: 'a', replicas: 3 },
    { name: 'c', replicas: 3 },
  ],
  desired: [
    { name: 'a', replicas: 2 },
    { name: 'b', replicas: 2 },
    { name: 'c', replicas: 2 },
  ],
  failingOver: false,
  settled: true,
  lastStepMs: undefined,
  nowMs: 1_000_000,
  ...over,
});

test('drifted and settled: a step', () => {
  const d = rebalanceStep(input({}));
  assert.equal(d.kind, 'step');
  assert.deepEqual(d.kind === 'step' && d.plan.moves, [{ from: 'a', to: 'b', replicas: 1 }]);
});

test('never during a failover, never before the targets run their shares healthily', () => {
  assert.deepEqual(rebalanceStep(input({ failingOver: true })), { kind: 'wait', why: 'FailingOver' });
  assert.deepEqual(rebalanceStep(input({ settled: false })), { kind: 'wait', why: 'NotSettled' });
});

test('steps of one binding are intervalSeconds apart', () => {
  assert.deepEqual(rebalanceStep(input({ lastStepMs: 1_000_000 - 10_000 })), {
    kind: 'wait',
    why: 'Interval',
    afterMs: 20_000,
  });
  assert.equal(rebalanceStep(input({ lastStepMs: 1_000_000 - 30_000 })).kind, 'step');
});

test('balanced: nothing to wait for', () => {
  assert.deepEqual(rebalanceStep(input({ current: input({}).desired, settled: false })), {
    kind: 'balanced',
  });
});
