import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { jsonLinesAudit } from './audit.ts';
import type { AuditRecord } from './proxy.ts';

const rec = (path: string): AuditRecord => ({
  user: 'alice',
  groups: ['devs'],
  cluster: 'us-east',
  verb: 'get',
  method: 'GET',
  path,
  via: 'hub',
  status: 200,
  durationMs: 3,
});

test('one JSON object per line, with kind and time; the lines of one loop turn in one write', async () => {
  const chunks: string[] = [];
  const out = new Writable({
    write(c: Buffer, _e, cb) {
      chunks.push(c.toString());
      cb();
    },
    writev(cs, cb) {
      chunks.push(cs.map((c) => String(c.chunk)).join(''));
      cb();
    },
  });
  const audit = jsonLinesAudit(out, { now: () => new Date('2026-01-02T03:04:05.678Z') });
  const line = (path: string) =>
    `${JSON.stringify({ kind: 'meridian.proxy.audit', time: '2026-01-02T03:04:05.678Z', ...rec(path) })}\n`;
  audit(rec('/api/v1/pods'));
  audit(rec('/api/v1/nodes'));
  assert.deepEqual(chunks, [], 'nothing before the turn ends');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(chunks, [line('/api/v1/pods') + line('/api/v1/nodes')]);
  audit(rec('/next'));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(chunks.slice(1), [line('/next')]);
});

test('a sink that does not keep up: records are dropped (bounded) and the next line says how many', async () => {
  const turn = () => new Promise((r) => setImmediate(r));
  const written: string[] = [];
  const pending: (() => void)[] = [];
  const drain = (): void => {
    for (let cb = pending.shift(); cb !== undefined; cb = pending.shift()) cb();
  };
  // Accepts one write and holds it until released: everything after it stays buffered.
  const out = new Writable({
    highWaterMark: 1,
    write(c: Buffer, _e, cb) {
      written.push(c.toString());
      pending.push(cb);
    },
  });
  const audit = jsonLinesAudit(out, { maxBufferedBytes: 400 });
  for (let i = 0; i < 20; i++) audit(rec(`/p/${i}`));
  assert.ok(out.writableLength <= 400 + 300, `buffer bounded: ${out.writableLength}`);
  // Drain everything, then one more record carries the count of those dropped.
  await turn();
  drain();
  audit(rec('/after'));
  await turn();
  drain();
  const lines = written.map((l) => JSON.parse(l) as { path: string; droppedBefore?: number });
  const kept = lines.filter((l) => l.path !== '/after').length;
  const last = lines.at(-1);
  assert.equal(last?.path, '/after');
  assert.equal(last?.droppedBefore, 20 - kept);
  assert.ok(kept < 20, 'some were dropped');
});
