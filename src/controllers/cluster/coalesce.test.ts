import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../kube/clock.ts';
import { Coalescer } from './coalesce.ts';

test('a burst of touches fires at once, then at most once per interval', async () => {
  const clock = new ManualClock(0);
  const fired: number[] = [];
  const c = new Coalescer<string>(1000, () => fired.push(clock.now()), clock);
  c.touch('a'); // quiet before: fires now
  for (let i = 0; i < 50; i++) c.touch('a');
  assert.deepEqual(fired, [0]);
  await clock.advance(999);
  assert.deepEqual(fired, [0]);
  await clock.advance(1);
  assert.deepEqual(fired, [0, 1000], 'the burst collapsed into one trailing fire');
  await clock.advance(5000);
  assert.deepEqual(fired, [0, 1000], 'nothing without touches');
  c.touch('a');
  assert.deepEqual(fired, [0, 1000, 6000]);
});

test('keys are independent; forget cancels a pending fire', async () => {
  const clock = new ManualClock(0);
  const fired: string[] = [];
  const c = new Coalescer<string>(1000, (k) => fired.push(k), clock);
  c.touch('a');
  c.touch('b');
  c.touch('a');
  c.touch('b');
  c.forget('b');
  await clock.advance(2000);
  assert.deepEqual(fired, ['a', 'b', 'a']);
  c.stop();
});
