import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StorageNode } from './storage-node.ts';
import { EXTENT_SIZE } from './extent-store.ts';
import { ReplicaClient } from '../volume/replica-client.ts';
import type { WriteEntry } from '../protocol/messages.ts';

const MiB = 1024 * 1024;

async function withNode(
  fn: (ctx: { client: ReplicaClient; restart: () => Promise<ReplicaClient>; dir: string }) => Promise<void>,
  log?: { segmentBytes: number; retainBytes: number },
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'meridian-node-'));
  const make = (): StorageNode =>
    new StorageNode({
      nodeId: 'n1',
      dir,
      labels: { site: 'a' },
      capacityBytes: 64 * MiB,
      ...(log ? { log } : {}),
    });
  let node = make();
  let client = await ReplicaClient.connect({ host: '127.0.0.1', port: await node.listen() });
  try {
    await fn({
      client,
      dir,
      restart: async () => {
        client.close();
        await node.close();
        node = make();
        client = await ReplicaClient.connect({ host: '127.0.0.1', port: await node.listen() });
        return client;
      },
    });
  } finally {
    client.close();
    await node.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function entry(seq: number, offset: number, data: Buffer, epoch = 1): WriteEntry {
  return { epoch, seq, kind: 'data', offset, length: data.length, data };
}

test('writes read back across extent boundaries and unaligned blocks', async () => {
  await withNode(async ({ client }) => {
    await client.open('v1', 2 * EXTENT_SIZE, 1);
    const data = Buffer.from(Array.from({ length: MiB + 1000 }, (_, i) => (i * 7) % 251));
    await client.write('v1', 1, entry(1, EXTENT_SIZE - 300, data), false);
    assert.deepEqual(await client.read('v1', EXTENT_SIZE - 300, data.length), data);
    assert.deepEqual(await client.read('v1', 0, 100), Buffer.alloc(100));
  });
});

test('stale epoch is rejected and a seq gap reports the applied seq', async () => {
  await withNode(async ({ client }) => {
    await client.open('v1', MiB, 2);
    await assert.rejects(client.write('v1', 1, entry(1, 0, Buffer.alloc(10, 1), 1), false), {
      code: 'StaleEpoch',
    });
    await client.write('v1', 2, entry(1, 0, Buffer.alloc(10, 1), 2), false);
    await assert.rejects(client.write('v1', 2, entry(3, 0, Buffer.alloc(10, 1), 2), false), {
      code: 'SeqGap',
      appliedSeq: 1,
    });
    const again = await client.write('v1', 2, entry(1, 0, Buffer.alloc(10, 1), 2), false);
    assert.equal(again.appliedSeq, 1, 'a retried seq is acknowledged idempotently');
    await assert.rejects(client.open('v1', MiB, 1), { code: 'StaleEpoch' });
  });
});

test('restart resumes from the log: applied writes, epoch and high-water mark survive', async () => {
  await withNode(async ({ client, restart }) => {
    await client.open('v1', MiB, 5);
    for (let s = 1; s <= 20; s++)
      await client.write('v1', 5, entry(s, s * 4096, Buffer.alloc(4096, s), 5), s === 20);
    const c2 = await restart();
    const pos = await c2.status('v1');
    assert.equal(pos.appliedSeq, 20);
    assert.equal(pos.durableSeq, 20);
    assert.equal(pos.epoch, 5);
    assert.equal(pos.appliedEpoch, 5);
    assert.deepEqual(await c2.read('v1', 7 * 4096, 4096), Buffer.alloc(4096, 7));
  });
});

test('catch-up returns log records after a seq with the base epoch; truncated history is reported', async () => {
  await withNode(
    async ({ client: first, restart }) => {
      await first.open('v1', 4 * MiB, 1);
      for (let s = 1; s <= 40; s++) await first.write('v1', 1, entry(s, 0, Buffer.alloc(8192, s)), false);
      // Checkpoints (and so log trimming) run in the background; a clean shutdown waits for them.
      const client = await restart();
      const { baseEpoch, entries } = await client.catchUp('v1', 38, MiB);
      assert.equal(baseEpoch, 1);
      assert.deepEqual(
        entries.map((e) => e.seq),
        [39, 40],
      );
      assert.deepEqual(entries[1]?.data, Buffer.alloc(8192, 40));
      // Segments of 64 KiB and 64 KiB retention: early history is gone after checkpoints.
      await assert.rejects(client.catchUp('v1', 1, MiB), { code: 'LogTruncated' });
    },
    { segmentBytes: 64 * 1024, retainBytes: 64 * 1024 },
  );
});

test('a corrupted block is detected on read and the node reports degraded health', async () => {
  await withNode(async ({ client, dir, restart }) => {
    await client.open('v1', MiB, 1);
    await client.write('v1', 1, entry(1, 0, Buffer.alloc(8192, 9)), true);
    // After restart: replay of the log would otherwise repair the damage.
    const c2 = await restart();
    await c2.status('v1'); // loads (and replays) the volume
    const fh = await open(join(dir, 'volumes', 'v1', 'extents', 'e0.dat'), 'r+');
    await fh.write(Buffer.from([0xff]), 0, 1, 5000);
    await fh.close();
    await assert.rejects(c2.read('v1', 4096, 4096), { code: 'Checksum' });
    assert.deepEqual(await c2.read('v1', 0, 4096), Buffer.alloc(4096, 9));
    const info = await c2.nodeInfo();
    assert.equal(info.health, 'degraded');
    assert.equal(info.labels['site'], 'a');
  });
});

test('volumes beyond capacity are refused', async () => {
  await withNode(async ({ client }) => {
    await assert.rejects(client.open('big', 128 * MiB, 1), { code: 'NoSpace' });
  });
});

test('writeBatch: consecutive writes in one frame apply in order with one answer; a gap fails the batch', async () => {
  await withNode(async ({ client }) => {
    await client.open('vb', 4 * MiB, 1);
    const e = (seq: number, fill: number, offset = (seq - 1) * 4096): WriteEntry => ({
      epoch: 1,
      seq,
      kind: 'data',
      offset,
      length: 4096,
      data: Buffer.alloc(4096, fill),
    });
    // seq 3 overwrites seq 1's block: order matters.
    const pos = await client.writeBatch('vb', 1, [e(1, 0x11), e(2, 0x22), e(3, 0x33, 0)]);
    assert.equal(pos.appliedSeq, 3);
    const back = await client.read('vb', 0, 8192);
    assert.ok(back.subarray(0, 4096).every((b) => b === 0x33));
    assert.ok(back.subarray(4096).every((b) => b === 0x22));
    await assert.rejects(client.writeBatch('vb', 1, [e(4, 1), e(6, 1)]), /does not follow/);
    assert.equal((await client.status('vb')).appliedSeq, 4, 'the entries before the gap applied');
    await assert.rejects(client.writeBatch('vb', 0, [e(5, 1)]), /stale/);
  });
});
