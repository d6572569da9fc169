/**
 * Faults under a real client: Debian's fio (ioengine=nbd, verify=crc32c) writes while the
 * frontend process or replicas are killed or partitioned. fio records which writes were
 * acknowledged (its verify state, saved when the job dies); after the restart a
 * `--verify_only` run reads every one of them back and checks its crc32c.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { NbdServer } from '../../src/storage/nbd/nbd-server.ts';
import { ReplicaClient } from '../../src/storage/volume/replica-client.ts';
import { ReplicatedVolume, type AckMode } from '../../src/storage/volume/replicated-volume.ts';
import { DelayRelay } from './delay-relay.ts';
import { Cleanup, fio, MiB, spawnFrontend, spawnNode, tempDir } from './harness.ts';

const SIZE = 64 * MiB;
const VOLUME = 'vol-fio';

async function nodes(
  cleanup: Cleanup,
  n: number,
): Promise<{ id: string; dir: string; port: number; kill: () => Promise<void> }[]> {
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const id = `f${i + 1}`;
      const dir = await tempDir(cleanup, `meridian-fio-${id}-`);
      return { id, dir, ...(await spawnNode(cleanup, { id, dir })) };
    }),
  );
}

function frontendArgs(ns: readonly { id: string; port: number }[], ack: AckMode): string[] {
  return [
    '--volume',
    VOLUME,
    '--size',
    String(SIZE),
    ...ns.flatMap((n) => ['--replica', `${n.id}=127.0.0.1:${n.port}`]),
    '--ack',
    ack,
    '--durability',
    '2',
  ];
}

/** A rate-limited random-write job (~5 s) with a FLUSH every 32 writes; same seed every run. */
function writeJob(port: number, extra: readonly string[] = []): string[] {
  return [
    '--name=faults',
    '--ioengine=nbd',
    `--uri=nbd://127.0.0.1:${port}/${VOLUME}`,
    '--rw=randwrite',
    '--bs=4k',
    `--size=${SIZE / MiB / 2}m`,
    '--iodepth=16',
    '--fsync=32',
    '--verify=crc32c',
    '--rate_iops=1600',
    ...extra,
  ];
}

async function frontendKill(ack: AckMode, alsoKillReplica: boolean): Promise<void> {
  const cleanup = new Cleanup();
  try {
    const ns = await nodes(cleanup, 3);
    const cwd = await tempDir(cleanup, 'meridian-fio-cwd-');
    const fe = await spawnFrontend(cleanup, frontendArgs(ns, ack));
    // fio reaches the frontend through a relay that counts the bytes it sends.
    const relay = new DelayRelay({ host: '127.0.0.1', port: fe.port }, 0);
    const relayPort = await relay.listen();
    cleanup.add(() => relay.close());
    const run = fio(cwd, writeJob(relayPort, ['--do_verify=0', '--verify_state_save=0']));
    await relay.upstreamBytes(4 * MiB); // ~1,000 of the job's 8,192 writes sent
    await Promise.all([fe.kill(), alsoKillReplica ? ns[2]?.kill() : undefined]);
    const crashed = await run;
    assert.ok(crashed.code !== 0 || (crashed.job?.error ?? 0) !== 0, 'fio saw the frontend die');
    const written = crashed.job?.write.io_bytes ?? 0;
    assert.ok(
      written > 0 && written < SIZE / 2,
      `killed mid-run (${written} bytes acknowledged): ${crashed.stderr}`,
    );

    // Restart (with the killed replica still gone): a new epoch, resuming after the head.
    const again = await spawnFrontend(cleanup, frontendArgs(ns, ack));
    assert.ok(again.epoch > fe.epoch);
    const verify = await fio(
      cwd,
      // The same job (same seed: same offsets in the same order) verifying only the writes
      // fio saw completed. Replies leave in seq order, so those are the first N it issued.
      // (fio's own --verify_state_load also judged writes that never completed.)
      writeJob(again.port, [
        '--do_verify=1',
        '--verify_only',
        `--number_ios=${written / 4096}`,
        '--rate_iops=0',
      ]),
    );
    assert.equal(verify.job?.error, 0, verify.stderr);
    assert.equal(verify.code, 0, verify.stderr);
    // Every acknowledged write was read back and its crc32c matched.
    assert.equal(verify.job?.read.io_bytes, written);
  } finally {
    await cleanup.run();
  }
}

