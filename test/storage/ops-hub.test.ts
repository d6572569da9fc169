/**
 * Storage operations through the real hub (src/testenv) and the real `meridian` binary:
 * StorageNode and Volume objects, `meridian storage register|nodes` and `meridian volumes
 * create|list|resize|delete`, with storage nodes and a volume frontend as processes. The
 * frontend takes its volume from the hub and reports replica lag and latency there.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';
import { installCrds } from '../../src/controllers/bootstrap/install-crds.ts';
import { ApiClient } from '../../src/kube/api-client.ts';
import { StorageResources } from '../../src/storage/ops/resources.ts';
import type { Volume } from '../../src/api/volume.ts';
import type { StorageNode } from '../../src/api/storage-node.ts';
import type { KubeObject } from '../../src/kube/wire.ts';
import { ReplicaClient } from '../../src/storage/volume/replica-client.ts';
import { eventually } from '../support/eventually.ts';
import { useEnvironment } from '../support/environment.ts';
import { meridian, type CliResult } from '../support/meridian.ts';
import { Cleanup, MiB, run, spawnFrontend, spawnNode, tempDir } from './harness.ts';

const env = useEnvironment();
const ns = `storage-${randomBytes(3).toString('hex')}`;
const cleanup = new Cleanup();
let hub: ApiClient;
const nodes = new Map<string, number>(); // id → port
const kills = new Map<string, () => Promise<void>>();
/** The nodes `volumes create db` chose (two of the three eu nodes, and us-1). */
let chosen: string[] = [];

const NODES = [
  { id: 'eu-1', labels: 'region=eu,site=fra' },
  { id: 'eu-2', labels: 'region=eu,site=ams' },
  { id: 'eu-3', labels: 'region=eu,site=cdg' },
  { id: 'us-1', labels: 'region=us,site=iad' },
  { id: 'ap-1', labels: 'region=apac,provider=cheapcloud' },
];

const cli = (...args: string[]): Promise<CliResult> =>
  meridian([...args, '-n', ns, '--kubeconfig', env.get().hub.kubeconfig]);

function tableRows(stdout: string): Record<string, string>[] {
  const [header, ...rows] = stdout.trimEnd().split('\n');
  const keys = (header ?? '').trim().split(/\s+/);
  return rows.map((line) =>
    Object.fromEntries(
      line
        .trim()
        .split(/\s+/)
        .map((c, i) => [keys[i] ?? i, c]),
    ),
  );
}

