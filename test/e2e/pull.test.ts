// Pull mode end to end: `meridian join --mode Pull` makes a single-use bootstrap token; a real
// agent (in this process) trades it for a hub-issued certificate through a CSR that the real
// `meridian controllers` approve and sign, connects to a real gateway with it, rotates it,
// and is cut off when the cluster is removed.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { agentUser } from '../../src/api/agent-identity.ts';
import { dialGateway } from '../../src/agent/dial.ts';
import { certificateInfo } from '../../src/agent/csr.ts';
import { loadCredentials } from '../../src/agent/identity.ts';
import { agentFromFiles, type RunningAgentWithIdentity } from '../../src/agent/main.ts';
import { startGateway, type Gateway } from '../../src/gateway/gateway.ts';
import { cutRevokedTunnels, watchRevocation } from '../../src/gateway/revocation.ts';
import { certificateAgents } from '../../src/gateway/tokens.ts';
import { ApiClient, type ResourceType } from '../../src/kube/api-client.ts';
import { silentLogger } from '../../src/kube/log.ts';
import { writeKubeconfig } from '../../src/testenv/kubeconfig.ts';
import { kubectl as runKubectl } from '../../src/testenv/kubectl.ts';
import { issueCertificate, type KeyPair } from '../../src/testenv/pki.ts';
import { uniqueName, useEnvironment } from '../support/environment.ts';
import { eventually } from '../support/eventually.ts';
import { meridian, startControllers, type ControllersProcess } from '../support/meridian.ts';

const env = useEnvironment();
const SECRETS: ResourceType = {
  group: '',
  version: 'v1',
  resource: 'secrets',
  scope: 'Namespaced',
  kind: 'Secret',
};
/** The signer's longest certificate lifetime here: short, so rotation happens during the tests. */
const CERT_TTL_S = 24;

const cluster = uniqueName('pull');
let dir = '';
let hub: ApiClient;
let gateway: Gateway;
let controllers: ControllersProcess;
let admin: KeyPair;
let hubCa = '';
const stopWatch = new AbortController();
const agents: RunningAgentWithIdentity[] = [];
let agent: RunningAgentWithIdentity;
let token = '';

function member() {
  return env.get().members[0]!;
}

async function joinPull(name: string): Promise<string> {
  const e = env.get();
  const r = await meridian([
    'join',
    name,
    '--mode',
    'Pull',
    '--hub-kubeconfig',
    e.hub.kubeconfig,
    '--kubeconfig',
    member().kubeconfig,
    '--gateway',
    gateway.url,
  ]);
  assert.equal(r.code, 0, `join failed: ${r.stderr}`);
  const m = /bootstrap token: ([a-z0-9]{6}\.[a-z0-9]{16})/.exec(r.stdout);
  assert.ok(m, `no token in: ${r.stdout}`);
  return m[1]!;
}

async function startPullAgent(certDir: string, bootstrapToken: string): Promise<RunningAgentWithIdentity> {
  const a = await agentFromFiles({
    cluster,
    gatewayUrl: gateway.url,
    gatewayCaFile: env.get().hub.caPath,
    hubServer: env.get().hub.server,
    certDir,
    bootstrapToken,
    kubeconfig: member().kubeconfig,
    log: silentLogger,
  });
  agents.push(a);
  return a;
}

/** kubectl as the hub admin, through the gateway's proxy path for `cluster`. */
async function kubectlVia(args: readonly string[]) {
  const kc = join(dir, 'admin-via-gateway.kubeconfig');
  await writeKubeconfig(kc, {
    cluster,
    server: `${gateway.url}/clusters/${cluster}`,
    caPath: env.get().hub.caPath,
    user: 'pull-admin',
    credentials: admin,
  });
  return runKubectl(env.get().info.binDir, kc, args);
}

async function setUp(): Promise<void> {
  const e = env.get();
  dir = await mkdtemp(join(tmpdir(), 'meridian-pull-e2e-'));
  const ca = { certPath: e.hub.caPath, keyPath: join(e.hub.dir, 'pki', 'ca.key') };
  hubCa = await readFile(e.hub.caPath, 'utf8');
  const [serving, adminPair] = await Promise.all([
    issueCertificate(ca, dir, 'gateway', {
      commonName: 'meridian-gateway',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      usage: 'server',
    }),
    issueCertificate(ca, dir, 'pull-admin', {
      commonName: 'pull-admin',
      organizations: ['system:masters'],
      usage: 'client',
    }),
  ]);
  admin = adminPair;
  const kc = new KubeConfig();
  kc.loadFromFile(e.hub.kubeconfig);
  hub = await ApiClient.fromKubeConfig(kc);
  const revocation = watchRevocation(hub, stopWatch.signal, silentLogger);
  gateway = await startGateway({
    host: '127.0.0.1',
    port: 0,
    tls: { cert: await readFile(serving.certPath), key: await readFile(serving.keyPath), clientCa: hubCa },
    agents: certificateAgents(revocation),
  });
  cutRevokedTunnels(revocation, gateway.agents, silentLogger, stopWatch.signal);
  controllers = startControllers(e.hub, [
    '--agent-signing-cert-file',
    ca.certPath,
    '--agent-signing-key-file',
    ca.keyPath,
    '--agent-cert-ttl',
    `${CERT_TTL_S}s`,
  ]);
  token = await joinPull(cluster);
}

