/**
 * Sites emulated as network namespaces: every storage node runs in its own namespace
 * (`ip netns`, veth link to the test's namespace) and is reached through a DelayRelay on
 * its site's link — 1 ms one way to the near site, 30 ms to the region, 150 ms to the far
 * one. A fourth, low-latency site is in a region the policy forbids. Skips (with the
 * reason) where namespaces cannot be created: not root, or no `ip netns`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { place } from '../../src/storage/placement/place.ts';
import type { VolumePolicy } from '../../src/storage/placement/policy.ts';
import {
  ReplicatedVolume,
  type AckMode,
  type ReplicaSpec,
} from '../../src/storage/volume/replicated-volume.ts';
import { ReplicaClient } from '../../src/storage/volume/replica-client.ts';
import { eventually } from '../support/eventually.ts';
import { DelayRelay } from './delay-relay.ts';
import { Cleanup, MiB, tempDir } from './harness.ts';
import { createSite, netnsUnavailable, spawnNodeInSite } from './netns.ts';

const unavailable = await netnsUnavailable();

const SITES = [
  { name: 'near', oneWayMs: 1, labels: 'site=near,region=eu' },
  { name: 'region', oneWayMs: 30, labels: 'site=region,region=eu' },
  { name: 'far', oneWayMs: 150, labels: 'site=far,region=us' },
  { name: 'offshore', oneWayMs: 1, labels: 'site=offshore,region=apac' },
] as const;

type World = {
  nodes: { id: string; relayPort: number; direct: { host: string; port: number }; relay: DelayRelay }[];
};

async function world(cleanup: Cleanup): Promise<World> {
  const nodes: World['nodes'] = [];
  for (const s of SITES) {
    const site = await createSite(cleanup, s.name);
    const node = await spawnNodeInSite(cleanup, site, {
      id: s.name,
      dir: await tempDir(cleanup, `meridian-ns-${s.name}-`),
      labels: s.labels,
    });
    const direct = { host: site.address, port: node.port };
    const relay = new DelayRelay(direct, s.oneWayMs);
    const relayPort = await relay.listen();
    cleanup.add(() => relay.close());
    nodes.push({ id: s.name, relayPort, direct, relay });
  }
  return { nodes };
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
  'namespaced sites: placement honours sovereignty, fastest tracks the near site, FLUSH waits for the durability set, a partitioned site resyncs from the log',
  { skip: unavailable ?? false, timeout: 180_000 },
  async () => {
    const cleanup = new Cleanup();
    try {
      const { nodes } = await world(cleanup);
      const endpoint = (id: string): { host: string; port: number } => ({
        host: '127.0.0.1',
        port: nodes.find((n) => n.id === id)?.relayPort ?? 0,
      });

      // Placement from what the nodes report through their links; apac is forbidden even
      // though it is as close as the near site.
      const candidates = await Promise.all(
        nodes.map(async (n) => {
          const c = await ReplicaClient.connect(endpoint(n.id));
          try {
            const info = await c.nodeInfo();
            return {
              nodeId: info.nodeId,
              labels: info.labels,
              freeBytes: info.freeBytes,
              health: info.health,
            };
          } finally {
            c.close();
          }
        }),
      );
      const policy: VolumePolicy = {
        replicas: [{ selector: {}, count: 3 }],
        forbidden: [{ region: 'apac' }],
      };
      const placed = place(policy, candidates, 8 * MiB);
      assert.ok(placed.ok, placed.ok ? '' : placed.reason);
      const chosen = placed.replicas.map((r) => r.nodeId).sort();
      assert.deepEqual(chosen, ['far', 'near', 'region']);
      assert.match(
        placed.explanation.find((v) => v.nodeId === 'offshore')?.reason ?? '',
        /region=apac/,
        'the forbidden site is rejected by the sovereignty rule',
      );
      const replicas: ReplicaSpec[] = chosen.map((id) => ({ nodeId: id, endpoint: endpoint(id) }));
      const open = async (id: string, ackMode: AckMode): Promise<ReplicatedVolume> => {
        const v = await ReplicatedVolume.open({ id, sizeBytes: 8 * MiB, replicas, ackMode, durability: 2 });
        cleanup.add(() => v.close());
        return v;
      };

      // fastest: plain writes at the near site's pace; FLUSH and FUA at the region's.
      const v = await open('vol-fastest', 'fastest');
      const image = Buffer.alloc(8 * MiB);
      const put = async (offset: number, data: Buffer, fua = false): Promise<void> => {
        await v.write(offset, data, fua);
        data.copy(image, offset);
      };
      const writes: number[] = [];
      for (let i = 0; i < 30; i++) writes.push(await timed(() => put(i * 4096, randomBytes(4096))));
      const flush = await timed(() => v.flush());
      const fua = await timed(() => put(0, randomBytes(4096), true));
      const near = 2 * 1;
      const region = 2 * 30;
      const far = 2 * 150;
      assert.ok(median(writes) >= near * 0.9, `write ${median(writes).toFixed(1)} ms crosses the near link`);
      assert.ok(
        median(writes) < region / 3,
        `fastest write ${median(writes).toFixed(1)} ms tracks the near site`,
      );
      for (const [what, ms] of [
        ['FLUSH', flush],
        ['FUA write', fua],
      ] as const) {
        assert.ok(ms >= region * 0.9, `${what} ${ms.toFixed(1)} ms waits for the region (durability 2)`);
        assert.ok(ms < far * 0.9, `${what} ${ms.toFixed(1)} ms does not wait for the far site`);
      }
      // The far site's acks (300 ms round trip) may still be in flight: nothing above waits
      // for them, so its estimate exists only once one has come back.
      await eventually(
        async () => {
          const est = Object.fromEntries(v.status().replicas.map((r) => [r.nodeId, r.ewmaMs ?? NaN]));
          assert.ok(
            (est['near'] ?? NaN) < (est['region'] ?? NaN) && (est['region'] ?? NaN) < (est['far'] ?? NaN),
            `latency estimates order the sites: ${JSON.stringify(est)}`,
          );
        },
        { timeoutMs: 5_000, intervalMs: 50 },
      );

      // quorum: a plain write needs two sites, so it takes the region's round trip.
      const q = await open('vol-quorum', 'quorum');
      const qw: number[] = [];
      for (let i = 0; i < 5; i++) qw.push(await timed(() => q.write(i * 4096, randomBytes(4096), false)));
      assert.ok(
        median(qw) >= region * 0.9 && median(qw) < far * 0.9,
        `quorum write ${median(qw).toFixed(1)} ms`,
      );

      // Partition the region's link mid-stream; flushed writes keep succeeding (near + far).
      const cut = nodes.find((n) => n.id === 'region');
      assert.ok(cut !== undefined);
      const stream = (async () => {
        for (let i = 0; i < 40; i++) {
          await put(MiB + i * 8192, randomBytes(4096));
          if (i % 10 === 9) await v.flush();
        }
      })();
      await new Promise((r) => setTimeout(r, 20));
      await cut.relay.close();
      await v.waitFor((s) => s.replicas.find((r) => r.nodeId === 'region')?.state === 'down');
      await stream;
      for (let i = 0; i < 20; i++) await put(2 * MiB + i * 4096, randomBytes(4096));
      await v.flush();
      const head = v.headSeq;

      // Heal: the link comes back where it was; the region catches up from a peer's log.
      cut.relay = new DelayRelay(cut.direct, 30);
      await cut.relay.listen(cut.relayPort);
      cleanup.add(() => cut.relay.close());
      await v.waitFor((s) => {
        const r = s.replicas.find((x) => x.nodeId === 'region');
        return r?.state === 'in-sync' && r.appliedSeq >= head;
      });
      const back = v.status().replicas.find((r) => r.nodeId === 'region');
      assert.ok((back?.caughtUpWrites ?? 0) > 0, 'the returning site replayed missed writes');
      assert.ok((back?.caughtUpBytes ?? Infinity) <= 64 * 4096, 'from the log, not a full copy');
      await v.settled();

      // Every site holds exactly the acknowledged image; the forbidden site holds nothing.
      for (const n of nodes) {
        const c = await ReplicaClient.connect(n.direct);
        cleanup.add(() => c.close());
        if (n.id === 'offshore') {
          assert.equal((await c.nodeInfo()).volumes, 0, 'no data ever reached the forbidden site');
          continue;
        }
        assert.ok(
          (await c.read('vol-fastest', 0, 8 * MiB)).equals(image),
          `${n.id} holds every acknowledged write`,
        );
      }
    } finally {
      await cleanup.run();
    }
  },
);
