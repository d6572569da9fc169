import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StorageNode } from './storage-node.ts';
import type { WriteEntry } from '../protocol/messages.ts';
import type { ReplicaLink } from '../protocol/replica-link.ts';
import { ReplicaClient } from '../volume/replica-client.ts';

const MiB = 1024 * 1024;

function entry(seq: number, offset: number, data: Buffer, epoch = 1): WriteEntry {
  return { epoch, seq, kind: 'data', offset, length: data.length, data };
}

async function withNode(fn: (node: StorageNode, dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'meridian-local-'));
  const node = new StorageNode({ nodeId: 'n1', dir, labels: {}, capacityBytes: 64 * MiB });
  try {
    await fn(node, dir);
  } finally {
    await node.close();
    await rm(dir, { recursive: true, force: true });
  }
}

test('co-located link: the node fences stale epochs and refuses seq gaps, as over TCP', async () => {
  await withNode(async (node) => {
    const port = await node.listen();
    const local = await node.connectLocal();
    const tcp = await ReplicaClient.connect({ host: '127.0.0.1', port });
    try {
      for (const [name, link, vol] of [
        ['local', local, 'vl'],
        ['tcp', tcp, 'vt'],
      ] as [string, ReplicaLink, string][]) {
        await link.open(vol, MiB, 2);
        await assert.rejects(link.write(vol, 1, entry(1, 0, Buffer.alloc(10, 1), 1), false), {
          code: 'StaleEpoch',
          currentEpoch: 2,
        });
        await link.write(vol, 2, entry(1, 0, Buffer.alloc(10, 1), 2), false);
        await assert.rejects(link.write(vol, 2, entry(3, 0, Buffer.alloc(10, 1), 2), false), {
          code: 'SeqGap',
          appliedSeq: 1,
        });
        const again = await link.write(vol, 2, entry(1, 0, Buffer.alloc(10, 1), 2), false);
        assert.equal(again.appliedSeq, 1, `${name}: a retried seq is acknowledged idempotently`);
        await assert.rejects(
          link.write(vol, 2, entry(1, 0, Buffer.alloc(10, 1), 1), false),
          { code: 'Invalid' },
          `${name}: the same seq from another epoch is divergence`,
        );
        await assert.rejects(link.open(vol, MiB, 1), { code: 'StaleEpoch' });
        const flushed = await link.flush(vol, 2);
        assert.equal(flushed.durableSeq, 1);
        assert.deepEqual(await link.read(vol, 0, 10), Buffer.alloc(10, 1));
      }
    } finally {
      tcp.close();
      local.close();
    }
  });
});

test('group commit: writes issued in one turn are applied in seq order, readable at once, and survive restart', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'meridian-local-'));
  try {
    let node = new StorageNode({ nodeId: 'n1', dir, labels: {}, capacityBytes: 64 * MiB });
    let link = await node.connectLocal();
    await link.open('v1', MiB, 1);
    const writes: Promise<unknown>[] = [];
    for (let s = 1; s <= 100; s++)
      writes.push(link.write('v1', 1, entry(s, (s % 10) * 4096, Buffer.alloc(4096, s)), false));
    // A read issued in the same turn sees every write that arrived before it.
    const read = link.read('v1', 0, 10 * 4096);
    const positions = (await Promise.all(writes)) as { appliedSeq: number }[];
    assert.equal(Math.max(...positions.map((p) => p.appliedSeq)), 100);
    const image = await read;
    for (let b = 0; b < 10; b++) assert.equal(image[b * 4096], b === 0 ? 100 : 90 + b, `block ${b}`);
    // Process-level restart (clean close): the log and extents hold all 100 writes.
    await node.close();
    node = new StorageNode({ nodeId: 'n1', dir, labels: {}, capacityBytes: 64 * MiB });
    link = await node.connectLocal();
    const pos = await link.status('v1');
    assert.equal(pos.appliedSeq, 100);
    assert.deepEqual(await link.read('v1', 0, 10 * 4096), image);
    const { entries } = await link.catchUp('v1', 95, MiB);
    assert.deepEqual(
      entries.map((e) => e.seq),
      [96, 97, 98, 99, 100],
    );
    await node.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('co-located link goes down with its node: pending and later calls reject Unavailable', async () => {
  await withNode(async (node) => {
    const link = await node.connectLocal();
    await link.open('v1', MiB, 1);
    const closing = node.close();
    await link.closed;
    assert.equal(link.isDown, true);
    await assert.rejects(link.status('v1'), { code: 'Unavailable' });
    await closing;
    await assert.rejects(node.connectLocal(), { code: 'Unavailable' });
  });
});