async function tearDown(): Promise<void> {
  await Promise.all(agents.map((a) => a.stop()));
  stopWatch.abort();
  await gateway?.close();
  await controllers?.stop();
  await meridian(['unjoin', cluster, '--hub-kubeconfig', env.get().hub.kubeconfig]);
  await hub?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
}

describe('pull mode: agent identity', () => {
  before(setUp, { timeout: 300_000 });
  after(tearDown, { timeout: 300_000 });

  test('the bootstrap token buys a hub-issued certificate; the agent connects with it and serves', async () => {
    agent = await startPullAgent(join(dir, 'agent-1'), token);
    const creds = await loadCredentials(join(dir, 'agent-1'), cluster);
    assert.ok(creds, 'certificate stored on disk');
    const info = certificateInfo(creds.cert);
    assert.equal(info.commonName, agentUser(cluster));
    assert.ok(
      info.notAfter.getTime() - info.notBefore.getTime() <= CERT_TTL_S * 1000,
      'signer caps the lifetime',
    );
    await gateway.agents.connected(cluster, AbortSignal.timeout(60_000));
    const out = await kubectlVia(['get', 'nodes', '-o', 'name']);
    assert.match(out.stdout, /node\//);
  });

  test('the bootstrap token is single use: a second agent presenting it is refused', async () => {
    await assert.rejects(startPullAgent(join(dir, 'agent-2'), token), /denied: TokenUsed|Unauthorized|401/);
    const second = await loadCredentials(join(dir, 'agent-2'), cluster);
    assert.equal(second, undefined);
    // After the signer's short grace the token Secret itself is gone: it authenticates nobody.
    await eventually(
      async () => {
        const left = await hub.list(SECRETS, {
          namespace: 'kube-system',
          labelSelector: `meridian.dev/cluster=${cluster}`,
        });
        assert.equal(left.items.length, 0, 'bootstrap token deleted');
      },
      { timeoutMs: 90_000, intervalMs: 1000 },
    );
    await assert.rejects(startPullAgent(join(dir, 'agent-3'), token), /Unauthorized|401/);
  });

  test(
    'the certificate is rotated before it expires, without dropping the open tunnel',
    { timeout: 180_000 },
    async () => {
      const session = await agent.connected(AbortSignal.timeout(30_000));
      const first = agent.identity!.current;
      await eventually(async () => assert.ok(agent.identity!.rotations >= 1, 'rotated'), {
        timeoutMs: CERT_TTL_S * 1000 + 30_000,
        intervalMs: 500,
      });
      const rotated = agent.identity!.current;
      assert.ok(rotated.notAfter > first.notAfter);
      assert.ok(first.notAfter.getTime() - Date.now() > 0, 'rotated before the first certificate expired');
      assert.equal(session.isClosed, false, 'the tunnel opened with the first certificate is still up');
      assert.equal(
        (await loadCredentials(join(dir, 'agent-1'), cluster))?.cert,
        rotated.cert,
        'new one on disk',
      );
      // Once the first certificate has expired, a fresh connection works only with the new one.
      await new Promise((r) => setTimeout(r, Math.max(0, first.notAfter.getTime() - Date.now() + 1000)));
      await assert.rejects(
        dialGateway({ gatewayUrl: gateway.url, cluster, ca: hubCa, clientCert: first }),
        /401|refused/,
      );
      for (const c of gateway.agents.connections(cluster)) c.session.close();
      await eventually(async () => assert.ok(gateway.agents.pick(cluster)), { timeoutMs: 60_000 });
      await kubectlVia(['get', 'namespaces', '-o', 'name']);
    },
  );

  test(
    'removing the cluster cuts its tunnel at once and its certificate is refused afterwards',
    { timeout: 180_000 },
    async () => {
      const session = await agent.connected(AbortSignal.timeout(30_000));
      const r = await meridian(['unjoin', cluster, '--hub-kubeconfig', env.get().hub.kubeconfig]);
      assert.equal(r.code, 0, r.stderr);
      const t0 = Date.now();
      await session.closed;
      assert.ok(Date.now() - t0 < 10_000, 'tunnel closed within seconds');
      await assert.rejects(
        dialGateway({ gatewayUrl: gateway.url, cluster, ca: hubCa, clientCert: agent.identity!.current }),
        /401/,
      );
      await new Promise((r) => setTimeout(r, 2000));
      assert.equal(gateway.agents.pick(cluster), undefined, 'the agent did not get back in');
    },
  );
});
