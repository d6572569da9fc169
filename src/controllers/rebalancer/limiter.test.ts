import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stepLimiter } from './limiter.ts';

test('the fleet-wide limiter grants a burst, then a steady rate, and says how long to wait', () => {
  const l = stepLimiter(2, 6); // a token every 10 s
  assert.equal(l.take(0), 0);
  assert.equal(l.take(0), 0);
  assert.equal(l.take(0), 10_000, 'burst spent');
  assert.equal(l.take(4_000), 6_000);
  assert.equal(l.take(10_000), 0, 'refilled one');
  assert.equal(l.take(10_000), 10_000);
  assert.equal(l.take(1_000_000), 0, 'refill is capped at the burst');
  assert.equal(l.take(1_000_000), 0);
  assert.equal(l.take(1_000_000), 10_000);
});

test('the limiter rejects settings that would never grant a step', () => {
  assert.throws(() => stepLimiter(0, 1), /burst must be ≥ 1/);
  assert.throws(() => stepLimiter(1, 0), /perMinute > 0/);
});
