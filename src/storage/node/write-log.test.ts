import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WriteEntry } from '../protocol/messages.ts';
import { WriteLog } from './write-log.ts';

const entry = (seq: number): WriteEntry => ({
  epoch: 1,
  seq,
  kind: 'data',
  offset: seq * 4096,
  length: 4096,
  data: Buffer.alloc(4096, seq % 256),
});

// The replica applies to its extents exactly what commit() returns: a record committed
// by a segment rotation or a sync must still be returned (fio found blocks reading back
// as zeroes when a batch straddled a 16 MiB segment boundary).
test('commit() returns every record, including those a rotation or a sync committed', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'meridian-wal-'));
  try {
    const log = await WriteLog.open(dir, { segmentBytes: 16 * 1024, retainBytes: 1 << 20 }, 0);
    const returned: number[] = [];
    for (let seq = 1; seq <= 10; seq++) log.append(entry(seq)); // rotates after 3 records
    for (const e of log.commit()) returned.push(e.seq);
    log.append(entry(11));
    log.append(entry(12));
    await log.sync(); // commits 11 and 12 itself
    assert.equal(log.needsCommit, true);
    for (const e of log.commit()) returned.push(e.seq);
    assert.deepEqual(returned, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    assert.equal(log.needsCommit, false);
    assert.equal(log.lastSeq, 12);
    await log.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