test(
  'fastest: SIGKILL of the frontend mid-fio loses no acknowledged write (fio verify after restart)',
  { timeout: 180_000 },
  () => frontendKill('fastest', false),
);

test(
  'quorum: SIGKILL of the frontend and a replica at once mid-fio; restarted on the two left, every acknowledged write verifies',
  { timeout: 180_000 },
  () => frontendKill('quorum', true),
);

test(
  'replicas killed, restarted, partitioned and healed during a live fio run: fio verifies, replicas end identical',
  { timeout: 240_000 },
  async () => {
    const cleanup = new Cleanup();
    try {
      const ns = await nodes(cleanup, 3);
      const cwd = await tempDir(cleanup, 'meridian-fio-cwd-');
      // f2 sits behind a relay (no delay) that the test cuts to partition it.
      const n2 = ns[1] as (typeof ns)[0];
      let relay = new DelayRelay({ host: '127.0.0.1', port: n2.port }, 0);
      const relayPort = await relay.listen();
      cleanup.add(() => relay.close());
      const volume = await ReplicatedVolume.open({
        id: VOLUME,
        sizeBytes: SIZE,
        replicas: ns.map((n, i) => ({
          nodeId: n.id,
          endpoint: { host: '127.0.0.1', port: i === 1 ? relayPort : n.port },
        })),
        ackMode: 'fastest',
        durability: 2,
      });
      cleanup.add(() => volume.close());
      const server = new NbdServer({ exports: new Map([[VOLUME, volume]]) });
      const port = await server.listen();
      cleanup.add(() => server.close());

      let fioDone = false;
      // ~20 s of writes, then fio reads everything back and checks each crc32c.
      const run = fio(cwd, [
        ...writeJob(port, ['--do_verify=1', '--rate_iops=800']),
        '--verify_state_save=0',
      ]).finally(() => (fioDone = true));
      const state = (id: string) => (s: ReturnType<ReplicatedVolume['status']>) =>
        s.replicas.find((r) => r.nodeId === id)?.state;
      await volume.waitFor((s) => s.headSeq > 500);

      // 1. f3 killed (SIGKILL) and restarted on its directory: catches up from the log.
      const n3 = ns[2] as (typeof ns)[0];
      await n3.kill();
      await volume.waitFor((s) => state('f3')(s) === 'down');
      const mark = volume.headSeq;
      await volume.waitFor((s) => s.headSeq > mark + 300);
      await spawnNode(cleanup, { id: 'f3', dir: n3.dir, port: n3.port });
      await volume.waitFor((s) => state('f3')(s) === 'in-sync');

      // 2. f2 partitioned (its link cut), then healed on the same port.
      await relay.close();
      await volume.waitFor((s) => state('f2')(s) === 'down');
      const mark2 = volume.headSeq;
      await volume.waitFor((s) => s.headSeq > mark2 + 300);
      relay = new DelayRelay({ host: '127.0.0.1', port: n2.port }, 0);
      await relay.listen(relayPort);
      await volume.waitFor((s) => state('f2')(s) === 'in-sync');
      assert.equal(fioDone, false, 'every fault happened while fio was still writing');

      const result = await run;
      assert.equal(result.job?.error, 0, result.stderr);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.job?.read.io_bytes, SIZE / 2, 'fio verified every block it wrote');

      await volume.flush();
      await volume.settled();
      const s = volume.status();
      assert.ok(s.replicas.every((r) => r.state === 'in-sync' && r.appliedSeq === s.headSeq));
      assert.ok(
        (s.replicas.find((r) => r.nodeId === 'f3')?.caughtUpWrites ?? 0) > 0,
        'f3 caught up from a log',
      );
      assert.ok(
        (s.replicas.find((r) => r.nodeId === 'f2')?.caughtUpWrites ?? 0) > 0,
        'f2 caught up from a log',
      );
      const sums = await Promise.all(
        ns.map(async (n) => {
          const c = await ReplicaClient.connect({ host: '127.0.0.1', port: n.port });
          try {
            const h = createHash('sha256');
            for (let off = 0; off < SIZE; off += 16 * MiB) h.update(await c.read(VOLUME, off, 16 * MiB));
            return h.digest('hex');
          } finally {
            c.close();
          }
        }),
      );
      assert.equal(new Set(sums).size, 1, 'every replica holds the same bytes');
    } finally {
      await cleanup.run();
    }
  },
);
