// Pull mode end to end: `meridian join --mode Pull` makes a single-use bootstrap token; a real
// agent (in this process) trades it for a hub-issued certificate through a CSR that the real
// `meridian controllers` approve and sign, connects to a real gateway with it, rotates it,
// and is cut off when the cluster is removed.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
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
const cliPath = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
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
let child: ChildProcess | undefined;
let childLog = '';

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

interface WorkLike {
  metadata: { name: string };
  status?: {
    conditions?: { type: string; status: string }[];
    manifestStatuses?: { status?: { readyReplicas?: number } }[];
  };
}

async function json<T>(p: Promise<{ stdout: string }>): Promise<T> {
  return JSON.parse((await p).stdout) as T;
}

type WithConditions = { status?: { conditions?: { type: string; status: string; reason?: string }[] } };

async function clusterReady(): Promise<{ status: string; reason?: string } | undefined> {
  const c = await json<WithConditions>(env.get().kubectl('hub', ['get', 'cluster', cluster, '-o', 'json']));
  return c.status?.conditions?.find((x) => x.type === 'Ready');
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
  if (child !== undefined && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGCONT');
    child.kill('SIGTERM');
    await new Promise((r) => child!.once('exit', r));
  }
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
    'a propagated Deployment is applied by the agent, becomes Ready, and its status reaches the hub',
    { timeout: 300_000 },
    async () => {
      const e = env.get();
      await eventually(
        async () => assert.equal((await clusterReady())?.status, 'True', 'Ready from the heartbeat'),
        {
          timeoutMs: 90_000,
          intervalMs: 1000,
        },
      );
      const ns = uniqueName('pull-app');
      await e.kubectl('hub', ['create', 'namespace', ns]);
      const docs = [
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'web', namespace: ns, labels: { app: 'web' } },
          spec: {
            replicas: 2,
            selector: { matchLabels: { app: 'web' } },
            template: {
              metadata: { labels: { app: 'web' } },
              spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] },
            },
          },
        },
        {
          apiVersion: 'meridian.dev/v1alpha1',
          kind: 'PropagationPolicy',
          metadata: { name: 'web', namespace: ns },
          spec: {
            resourceSelectors: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }],
            placement: { clusterAffinity: { clusterNames: [cluster] } },
          },
        },
      ];
      await e.kubectl('hub', ['apply', '-f', '-'], { input: docs.map((d) => JSON.stringify(d)).join('\n') });
      type Dep = { spec: { replicas: number }; status?: { readyReplicas?: number } };
      const memberDep = async (): Promise<Dep> =>
        json<Dep>(e.kubectl(member().name, ['get', 'deployment', 'web', '-n', ns, '-o', 'json']));
      await eventually(async () => assert.equal((await memberDep()).status?.readyReplicas, 2), {
        timeoutMs: 180_000,
        intervalMs: 1000,
      });
      const workNs = `meridian-cluster-${cluster}`;
      await eventually(
        async () => {
          const works = await json<{ items: WorkLike[] }>(
            e.kubectl('hub', ['get', 'works', '-n', workNs, '-o', 'json']),
          );
          const w = works.items.find((x) => x.metadata.name.includes(ns));
          assert.ok(w, 'Work exists');
          assert.equal(
            w.status?.conditions?.find((c) => c.type === 'Applied')?.status,
            'True',
            'Applied=True',
          );
          assert.equal(
            w.status?.manifestStatuses?.[0]?.status?.readyReplicas,
            2,
            'member status in the Work',
          );
        },
        { timeoutMs: 120_000, intervalMs: 1000 },
      );
      await eventually(
        async () => {
          const d = await json<Dep>(e.kubectl('hub', ['get', 'deployment', 'web', '-n', ns, '-o', 'json']));
          assert.equal(d.status?.readyReplicas, 2, 'aggregated on the hub template');
        },
        { timeoutMs: 120_000, intervalMs: 1000 },
      );
      // The hub holds no credential for this member.
      const secrets = await json<{ items: { metadata: { name: string }; type?: string }[] }>(
        e.kubectl('hub', ['get', 'secrets', '-n', workNs, '-o', 'json']),
      );
      assert.deepEqual(
        secrets.items
          .filter((x) => x.type !== 'kubernetes.io/service-account-token')
          .map((x) => x.metadata.name),
        [],
      );
      const c = await json<{ spec: Record<string, unknown> }>(
        e.kubectl('hub', ['get', 'cluster', cluster, '-o', 'json']),
      );
      assert.equal(c.spec['syncMode'], 'Pull');
      assert.equal(c.spec['secretRef'], undefined);
      assert.equal(c.spec['apiEndpoint'], undefined);
      // Drift in the member is reverted by the agent, as push mode does.
      await e.kubectl(member().name, ['scale', 'deployment/web', '-n', ns, '--replicas=5']);
      await eventually(async () => assert.equal((await memberDep()).spec.replicas, 2, 'drift reverted'), {
        timeoutMs: 60_000,
        intervalMs: 500,
      });
      // Deleting the template removes it from the member through the agent.
      await e.kubectl('hub', ['delete', 'deployment', 'web', '-n', ns]);
      await eventually(
        async () => {
          const r = await e.kubectl(member().name, [
            'get',
            'deployment',
            'web',
            '-n',
            ns,
            '--ignore-not-found',
            '-o',
            'name',
          ]);
          assert.equal(r.stdout.trim(), '', 'removed from the member');
        },
        { timeoutMs: 120_000, intervalMs: 1000 },
      );
    },
  );

  test(
    'the certificate is rotated before it expires, without dropping the open tunnel',
    { timeout: 180_000 },
    async () => {
      const session = await agent.connected(AbortSignal.timeout(30_000));
      const id = agent.identity!;
      const r0 = id.rotations;
      const first = id.current;
      let rotatedAt = 0;
      const off = id.onRotated(() => (rotatedAt = Date.now()));
      await eventually(async () => assert.ok(id.rotations > r0, 'rotated'), {
        timeoutMs: CERT_TTL_S * 1000 + 30_000,
        intervalMs: 500,
      });
      off();
      const rotated = agent.identity!.current;
      assert.ok(rotated.notAfter > first.notAfter);
      assert.ok(rotatedAt < first.notAfter.getTime(), 'rotated before the first certificate expired');
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
    'heartbeat: the agent renews its Lease; a frozen agent (SIGSTOP) makes the cluster NotReady, a thawed one Ready again',
    { timeout: 300_000 },
    async () => {
      await Promise.all(agents.map((a) => a.stop()));
      // The real `meridian agent`, with a fresh token (join again) and a quick heartbeat.
      const token2 = await joinPull(cluster);
      child = spawn(
        process.execPath,
        [
        cliPath, 'agent', '--cluster', cluster, '--gateway', gateway.url, '--gateway-ca-file', env.get().hub.caPath,
        '--hub-server', env.get().hub.server, '--cert-dir', join(dir, 'agent-cli'), '--bootstrap-token', token2,
        '--kubeconfig', member().kubeconfig, '--heartbeat-interval', '2s', '--lease-duration', '8s',
      ], // prettier-ignore
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const keep = (b: Buffer): void => void (childLog = (childLog + b.toString()).slice(-100_000));
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      await gateway.agents.connected(cluster, AbortSignal.timeout(120_000)).catch((err: unknown) => {
        throw new Error(`CLI agent did not connect: ${childLog}`, { cause: err });
      });
      type LeaseLike = { spec?: { renewTime?: string; leaseDurationSeconds?: number } };
      const lease = () =>
        json<LeaseLike>(
          env
            .get()
            .kubectl('hub', [
              'get',
              'lease',
              'meridian-agent',
              '-n',
              `meridian-cluster-${cluster}`,
              '-o',
              'json',
            ]),
        );
      await eventually(async () => assert.equal((await lease()).spec?.leaseDurationSeconds, 8), {
        timeoutMs: 60_000,
      });
      const first = (await lease()).spec?.renewTime;
      await eventually(async () => assert.notEqual((await lease()).spec?.renewTime, first, 'renewed'), {
        timeoutMs: 30_000,
        intervalMs: 500,
      });
      await eventually(async () => assert.equal((await clusterReady())?.status, 'True'), {
        timeoutMs: 60_000,
        intervalMs: 500,
      });
      child.kill('SIGSTOP');
      const t0 = Date.now();
      await eventually(
        async () => {
          const r = await clusterReady();
          assert.equal(r?.status, 'False');
          assert.equal(r?.reason, 'AgentHeartbeatLost');
        },
        { timeoutMs: 90_000, intervalMs: 500 },
      );
      const took = Date.now() - t0;
      assert.ok(took < 60_000, `NotReady after ${took} ms (Lease duration 8 s)`);
      child.kill('SIGCONT');
      await eventually(async () => assert.equal((await clusterReady())?.status, 'True'), {
        timeoutMs: 90_000,
        intervalMs: 500,
      });
    },
  );

  test(
    'removing the cluster cuts its tunnel at once and its certificate is refused afterwards',
    { timeout: 180_000 },
    async () => {
      await gateway.agents.connected(cluster, AbortSignal.timeout(60_000));
      const session = gateway.agents.connections(cluster)[0]!.session;
      const creds = await loadCredentials(join(dir, 'agent-cli'), cluster);
      assert.ok(creds, 'the CLI agent stored its certificate');
      const r = await meridian(['unjoin', cluster, '--hub-kubeconfig', env.get().hub.kubeconfig]);
      assert.equal(r.code, 0, r.stderr);
      const t0 = Date.now();
      await session.closed;
      assert.ok(Date.now() - t0 < 10_000, 'tunnel closed within seconds');
      await assert.rejects(
        dialGateway({ gatewayUrl: gateway.url, cluster, ca: hubCa, clientCert: creds }),
        /401/,
      );
      await new Promise((res) => setTimeout(res, 3000));
      assert.equal(gateway.agents.pick(cluster), undefined, 'the agent did not get back in');
    },
  );
});
