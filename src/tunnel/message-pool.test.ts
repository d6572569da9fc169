import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessagePool } from './message-pool.ts';

test('a pool hands back what it was given, keeps at most maxFree, and ignores foreign sizes', () => {
  const pool = new MessagePool(1024, 2);
  const [a, b, c] = [pool.take(), pool.take(), pool.take()];
  assert.equal(a.length, 1024);
  assert.equal(pool.freeCount, 0);
  pool.give(a);
  pool.give(b);
  pool.give(c); // beyond maxFree: left to the garbage collector
  pool.give(Buffer.alloc(512)); // not one of ours
  assert.equal(pool.freeCount, 2);
  const again = pool.take();
  assert.ok(again === b || again === a, 'a given buffer is reused');
  assert.equal(pool.freeCount, 1);
});
