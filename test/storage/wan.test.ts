/**
 * Latency-aware replication over an emulated WAN: a near replica on loopback and far
 * replicas behind DelayRelay, all on loopback (wan-netns.test.ts runs sites in their own
 * network namespaces).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ReplicatedVolume, type AckMode } from '../../src/storage/volume/replicated-volume.ts';
import { ReplicaClient } from '../../src/storage/volume/replica-client.ts';
import { DelayRelay } from './delay-relay.ts';
import { Cleanup, MiB, spawnNode, startNodes, tempDir } from './harness.ts';

const ONE_WAY_MS = 60; // far replicas: 120 ms round trip

async function wanVolume(cleanup: Cleanup, ackMode: AckMode, id: string): Promise<ReplicatedVolume> {
  const [near, ...far] = await startNodes(cleanup, 3);
  const replicas = [{ nodeId: near?.nodeId ?? 'n1', endpoint: { host: '127.0.0.1', port: near?.port ?? 0 } }];
  for (const f of far) {
    const relay = new DelayRelay({ host: '127.0.0.1', port: f.port }, ONE_WAY_MS);
    const port = await relay.listen();
    cleanup.add(() => relay.close());
    replicas.push({ nodeId: f.nodeId, endpoint: { host: '127.0.0.1', port } });
  }
  const v = await ReplicatedVolume.open({ id, sizeBytes: 16 * MiB, replicas, ackMode, durability: 2 });
  cleanup.add(() => v.close());
  return v;
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

test(
  'fastest: writes track the near replica, FLUSH and FUA wait for the durability set',
  { timeout: 60_000 },
  async () => {
    const cleanup = new Cleanup();
    try {
      const v = await wanVolume(cleanup, 'fastest', 'wan-fastest');
      const writes: number[] = [];
      for (let i = 0; i < 30; i++)
        writes.push(await timed(() => v.write(i * 4096, randomBytes(4096), false)));
      const flush = await timed(() => v.flush());
      const fua = await timed(() => v.write(0, randomBytes(4096), true));
      const rtt = 2 * ONE_WAY_MS;
      // Generous bounds for a shared 2-core machine: the point is "near, not far".
      assert.ok(
        median(writes) < rtt / 3,
        `median write ${median(writes).toFixed(1)} ms should be far below RTT ${rtt}`,
      );
      assert.ok(
        flush >= rtt * 0.9,
        `flush ${flush.toFixed(1)} ms must wait for a far replica (durability 2)`,
      );
      assert.ok(fua >= rtt * 0.9, `FUA write ${fua.toFixed(1)} ms must wait for a far replica`);
      const s = v.status();
      const near = s.replicas.find((r) => r.nodeId === 'n1');
      const far = s.replicas.find((r) => r.nodeId === 'n2');
      assert.ok((near?.ewmaMs ?? Infinity) * 3 < (far?.ewmaMs ?? 0), 'latency estimates tell near from far');
      await v.settled();
      assert.ok(v.status().replicas.every((r) => r.lagWrites === 0 && r.state === 'in-sync'));
    } finally {
      await cleanup.run();
    }
  },
);

test('quorum: plain writes wait for a far replica', { timeout: 60_000 }, async () => {
  const cleanup = new Cleanup();
  try {
    const v = await wanVolume(cleanup, 'quorum', 'wan-quorum');
    const writes: number[] = [];
    for (let i = 0; i < 5; i++) writes.push(await timed(() => v.write(i * 4096, randomBytes(4096), false)));
    assert.ok(median(writes) >= 2 * ONE_WAY_MS * 0.9, `quorum write ${median(writes).toFixed(1)} ms`);
  } finally {
    await cleanup.run();
  }
});

test(
  'a killed replica restarts and catches up from the write log, not a full copy',
  { timeout: 90_000 },
  async () => {
    const cleanup = new Cleanup();
    try {
      const dirs = [
        await tempDir(cleanup, 'meridian-k1-'),
        await tempDir(cleanup, 'meridian-k2-'),
        await tempDir(cleanup, 'meridian-k3-'),
      ];
      const nodes = await Promise.all(dirs.map((dir, i) => spawnNode(cleanup, { id: `k${i + 1}`, dir })));
      const v = await ReplicatedVolume.open({
        id: 'vol-kill',
        sizeBytes: 16 * MiB,
        replicas: nodes.map((n, i) => ({
          nodeId: `k${i + 1}`,
          endpoint: { host: '127.0.0.1', port: n.port },
        })),
        ackMode: 'fastest',
        durability: 2,
      });
      cleanup.add(() => v.close());
      const image = Buffer.alloc(16 * MiB);
      const put = async (offset: number, data: Buffer): Promise<void> => {
        await v.write(offset, data, false);
        data.copy(image, offset);
      };
      for (let off = 0; off < 8 * MiB; off += MiB) await put(off, randomBytes(MiB));
      await v.flush();
      await v.settled();

      const victim = nodes[2];
      assert.ok(victim !== undefined);
      await victim.kill(); // SIGKILL: no clean shutdown
      await v.waitFor((s) => s.replicas[2]?.state === 'down');

      // 512 KiB of 4 KiB writes while it is gone; FLUSH still succeeds (durability 2 of 3 live).
      for (let i = 0; i < 128; i++) await put(8 * MiB + i * 8192, randomBytes(4096));
      await v.flush();
      const head = v.headSeq;

      const back = await spawnNode(cleanup, { id: 'k3', dir: dirs[2] ?? '', port: victim.port });
      assert.equal(back.port, victim.port);
      await v.waitFor((s) => s.replicas[2]?.state === 'in-sync' && (s.replicas[2]?.appliedSeq ?? 0) >= head);

      const k3 = v.status().replicas[2];
      assert.equal(k3?.caughtUpWrites, 128, 'exactly the missed writes were replayed');
      assert.equal(k3?.caughtUpBytes, 128 * 4096, 'no full copy: only the missed bytes moved');

      // The restarted replica's own bytes equal what the volume acknowledged.
      const direct = await ReplicaClient.connect({ host: '127.0.0.1', port: back.port });
      cleanup.add(() => direct.close());
      assert.ok(
        (await direct.read('vol-kill', 0, 16 * MiB)).equals(image),
        'restarted replica holds every acknowledged write',
      );
    } finally {
      await cleanup.run();
    }
  },
);
