// Two gateway replicas serving one fleet: an agent holds a tunnel to one replica (the one a
// load balancer in front of them gave it); a request reaching the other replica is forwarded
// to it. Killing the replica that holds the tunnel: the agent reconnects through the load
// balancer to the survivor, which serves — directly and through the hub.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { writeKubeconfig } from '../../src/testenv/kubeconfig.ts';
import type { ClusterInfo } from '../../src/testenv/environment.ts';
import type { KeyPair } from '../../src/testenv/pki.ts';
import { eventually } from '../support/eventually.ts';
import { useEnvironment } from '../support/environment.ts';
import { startProxyFixture, type ProxyFixture } from '../support/proxy-fixture.ts';

const env = useEnvironment();
const run = randomBytes(3).toString('hex');
const CLUSTER = `rep-${run}`;
const ns = `replicas-${run}`;
let fx: ProxyFixture;
let lb: FailoverBalancer;
let admin: KeyPair;

/**
 * A TCP load balancer standing in for the Service in front of the replicas: each connection
 * goes to the first backend that accepts it (TLS passes through untouched).
 */
interface FailoverBalancer {
  readonly port: number;
  close(): Promise<void>;
}

async function failoverBalancer(backends: () => readonly number[]): Promise<FailoverBalancer> {
  const conns = new Set<Socket>();
  const server: Server = createServer((client) => {
    conns.add(client);
    client.on('close', () => conns.delete(client));
    client.on('error', () => client.destroy());
    client.pause();
    const tryAt = (i: number): void => {
      const port = backends()[i];
      if (port === undefined) {
        client.destroy();
        return;
      }
      const up = connect(port, '127.0.0.1');
      up.once('error', () => tryAt(i + 1));
      up.once('connect', () => {
        up.removeAllListeners('error');
        conns.add(up);
        up.on('close', () => conns.delete(up));
        up.on('error', () => client.destroy());
        client.on('close', () => up.destroy());
        up.on('close', () => client.destroy());
        client.pipe(up);
        up.pipe(client);
        client.resume();
      });
    };
    tryAt(0);
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      for (const c of conns) c.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A kubeconfig for the admin to the direct path of replica `i`. */
async function viaReplica(i: number): Promise<string> {
  const path = join(fx.dir, `admin@replica-${i}.kubeconfig`);
  await writeKubeconfig(path, {
    cluster: CLUSTER,
    server: `${fx.gateways[i]!.url}/clusters/${CLUSTER}`,
    caPath: env.get().hub.caPath,
    user: 'replicas-admin',
    credentials: admin,
  });
  return path;
}

/** The admin's kubeconfig through the hub's aggregated API (the APIService points at the balancer). */
async function viaHub(): Promise<string> {
  const path = join(fx.dir, 'admin@hub-proxy.kubeconfig');
  await writeKubeconfig(path, {
    cluster: CLUSTER,
    server: `${env.get().hub.server}/apis/proxy.meridian.dev/v1alpha1/clusters/${CLUSTER}/proxy`,
    caPath: env.get().hub.caPath,
    user: 'replicas-admin',
    credentials: admin,
  });
  return path;
}

const names = (out: string) => out.split('\n').filter((l) => l !== '');

describe('gateway replicas', () => {
  const member = (): ClusterInfo => env.get().members[0]!;
  let ports: number[] = [];

  before(async () => {
    const e = env.get();
    // Agents and the hub reach the replicas through the balancer; it needs their ports, which
    // exist only once they listen — hence the indirection.
    lb = await failoverBalancer(() => ports);
    fx = await startProxyFixture(e.info, {
      clusters: new Map([[CLUSTER, member()]]),
      replicas: 2,
      agentGatewayUrl: () => `https://127.0.0.1:${lb.port}`,
      startAgents: false,
      register: false,
    });
    ports = fx.gateways.map((g) => g.port);
    fx.agents.set(CLUSTER, await fx.newAgent(CLUSTER));
    await fx.gateways[0]!.agents.connected(CLUSTER, AbortSignal.timeout(60_000));
    admin = await fx.user(`replicas-admin-${run}`, ['system:masters']);
    await fx.register(lb.port);
    await e.kubectl(member().name, ['create', 'namespace', ns]);
  });
  after(async () => {
    await env
      .get()
      .kubectl(member().name, ['delete', 'namespace', ns, '--wait=false'])
      .catch(() => {});
    await fx?.stop();
    await lb?.close();
  });

  test('the agent holds one tunnel, to replica 0 (the balancer’s first choice)', () => {
    assert.equal(fx.gateways[0]!.agents.connections(CLUSTER).length, 1);
    assert.equal(fx.gateways[1]!.agents.connections(CLUSTER).length, 0);
  });

  test('a request through either replica reaches the member (replica 1 forwards to replica 0)', async () => {
    const before = fx.audits.length;
    for (const i of [0, 1]) {
      const out = await fx.kubectl(await viaReplica(i), ['get', 'namespace', ns, '-o', 'name']);
      assert.equal(out.stdout, `namespace/${ns}\n`, `through replica ${i}`);
    }
    const recs = fx.audits.slice(before).filter((r) => r.path.startsWith(`/api/v1/namespaces/${ns}`));
    assert.ok(
      recs.some((r) => r.via === 'peer' && r.status === 200),
      JSON.stringify(recs),
    );
    assert.equal(recs.filter((r) => r.via === 'direct' && r.status === 200).length, 2, JSON.stringify(recs));
  });

  test('through replica 1: a request with a body (create) and an upgraded one (exec) are forwarded', async () => {
    const kc = await viaReplica(1);
    await fx.kubectl(kc, ['create', 'configmap', 'via-peer', '-n', ns, '--from-literal=k=v']);
    const got = await env
      .get()
      .kubectl(member().name, ['get', 'configmap', 'via-peer', '-n', ns, '-o', 'jsonpath={.data.k}']);
    assert.equal(got.stdout, 'v');
    await fx.kubectl(kc, ['create', 'deployment', 'web', '-n', ns, '--image=nginx:1.27']);
    await fx.kubectl(kc, ['wait', '-n', ns, 'deployment/web', '--for=jsonpath={.status.readyReplicas}=1', '--timeout=180s']); // prettier-ignore
    const pod = (await fx.kubectl(kc, ['get', 'pods', '-n', ns, '-o', 'jsonpath={.items[0].metadata.name}']))
      .stdout;
    const out = await fx.kubectl(kc, [
      'exec',
      '-n',
      ns,
      pod,
      '--',
      'sh',
      '-c',
      'echo "cluster=$MERIDIAN_CLUSTER"',
    ]);
    assert.equal(out.stdout, `cluster=${member().name}\n`);
  });

  test('killing replica 0: the agent moves to replica 1, which serves directly and through the hub', async () => {
    const hubKc = await viaHub();
    assert.deepEqual(
      names((await fx.kubectl(hubKc, ['get', 'configmap', 'via-peer', '-n', ns, '-o', 'name'])).stdout),
      ['configmap/via-peer'],
    );
    const t0 = performance.now();
    await fx.gateways[0]!.close();
    await fx.gateways[1]!.agents.connected(CLUSTER, AbortSignal.timeout(60_000));
    const reconnectMs = Math.round(performance.now() - t0);
    const out = await fx.kubectl(await viaReplica(1), [
      'get',
      'configmap',
      'via-peer',
      '-n',
      ns,
      '-o',
      'name',
    ]);
    assert.equal(out.stdout, 'configmap/via-peer\n');
    // The hub's aggregator reaches replica 1 through the balancer too.
    await eventually(
      async () => {
        const h = await fx.kubectl(hubKc, ['get', 'configmap', 'via-peer', '-n', ns, '-o', 'name']);
        assert.equal(h.stdout, 'configmap/via-peer\n');
      },
      { timeoutMs: 60_000 },
    );
    assert.ok(reconnectMs < 30_000, `agent back on replica 1 within ${reconnectMs} ms`);
  });

  test('replica 0 restarted: it forwards to replica 1, which now holds the tunnel', async () => {
    await fx.restartReplica(0);
    assert.equal(fx.gateways[0]!.agents.connections(CLUSTER).length, 0);
    const before = fx.audits.length;
    const out = await fx.kubectl(await viaReplica(0), [
      'get',
      'configmap',
      'via-peer',
      '-n',
      ns,
      '-o',
      'name',
    ]);
    assert.equal(out.stdout, 'configmap/via-peer\n');
    assert.ok(fx.audits.slice(before).some((r) => r.via === 'peer' && r.status === 200));
  });
});
