import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock, settle } from './clock.ts';
import { WorkQueue } from './workqueue.ts';

test('add dedupes keys waiting in the queue, FIFO order', async () => {
  const q = new WorkQueue();
  assert.equal(q.add('a'), true);
  q.add('b');
  q.add('a');
  assert.equal(q.len, 2);
  assert.equal(await q.get(), 'a');
  assert.equal(await q.get(), 'b');
  assert.equal(q.len, 0);
});

// Regression: client-go's dirty/processing split. A key re-added while a worker holds it must
// neither be handed to a second worker nor be lost when the first finishes.
test('key re-added while processing is not lost and not run concurrently', async () => {
  const q = new WorkQueue();
  q.add('k');
  const first = await q.get();
  assert.equal(first, 'k');
  const second = q.get(); // a second worker blocks
  let handed: string | undefined;
  void second.then((k) => (handed = k));
  q.add('k');
  q.add('k');
  await settle();
  assert.equal(handed, undefined, 'not handed out while in flight');
  assert.equal(q.len, 0);
  q.done('k');
  await settle();
  assert.equal(handed, 'k', 'runs again after done');
  q.done('k');
  q.add('other');
  assert.equal(await q.get(), 'other', 'k ran exactly once more');
});

test('addRateLimited backs off per key 5 ms, 10 ms, 20 ms… and forget resets', async () => {
  const clock = new ManualClock();
  const delays: number[] = [];
  const q = new WorkQueue({ clock, metrics: { retried: (_k, d) => delays.push(d) } });
  for (let i = 0; i < 3; i++) q.addRateLimited('k');
  assert.deepEqual(delays, [5, 10, 20]);
  assert.equal(q.numRequeues('k'), 3);
  assert.equal(q.len, 0);
  await clock.advance(4);
  assert.equal(q.len, 0, 'not before the earliest delay');
  await clock.advance(1);
  assert.equal(q.len, 1, 'earliest pending time wins');
  q.forget('k');
  q.addRateLimited('k');
  assert.equal(delays.at(-1), 5);
});

test('per-key backoff is capped at maxDelayMs', () => {
  const delays: number[] = [];
  const q = new WorkQueue({ clock: new ManualClock(), metrics: { retried: (_k, d) => delays.push(d) } });
  for (let i = 0; i < 40; i++) q.addRateLimited('k');
  assert.equal(Math.max(...delays), 1_000_000);
});

test('the overall token bucket limits retries across keys', () => {
  const delays: number[] = [];
  const q = new WorkQueue({
    clock: new ManualClock(),
    qps: 10,
    burst: 2,
    baseDelayMs: 1,
    metrics: { retried: (_k, d) => delays.push(d) },
  });
  q.addRateLimited('a');
  q.addRateLimited('b');
  q.addRateLimited('c');
  q.addRateLimited('d');
  assert.deepEqual(delays, [1, 1, 100, 200]);
});

test('addAfter is timer-driven and keeps the earliest time per key', async () => {
  const clock = new ManualClock();
  const q = new WorkQueue({ clock });
  q.addAfter('a', 100);
  q.addAfter('b', 50);
  q.addAfter('a', 30);
  q.addAfter('a', 80); // later than pending: ignored
  await clock.advance(30);
  assert.equal(await q.get(), 'a');
  await clock.advance(20);
  assert.equal(await q.get(), 'b');
  await clock.advance(1000);
  assert.equal(q.len, 0, 'a was not added a second time');
  assert.equal(clock.pending, 0, 'no timers left');
});

test('bounded: new keys past maxSize are refused and reported; known keys still work', async () => {
  const dropped: string[] = [];
  const q = new WorkQueue({
    maxSize: 2,
    clock: new ManualClock(),
    metrics: { dropped: (k) => dropped.push(k) },
  });
  assert.equal(q.add('a'), true);
  q.addAfter('b', 10);
  assert.equal(q.add('c'), false);
  assert.equal(q.add('a'), true, 'a duplicate is fine');
  assert.deepEqual(dropped, ['c']);
  assert.equal(await q.get(), 'a');
  assert.equal(q.add('c'), true, 'room again once a is taken');
});

test('shutDown releases blocked getters; aborting a get resolves undefined', async () => {
  const q = new WorkQueue();
  const ac = new AbortController();
  const aborted = q.get(ac.signal);
  ac.abort();
  assert.equal(await aborted, undefined);
  const blocked = q.get();
  q.shutDown();
  assert.equal(await blocked, undefined);
  assert.equal(q.add('x'), false);
  assert.equal(await q.get(), undefined);
});

test('depth metric follows the ready queue', async () => {
  const depths: number[] = [];
  const q = new WorkQueue({ metrics: { depth: (d) => depths.push(d) } });
  q.add('a');
  q.add('b');
  await q.get();
  assert.deepEqual(depths, [1, 2, 1]);
});
