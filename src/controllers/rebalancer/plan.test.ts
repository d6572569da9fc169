import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TargetCluster } from '../../api/index.ts';
import { distance, planRebalance } from './plan.ts';

const p = (o: Record<string, number>): TargetCluster[] =>
  Object.entries(o).map(([name, replicas]) => ({ name, replicas }));

test('a cluster back after a failover gets its share back one replica per step, never all at once', () => {
  const desired = p({ a: 2, b: 2, c: 2 });
  let current = p({ a: 3, c: 3 });
  const steps: TargetCluster[][] = [];
  for (let i = 0; i < 10; i++) {
    const plan = planRebalance(current, desired, 1);
    if (plan === undefined) break;
    assert.equal(
      plan.moves.reduce((s, m) => s + m.replicas, 0),
      1,
      'one replica per step',
    );
    current = plan.next;
    steps.push(current);
  }
  assert.deepEqual(steps, [p({ a: 2, b: 1, c: 3 }), p({ a: 2, b: 2, c: 2 })]);
});

test('a step moves at most maxReplicas, from the largest surplus to the largest shortfall', () => {
  const plan = planRebalance(p({ a: 6, b: 0, c: 0 }), p({ a: 2, b: 2, c: 2 }), 3);
  assert.deepEqual(plan?.next, p({ a: 3, b: 2, c: 1 }));
  assert.deepEqual(plan?.moves, [
    { from: 'a', to: 'b', replicas: 2 },
    { from: 'a', to: 'c', replicas: 1 },
  ]);
  assert.equal(plan?.remaining, 1);
});

test('a cluster left with no replica leaves the placement', () => {
  const plan = planRebalance(p({ a: 1, b: 3 }), p({ b: 2, c: 2 }), 10);
  assert.deepEqual(plan?.next, p({ b: 2, c: 2 }));
  assert.equal(plan?.remaining, 0);
});

test('nothing to do when balanced, or when the totals differ (a scale change is not a rebalance)', () => {
  assert.equal(planRebalance(p({ a: 2, b: 2 }), p({ b: 2, a: 2 }), 1), undefined);
  assert.equal(planRebalance(p({ a: 2, b: 2 }), p({ a: 3, b: 2 }), 1), undefined);
  assert.equal(distance(p({ a: 3, c: 3 }), p({ a: 2, b: 2, c: 2 })), 2);
});
