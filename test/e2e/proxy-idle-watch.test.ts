// LONG TEST (10 minutes by design; end-to-end suite only): a watch through the hub's cluster
// proxy and an agent tunnel stays open while nothing happens for 10 minutes, and still
// delivers the next event. Tunnel pings keep the agent's connection alive meanwhile; no hop
// (hub aggregator, gateway, agent, member) may time the idle watch out.
// MERIDIAN_IDLE_WATCH_MS shortens the idle period for a quick local check (never in CI).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import type { ClusterInfo } from '../../src/testenv/environment.ts';
import { writeKubeconfig } from '../../src/testenv/kubeconfig.ts';
import { useEnvironment } from '../support/environment.ts';
import { spawnKubectl, startProxyFixture } from '../support/proxy-fixture.ts';

const env = useEnvironment();
const IDLE_MS = Number(process.env.MERIDIAN_IDLE_WATCH_MS ?? 10 * 60_000);

test(
  `LONG: a watch through the hub idle for ${IDLE_MS / 60_000} min stays open and delivers the next event`,
  { timeout: IDLE_MS + 10 * 60_000 },
  async () => {
    const e = env.get();
    const member = e.members[0] as ClusterInfo;
    const run = randomBytes(3).toString('hex');
    const cluster = `idle-${run}`;
    const ns = `idle-watch-${run}`;
    const fx = await startProxyFixture(e.info, { clusters: new Map([[cluster, member]]) });
    try {
      await e.kubectl(member.name, ['create', 'namespace', ns]);
      const admin = await fx.user(`idle-admin-${run}`, ['system:masters']);
      const kc = join(fx.dir, 'idle.kubeconfig');
      await writeKubeconfig(kc, {
        cluster,
        server: `${e.hub.server}/apis/proxy.meridian.dev/v1alpha1/clusters/${cluster}/proxy`,
        caPath: e.hub.caPath,
        user: 'idle-admin',
        credentials: admin,
      });
      const w = spawnKubectl(e.info.binDir, kc, ['get', 'configmaps', '-n', ns, '-w', '-o', 'name']);
      try {
        await w.until((s) => s.includes('configmap/kube-root-ca.crt'), 120_000);
        const session = fx.agents.get(cluster)?.session;
        assert.ok(session, 'the agent is connected');
        const pongs = session.pongs;
        // Nothing happens on the watch for IDLE_MS (the sleep is the point of the test).
        await sleep(IDLE_MS);
        assert.equal(w.child.exitCode, null, `the watch is still open: ${w.err()}`);
        assert.equal(fx.agents.get(cluster)?.session, session, 'the same tunnel throughout (no reconnect)');
        assert.ok(
          session.pongs > pongs + Math.floor(IDLE_MS / 10_000),
          `pings kept the tunnel alive (${session.pongs - pongs} pongs)`,
        );
        await e.kubectl(member.name, ['create', 'configmap', 'after-the-wait', '-n', ns]);
        await w.until((s) => s.includes('configmap/after-the-wait\n'), 60_000);
      } finally {
        w.stop();
        await writeFile(join(fx.dir, 'watch.out'), w.out()).catch(() => {});
      }
    } finally {
      await e.kubectl(member.name, ['delete', 'namespace', ns, '--wait=false']).catch(() => {});
      await fx.stop();
    }
  },
);
