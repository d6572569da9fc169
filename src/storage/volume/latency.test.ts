import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LatencyEstimate } from './latency.ts';

test('EWMA follows a level shift and the tail percentile sees outliers', () => {
  const l = new LatencyEstimate({ alpha: 0.5, window: 100 });
  assert.equal(l.ewmaMs, undefined);
  for (let i = 0; i < 20; i++) l.record(1);
  assert.equal(l.ewmaMs, 1);
  for (let i = 0; i < 20; i++) l.record(100);
  assert.ok((l.ewmaMs ?? 0) > 99);
  const t = new LatencyEstimate({ window: 100 });
  for (let i = 0; i < 98; i++) t.record(1);
  t.record(50);
  t.record(60);
  assert.equal(t.percentile(50), 1);
  assert.equal(t.percentile(99), 50);
  assert.equal(t.percentile(100), 60);
});

test('the window is bounded: old samples fall out', () => {
  const l = new LatencyEstimate({ window: 4 });
  for (const ms of [500, 500, 500, 500, 1, 1, 1, 1]) l.record(ms);
  assert.equal(l.percentile(100), 1);
  assert.equal(l.samples, 8);
});