// Inside a suite: root-level before hooks do not wait for the environment's own.
describe('storage operations through the hub', () => {
  before(async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(env.get().hub.kubeconfig);
    hub = await ApiClient.fromKubeConfig(kc);
    // The Volume and StorageNode CRDs with the others (idempotent).
    await installCrds(hub, AbortSignal.timeout(120_000));
    await env.get().kubectl('hub', ['create', 'namespace', ns]);
    cleanup.add(async () => {
      await env.get().kubectl('hub', ['delete', 'namespace', ns, '--wait=false']);
    });
    for (const n of NODES) {
      const dir = await tempDir(cleanup, `meridian-ops-${n.id}-`);
      const proc = await spawnNode(cleanup, { id: n.id, dir, labels: n.labels });
      nodes.set(n.id, proc.port);
      kills.set(n.id, proc.kill);
    }
  });

  after(() => cleanup.run());

  test('storage register records each node with the labels it reports; a wrong id is refused', async () => {
    for (const [id, port] of nodes) {
      const r = await cli('storage', 'register', id, '--endpoint', `127.0.0.1:${port}`);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`storage node ${id} registered \\(ok, `));
    }
    const eu1 = await hub.get<StorageNode & KubeObject>(StorageResources.StorageNode, {
      namespace: ns,
      name: 'eu-1',
    });
    assert.deepEqual(eu1.metadata.labels, { region: 'eu', site: 'fra' });
    assert.equal(eu1.status?.health, 'ok');
    assert.equal(eu1.spec.endpoint.port, nodes.get('eu-1'));
    const wrong = await cli(
      'storage',
      'register',
      'eu-9',
      '--endpoint',
      `127.0.0.1:${nodes.get('eu-1') ?? 0}`,
    );
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /is eu-1, not eu-9/);
  });

  test('volumes create places by policy (sovereignty first), refuses what it cannot place, validates input', async () => {
    const r = await cli(
      'volumes',
      'create',
      'db',
      '--size',
      '64Mi',
      '--replicas',
      'region=eu:2',
      '--replicas',
      'region=us:1',
      '--forbid',
      'provider=cheapcloud',
      '--durability',
      '2',
      '-o',
      'json',
    );
    assert.equal(r.code, 0, r.stderr);
    const created = JSON.parse(r.stdout) as {
      phase: string;
      sizeBytes: number;
      replicas: { node: string }[];
    };
    assert.equal(created.phase, 'Placed');
    assert.equal(created.sizeBytes, 64 * MiB);
    chosen = created.replicas.map((x) => x.node).sort();
    assert.equal(chosen.length, 3);
    assert.equal(chosen.filter((x) => x.startsWith('eu-')).length, 2);
    assert.ok(chosen.includes('us-1'));
    const v = await hub.get<Volume & KubeObject>(StorageResources.Volume, { namespace: ns, name: 'db' });
    assert.equal(v.status?.placement?.find((p) => p.node === 'ap-1')?.verdict, 'rejected');

    const refused = await cli(
      'volumes',
      'create',
      'bad',
      '--size',
      '1Mi',
      '--replicas',
      'region=apac:1',
      '--forbid',
      'provider=cheapcloud',
    );
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /cannot place volume bad: cannot place replicas\[0\]/);
    assert.match(refused.stderr, /ap-1: rejected — forbidden\[0\]/);
    const none = await hub.list(StorageResources.Volume, { namespace: ns });
    assert.deepEqual(
      none.items.map((x) => x.metadata?.name),
      ['db'],
      'a refused volume leaves no object',
    );

    const badSize = await cli('volumes', 'create', 'x', '--size', 'lots');
    assert.equal(badSize.code, 1);
    assert.match(badSize.stderr, /lots is not a size/);
    const dup = await cli('volumes', 'create', 'db', '--size', '1Mi', '--replicas', ':1');
    assert.equal(dup.code, 2);
    assert.match(dup.stderr, /volume db already exists/);
  });

  test('a frontend serving the volume from the hub reports lag and latency, and rebuilds a lost replica on the spare allowed node; storage nodes and volumes list show it', async () => {
    const fe = await spawnFrontend(cleanup, [
      '--volume',
      'db',
      '--hub-kubeconfig',
      env.get().hub.kubeconfig,
      '--namespace',
      ns,
      '--report-interval-ms',
      '200',
      '--replace-lost-after-ms',
      '500',
    ]);
    await run('qemu-io', [
      '-f',
      'raw',
      `nbd://127.0.0.1:${fe.port}/db`,
      '-c',
      'write -P 0x44 0 4M',
      '-c',
      'flush',
    ]);
    const v = await eventually(
      async () => {
        const got = await hub.get<Volume & KubeObject>(StorageResources.Volume, {
          namespace: ns,
          name: 'db',
        });
        const reps = got.status?.replicas ?? [];
        assert.ok(
          reps.length === 3 &&
            reps.every((x) => x.state === 'in-sync' && x.ewmaMs !== undefined && x.lagWrites === 0),
        );
        return got;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    assert.ok((v.status?.headSeq ?? 0) > 0);

    const json = await cli('storage', 'nodes', '-o', 'json');
    assert.equal(json.code, 0, json.stderr);
    const items = (
      JSON.parse(json.stdout) as {
        items: {
          name: string;
          health: string;
          rttMs: number | null;
          replicas: {
            volume: string;
            onNode: string;
            lagWrites: number;
            ewmaMs: number | null;
            appliedSeq: number;
          }[];
        }[];
      }
    ).items;
    assert.deepEqual(
      items.map((n) => n.name),
      ['ap-1', 'eu-1', 'eu-2', 'eu-3', 'us-1'],
    );
    assert.deepEqual(items.find((n) => n.name === 'ap-1')?.replicas, []);
    for (const id of chosen) {
      const n = items.find((x) => x.name === id);
      assert.equal(n?.health, 'ok');
      assert.ok(typeof n?.rttMs === 'number');
      const rep = n?.replicas[0];
      assert.equal(rep?.volume, 'db');
      assert.equal(rep?.onNode, 'present');
      assert.equal(rep?.lagWrites, 0);
      assert.ok(typeof rep?.ewmaMs === 'number');
      assert.equal(rep?.appliedSeq, v.status?.headSeq);
    }
    const table = await cli('storage', 'nodes');
    assert.equal(table.code, 0, table.stderr);
    const [nodeTable, replicaTable] = table.stdout.split('\n\n');
    assert.deepEqual(
      tableRows(nodeTable ?? '').map((r) => r['NODE']),
      ['ap-1', 'eu-1', 'eu-2', 'eu-3', 'us-1'],
    );
    const eu1 = tableRows(replicaTable ?? '').find((r) => r['NODE'] === chosen[0]);
    assert.equal(eu1?.['VOLUME'], 'db');
    assert.equal(eu1?.['STATE'], 'in-sync');
    assert.equal(eu1?.['LAG'], '0');
    assert.match(eu1?.['LATENCY-MS(EWMA/P99)'] ?? '', /^\d+\.\d+\/\d+\.\d+$/);

    const list = await cli('volumes', 'list');
    assert.equal(list.code, 0, list.stderr);
    const row = tableRows(list.stdout).find((r) => r['NAME'] === 'db');
    assert.equal(row?.['SIZE'], '64Mi');
    assert.equal(row?.['PHASE'], 'Placed');
    assert.equal(row?.['ACK'], 'fastest');

    // A chosen eu node lost for good: the frontend rebuilds its replica on the spare eu
    // node (never on ap-1: forbidden), and reports the new membership to the hub.
    const lost = chosen.find((x) => x.startsWith('eu-')) as string;
    const spare = ['eu-1', 'eu-2', 'eu-3'].find((x) => !chosen.includes(x)) as string;
    await kills.get(lost)?.();
    await run('qemu-io', [
      '-f',
      'raw',
      `nbd://127.0.0.1:${fe.port}/db`,
      '-c',
      'write -P 0x45 4M 4M',
      '-c',
      'flush',
    ]);
    await eventually(
      async () => {
        const got = await hub.get<Volume & KubeObject>(StorageResources.Volume, {
          namespace: ns,
          name: 'db',
        });
        const reps = got.status?.replicas ?? [];
        const names = reps.map((x) => x.node).sort();
        assert.deepEqual(
          names,
          chosen
            .filter((x) => x !== lost)
            .concat(spare)
            .sort(),
        );
        assert.ok(reps.every((x) => x.state === 'in-sync' && x.rebuilding === false));
        assert.ok((got.status?.epoch ?? 0) > (v.status?.epoch ?? 0), 'the epoch moved on');
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    const check = await run('qemu-io', [
      '-f',
      'raw',
      '-r',
      `nbd://127.0.0.1:${fe.port}/db`,
      '-c',
      'read -P 0x44 0 4M',
      '-c',
      'read -P 0x45 4M 4M',
    ]);
    assert.doesNotMatch(check.stdout, /Pattern verification failed|error/i);
    const after = JSON.parse((await cli('storage', 'nodes', '-o', 'json')).stdout) as {
      items: { name: string; health: string; replicas: { volume: string; onNode: string }[] }[];
    };
    assert.equal(after.items.find((n) => n.name === lost)?.health, 'unreachable');
    assert.deepEqual(
      after.items.find((n) => n.name === spare)?.replicas.map((r) => [r.volume, r.onNode]),
      [['db', 'present']],
    );
    chosen = chosen
      .filter((x) => x !== lost)
      .concat(spare)
      .sort();
    await fe.kill();
  });

  test('volumes resize grows every replica and the Volume, never shrinks; delete removes replicas and object', async () => {
    const grow = await cli('volumes', 'resize', 'db', '--size', '128Mi');
    assert.equal(grow.code, 0, grow.stderr);
    assert.match(grow.stdout, /volume db is 128Mi/);
    const v = await hub.get<Volume & KubeObject>(StorageResources.Volume, { namespace: ns, name: 'db' });
    assert.equal(v.spec.sizeBytes, 128 * MiB);
    const info = async (id: string) => {
      const c = await ReplicaClient.connect({ host: '127.0.0.1', port: nodes.get(id) ?? 0 });
      try {
        return await c.nodeInfo();
      } finally {
        c.close();
      }
    };
    assert.equal((await info('us-1')).allocatedBytes, 128 * MiB);
    const shrink = await cli('volumes', 'resize', 'db', '--size', '1Mi');
    assert.equal(shrink.code, 1);
    assert.match(shrink.stderr, /can grow, not shrink/);

    const del = await cli('volumes', 'delete', 'db');
    assert.equal(del.code, 0, del.stderr);
    for (const id of chosen) assert.equal((await info(id)).volumes, 0, id);
    const list = await cli('volumes', 'list', '-o', 'json');
    assert.deepEqual((JSON.parse(list.stdout) as { items: unknown[] }).items, []);
    const missing = await cli('volumes', 'delete', 'db');
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /no volume db/);
  });
});
