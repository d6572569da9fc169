/**
 * A replica node lost for good mid-write: the volume keeps serving, the lost replica is
 * rebuilt by a full copy on another node the policy allows (never a forbidden one), the
 * epoch moves on so the lost node is fenced, and every replica ends byte-identical to
 * what the volume acknowledged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StaleEpochError } from '../../src/storage/errors.ts';
import { place } from '../../src/storage/placement/place.ts';
import type { CandidateNode, VolumePolicy } from '../../src/storage/placement/policy.ts';
import { ReplicaClient } from '../../src/storage/volume/replica-client.ts';
import { ReplicaReplacer, type ReplacementDecision } from '../../src/storage/volume/replica-replacer.ts';
import { ReplicatedVolume } from '../../src/storage/volume/replicated-volume.ts';
import { Cleanup, MiB, spawnNode, tempDir } from './harness.ts';

const SIZE = 32 * MiB;
const VOLUME = 'vol-rebuild';

// The forbidden node sorts first: were sovereignty not enforced, it would be picked.
const NODES = [
  { id: 'a-us', labels: 'region=us,tier=ssd' },
  { id: 'eu-1', labels: 'region=eu,tier=ssd' },
  { id: 'eu-2', labels: 'region=eu,tier=ssd' },
  { id: 'eu-3', labels: 'region=eu,tier=ssd' },
  { id: 'eu-4', labels: 'region=eu,tier=ssd' },
];
const POLICY: VolumePolicy = {
  replicas: [{ selector: { tier: 'ssd' }, count: 3 }],
  forbidden: [{ region: 'us' }],
};

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test(
  'a replica lost mid-write is rebuilt on an allowed node while writes go on; all replicas identical',
  { timeout: 300_000 },
  async () => {
    const cleanup = new Cleanup();
    try {
      const nodes = await Promise.all(
        NODES.map(async (n) => {
          const dir = await tempDir(cleanup, `meridian-rb-${n.id}-`);
          const proc = await spawnNode(cleanup, { id: n.id, dir, labels: n.labels });
          return { ...n, dir, ...proc, endpoint: { host: '127.0.0.1', port: proc.port } };
        }),
      );
      const byId = new Map(nodes.map((n) => [n.id, n]));
      const candidates: CandidateNode[] = await Promise.all(
        nodes.map(async (n) => {
          const c = await ReplicaClient.connect(n.endpoint);
          try {
            const info = await c.nodeInfo();
            return { nodeId: n.id, labels: info.labels, freeBytes: info.freeBytes, health: info.health };
          } finally {
            c.close();
          }
        }),
      );
      // Equal free space (one file system): placement then prefers node ids in order.
      const placement = place(
        POLICY,
        candidates.map((c) => ({ ...c, freeBytes: 1024 * MiB })),
        SIZE,
      );
      assert.ok(placement.ok, 'initial placement');
      const members = placement.replicas.map((r) => r.nodeId);
      assert.deepEqual(members, ['eu-1', 'eu-2', 'eu-3']);

      const volume = await ReplicatedVolume.open({
        id: VOLUME,
        sizeBytes: SIZE,
        replicas: members.map((id) => ({
          nodeId: id,
          endpoint: byId.get(id)?.endpoint ?? { host: '', port: 0 },
        })),
        ackMode: 'fastest',
        durability: 2,
      });
      cleanup.add(() => volume.close());

      const image = Buffer.alloc(SIZE);
      // 24 MiB of data before the loss, so the copy has something to move.
      for (let off = 0; off < 24 * MiB; off += MiB) {
        const data = randomBytes(MiB);
        await volume.write(off, data, false);
        data.copy(image, off);
      }
      await volume.flush();
      const epochBefore = volume.epoch;

      const decisions: ReplacementDecision[] = [];
      const replacer = new ReplicaReplacer({
        volume,
        policy: POLICY,
        sizeBytes: SIZE,
        rules: new Map(placement.replicas.map((r) => [r.nodeId, r.rule])),
        nodes: () => nodes.map((n) => ({ nodeId: n.id, endpoint: n.endpoint })),
        lostAfterMs: 500,
        onDecision: (d) => decisions.push(d),
      });
      cleanup.add(() => replacer.stop());

      // Four writers, each on its own quarter (no overlapping writes in flight, so the
      // expected image is exact), flushing every 16 writes.
      let stop = false;
      let ackedDuringRebuild = 0;
      const writer = async (w: number): Promise<void> => {
        const base = w * (SIZE / 4);
        for (let i = 0; !stop; i++) {
          const len = [4096, 65536, 12288 + 512][i % 3] as number;
          const offset = base + randomInt(0, (SIZE / 4 - len) / 512) * 512;
          const data = randomBytes(len);
          await volume.write(offset, data, false);
          data.copy(image, offset);
          if (volume.status().replicas.some((r) => r.rebuilding)) ackedDuringRebuild++;
          if (i % 16 === 15) await volume.flush();
        }
      };
      const writers = [0, 1, 2, 3].map(writer);

      await volume.waitFor((s) => s.headSeq > 24 + 200);
      const victim = byId.get('eu-2');
      assert.ok(victim !== undefined);
      await victim.kill(); // SIGKILL, never restarted as a member

      await volume.waitFor(
        (s) =>
          s.replicas.some((r) => r.nodeId === 'eu-4' && r.state === 'in-sync' && !r.rebuilding) &&
          !s.replicas.some((r) => r.nodeId === 'eu-2'),
      );
      // Writes keep going a little after the rebuild, then everything is flushed.
      const after = volume.headSeq;
      await volume.waitFor((s) => s.headSeq > after + 100);
      stop = true;
      await Promise.all(writers);
      await volume.flush();
      await volume.settled();

      assert.ok(ackedDuringRebuild > 0, 'writes were acknowledged while the copy ran');
      const rebuilt = decisions.filter((d) => d.result === 'rebuilt');
      assert.equal(rebuilt.length, 1, JSON.stringify(decisions));
      const d = rebuilt[0] as ReplacementDecision;
      assert.equal(d.lost, 'eu-2');
      assert.ok(d.placement.ok && d.placement.replicas[0]?.nodeId === 'eu-4');
      const us = d.placement.explanation.find((e) => e.nodeId === 'a-us');
      assert.equal(us?.verdict, 'rejected');
      assert.match(us?.reason ?? '', /forbidden/);

      const s = volume.status();
      assert.deepEqual(s.replicas.map((r) => r.nodeId).sort(), ['eu-1', 'eu-3', 'eu-4']);
      assert.ok(s.replicas.every((r) => r.state === 'in-sync' && r.appliedSeq === s.headSeq));
      assert.ok(s.epoch > epochBefore, `epoch moved on (${epochBefore} → ${s.epoch})`);
      const eu4 = s.replicas.find((r) => r.nodeId === 'eu-4');
      assert.ok((eu4?.rebuiltBytes ?? 0) >= 24 * MiB && (eu4?.rebuiltBytes ?? 0) <= SIZE, 'a full copy');

      // Every member, read directly (block checksums verified on read), equals the image.
      const want = sha(image);
      for (const id of ['eu-1', 'eu-3', 'eu-4']) {
        const c = await ReplicaClient.connect(byId.get(id)?.endpoint ?? { host: '', port: 0 });
        try {
          assert.equal(sha(await c.read(VOLUME, 0, SIZE)), want, `${id} holds every acknowledged write`);
          assert.equal((await c.nodeInfo()).checksumErrors, 0);
        } finally {
          c.close();
        }
      }
      // The forbidden node never received anything.
      const usClient = await ReplicaClient.connect(byId.get('a-us')?.endpoint ?? { host: '', port: 0 });
      try {
        assert.equal((await usClient.nodeInfo()).volumes, 0);
      } finally {
        usClient.close();
      }
      // The lost node stayed at the old epoch; the survivors refuse that epoch.
      const lostState = JSON.parse(
        await readFile(join(victim.dir, 'volumes', VOLUME, 'state.json'), 'utf8'),
      ) as { epoch: number };
      assert.ok(lostState.epoch < s.epoch);
      const eu1 = await ReplicaClient.connect(byId.get('eu-1')?.endpoint ?? { host: '', port: 0 });
      try {
        await assert.rejects(eu1.flush(VOLUME, lostState.epoch), StaleEpochError);
      } finally {
        eu1.close();
      }
    } finally {
      await cleanup.run();
    }
  },
);
