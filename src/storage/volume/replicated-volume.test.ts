import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StorageNode } from '../node/storage-node.ts';
import { ReplicatedVolume, type ReplicaSpec } from './replicated-volume.ts';

const MiB = 1024 * 1024;

type Ctx = { nodes: StorageNode[]; specs: ReplicaSpec[] };

/** Node 0 co-located (direct calls), the others over TCP on loopback. */
async function withNodes(n: number, fn: (ctx: Ctx) => Promise<void>): Promise<void> {
  const dirs: string[] = [];
  const nodes: StorageNode[] = [];
  const specs: ReplicaSpec[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const dir = await mkdtemp(join(tmpdir(), `meridian-rv${i}-`));
      dirs.push(dir);
      const node = new StorageNode({ nodeId: `n${i}`, dir, labels: {}, capacityBytes: 256 * MiB });
      nodes.push(node);
      if (i === 0) specs.push({ nodeId: 'n0', colocated: node });
      else specs.push({ nodeId: `n${i}`, endpoint: { host: '127.0.0.1', port: await node.listen() } });
    }
    await fn({ nodes, specs });
  } finally {
    for (const node of nodes) await node.close();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  }
}

test('fastest with a co-located replica: pipelined writes keep seq order on every replica', async () => {
  await withNodes(3, async ({ specs }) => {
    const v = await ReplicatedVolume.open({
      id: 'v',
      sizeBytes: 8 * MiB,
      replicas: specs,
      ackMode: 'fastest',
      durability: 2,
    });
    try {
      assert.deepEqual(
        v.status().replicas.map((r) => r.link),
        ['local', 'tcp', 'tcp'],
      );
      // 64 overlapping writes in flight at once: the last one per block must win everywhere.
      await Promise.all(
        Array.from({ length: 64 }, (_, i) => v.write((i % 8) * 4096, Buffer.alloc(4096, i + 1), false)),
      );
      await v.flush();
      await v.settled();
      const s = v.status();
      assert.ok(s.replicas.every((r) => r.appliedSeq === s.headSeq && r.state === 'in-sync'));
      assert.equal(s.headSeq, 64);
      const image = await v.read(0, 8 * 4096);
      for (let b = 0; b < 8; b++) assert.equal(image[b * 4096], 56 + b + 1, `block ${b}`);
    } finally {
      v.close();
    }
  });
});

test('fastest: the co-located replica acknowledges, but FLUSH needs the durability set', async () => {
  await withNodes(2, async ({ nodes, specs }) => {
    const v = await ReplicatedVolume.open({
      id: 'v',
      sizeBytes: MiB,
      replicas: specs,
      ackMode: 'fastest',
      durability: 2,
    });
    try {
      await v.write(0, Buffer.alloc(4096, 1), false);
      await v.flush();
      await (nodes[1] as StorageNode).close(); // the TCP replica goes away
      await v.waitFor((s) => s.replicas[1]?.state === 'down');
      // A plain write is acknowledged by the co-located replica alone…
      await v.write(4096, Buffer.alloc(4096, 2), false);
      // …but neither FLUSH nor FUA can be: durability 2 with one live replica.
      await assert.rejects(v.flush(), { code: 'Unavailable' });
      await assert.rejects(v.write(8192, Buffer.alloc(4096, 3), true), { code: 'Unavailable' });
      assert.deepEqual((await v.read(4096, 4096))[0], 2);
    } finally {
      v.close();
    }
  });
});

test('a newer frontend fences the old one through the co-located replica too', async () => {
  await withNodes(2, async ({ specs }) => {
    const a = await ReplicatedVolume.open({
      id: 'v',
      sizeBytes: MiB,
      replicas: specs,
      ackMode: 'fastest',
      durability: 1,
    });
    try {
      await a.write(0, Buffer.alloc(512, 1), false);
      await a.settled();
      const b = await ReplicatedVolume.open({
        id: 'v',
        sizeBytes: MiB,
        replicas: specs,
        ackMode: 'fastest',
        durability: 1,
      });
      try {
        assert.equal(b.epoch, a.epoch + 1);
        assert.equal(b.headSeq, a.headSeq, 'the new frontend resumes after the highest applied seq');
        await assert.rejects(
          (async () => {
            await a.write(0, Buffer.alloc(512, 2), false);
            await a.flush();
          })(),
          { code: 'StaleEpoch' },
        );
        await assert.rejects(a.write(0, Buffer.alloc(512, 3), false), { code: 'StaleEpoch' });
        await b.write(0, Buffer.alloc(512, 4), true);
        assert.equal((await b.read(0, 512))[0], 4);
      } finally {
        b.close();
      }
    } finally {
      a.close();
    }
  });
});

test('the lag bound holds writes back in arrival order until slow replicas catch up', async () => {
  await withNodes(2, async ({ specs }) => {
    const v = await ReplicatedVolume.open({
      id: 'v',
      sizeBytes: 4 * MiB,
      replicas: specs,
      ackMode: 'fastest',
      durability: 1,
      maxLagBytes: 64 * 1024,
    });
    try {
      const order: number[] = [];
      await Promise.all(
        Array.from({ length: 64 }, (_, i) =>
          v.write(i * 4096, Buffer.alloc(4096, i), false).then(() => order.push(i)),
        ),
      );
      assert.deepEqual(
        order,
        Array.from({ length: 64 }, (_, i) => i),
        'acknowledged in seq order',
      );
      await v.settled();
      assert.equal(v.status().replicas[1]?.appliedSeq, 64);
    } finally {
      v.close();
    }
  });
});
