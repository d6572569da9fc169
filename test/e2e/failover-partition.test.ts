// A silent partition of a pull-mode agent. One member joins in pull mode and its real `meridian
// agent` runs in a network namespace of its own whose only way out is a veth link to the hub's
// namespace (test/support/netns.ts). The hub and member API servers and the gateway listen on
// 127.0.0.1 only (their certificates name it), so the link carries them through a pair of plain
// TCP forwarders (test/support/netns-forward.ts): in the site, 127.0.0.1:<port> → host end of
// the link; on the host end, → 127.0.0.1:<port>. The agent keeps its usual URLs and every byte
// crosses the link. Taking the link down (`ip link set … down`) then cuts the agent off with no
// FIN or RST on either side — its connections just go quiet, as in a real partition.
//
// Two other members join in push mode; a Deployment of 6 is divided 2 + 2 + 2 with cluster
// failover `Graciously`. `meridian controllers` runs with short health timings (flags).
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test, type TestContext } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { TaintKeys, type Cluster, type ResourceBinding } from '../../src/api/index.ts';
import { CLUSTERS } from '../../src/controllers/members/registry.ts';
import { Resources } from '../../src/controllers/resources.ts';
import { startGateway, type Gateway } from '../../src/gateway/gateway.ts';
import { cutRevokedTunnels, watchRevocation } from '../../src/gateway/revocation.ts';
import { certificateAgents } from '../../src/gateway/tokens.ts';
import { ApiClient } from '../../src/kube/api-client.ts';
import { InformerFactory } from '../../src/kube/informer-factory.ts';
import { silentLogger } from '../../src/kube/log.ts';
import { objectKey } from '../../src/kube/object-key.ts';
import type { StoreReader } from '../../src/kube/store.ts';
import { parseQuantityMilli } from '../../src/api/index.ts';
import { issueCertificate, type KeyPair } from '../../src/testenv/pki.ts';
import { useEnvironment } from '../support/environment.ts';
import { eventually } from '../support/eventually.ts';
import { meridian, startControllers, type ControllersProcess } from '../support/meridian.ts';
import { createSite, netnsUnavailable, type Site } from '../support/netns.ts';
import { startForwarder, type Forwarder } from '../support/netns-forward.ts';
import { waitForObject } from '../support/wait-for.ts';

const run = promisify(execFile);
const env = useEnvironment();
const unavailable = await netnsUnavailable();
const cli = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const forwarderScript = fileURLToPath(new URL('../support/netns-forward.ts', import.meta.url));
const tag = randomBytes(3).toString('hex');
const LABEL = `meridian.dev/test-run=${tag}`;
/** The pull cluster (member 0) and the two push clusters (members 1, 2). */
const PULL = `cut-${tag}`;
const PUSH = [`keep1-${tag}`, `keep2-${tag}`];
/** Generous: the machine is shared and slow; the timings are reported, not asserted tightly. */
const WAIT_MS = 300_000;
const HEALTH = { heartbeat: '2s', leaseDuration: '6s', grace: '3s', stabilization: '5s' };

const steps: (() => Promise<void> | void)[] = [];
let dir = '';
let site: Site;
let hub: ApiClient;
let gateway: Gateway;
let controllers: ControllersProcess;
let admin: KeyPair;
let agent: ChildProcess;
const watching = new AbortController();
let clusters: StoreReader<Cluster>;
let bindings: StoreReader<ResourceBinding>;
const ns = `partition-${tag}`;
const BINDING = 'web-deployment';
const WORK = `rb.${ns}.${BINDING}`;

const kubectl = (cluster: string, args: string[], input?: string) =>
  env
    .get()
    .kubectl(cluster, args, input === undefined ? { timeoutMs: 120_000 } : { input, timeoutMs: 120_000 });
const json = async <T>(p: Promise<{ stdout: string }>): Promise<T> => JSON.parse((await p).stdout) as T;
const member = (i: number) => env.get().members[i]!;

const readyOf = (c: Cluster | undefined) => c?.status?.conditions?.find((x) => x.type === 'Ready');
const tainted = (c: Cluster | undefined): boolean =>
  c?.spec.taints?.some((t) => t.key === TaintKeys.notReady && t.effect === 'NoExecute') ?? false;

/** Resolves once `predicate` holds for the Cluster, re-checked on each of its changes (a watch). */
const waitForCluster = (name: string, what: string, predicate: (c: Cluster | undefined) => boolean) =>
  waitForObject(clusters, objectKey(undefined, name), `Cluster ${what}`, predicate, WAIT_MS);

/** Starts `argv` inside the site's namespace; its output goes to `<dir>/<name>.log`. */
function inSite(name: string, argv: readonly string[]): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', site.ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = createWriteStream(join(dir, `${name}.log`));
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  steps.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  });
  return child;
}

const link = (state: 'up' | 'down') => run('ip', ['link', 'set', site.hostInterface, state]);

/** Status code of a GET through the gateway's cluster proxy, as the hub admin. */
function viaGateway(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${gateway.url}/clusters/${PULL}${path}`,
      { ca: hubCa, cert: adminCert, key: adminKey, timeout: 60_000 },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.end();
  });
}
let hubCa = '';
let adminCert = '';
let adminKey = '';

type Deployment = { spec: { replicas: number }; status?: { replicas?: number; readyReplicas?: number } };
async function memberDeployment(i: number): Promise<Deployment | undefined> {
  const r = await kubectl(member(i).name, [
    'get',
    'deployment',
    'web',
    '-n',
    ns,
    '-o',
    'json',
    '--ignore-not-found',
  ]);
  return r.stdout.trim() === '' ? undefined : (JSON.parse(r.stdout) as Deployment);
}
async function memberPods(i: number): Promise<number> {
  const l = await json<{ items: unknown[] }>(kubectl(member(i).name, ['get', 'pods', '-n', ns, '-l', 'app=web', '-o', 'json'])); // prettier-ignore
  return l.items.length;
}
const hubDeployment = () =>
  json<Deployment>(kubectl('hub', ['get', 'deployment', 'web', '-n', ns, '-o', 'json']));

/** `p`, or a rejection naming `what` after `ms`. */
function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Milliseconds since `t0`, for the measured timeline. */
const since = (t0: number) => Date.now() - t0;

describe('silent partition of a pull-mode agent', { skip: unavailable }, () => {
  before(async () => {
    const e = env.get();
    dir = await mkdtemp(join(tmpdir(), 'meridian-partition-'));
    steps.push(() => rm(dir, { recursive: true, force: true }));
    const ca = { certPath: e.hub.caPath, keyPath: join(e.hub.dir, 'pki', 'ca.key') };
    hubCa = await readFile(e.hub.caPath, 'utf8');
    const [serving, adminPair] = await Promise.all([
      issueCertificate(ca, dir, 'gateway', { commonName: 'meridian-gateway', ipAddresses: ['127.0.0.1'], usage: 'server' }), // prettier-ignore
      issueCertificate(ca, dir, 'admin', { commonName: 'partition-admin', organizations: ['system:masters'], usage: 'client' }), // prettier-ignore
    ]);
    admin = adminPair;
    [adminCert, adminKey] = await Promise.all([
      readFile(admin.certPath, 'utf8'),
      readFile(admin.keyPath, 'utf8'),
    ]);
    const kc = new KubeConfig();
    kc.loadFromFile(e.hub.kubeconfig);
    hub = await ApiClient.fromKubeConfig(kc);
    const revocation = watchRevocation(hub, watching.signal, silentLogger);
    gateway = await startGateway({
      host: '127.0.0.1',
      port: 0,
      tls: { cert: await readFile(serving.certPath), key: await readFile(serving.keyPath), clientCa: hubCa },
      agents: certificateAgents(revocation),
    });
    cutRevokedTunnels(revocation, gateway.agents, silentLogger, watching.signal);
    controllers = startControllers(e.hub, [
      '--agent-signing-cert-file', ca.certPath, '--agent-signing-key-file', ca.keyPath,
      '--cluster-probe-interval', '1s', '--cluster-probe-timeout', '2s',
      '--not-ready-grace-period', HEALTH.grace, '--ready-stabilization', HEALTH.stabilization,
    ]); // prettier-ignore
    const informers = new InformerFactory(hub, watching.signal, silentLogger);
    clusters = informers.informer<Cluster>(CLUSTERS);
    bindings = informers.informer<ResourceBinding>(Resources.ResourceBinding);

    for (const [i, name] of PUSH.entries()) {
      const r = await meridian(['join', name, '--kubeconfig', member(i + 1).kubeconfig, '--hub-kubeconfig', e.hub.kubeconfig, '--labels', LABEL]); // prettier-ignore
      assert.equal(r.code, 0, `join ${name}: ${r.stderr}`);
    }
    const j = await meridian(['join', PULL, '--mode', 'Pull', '--kubeconfig', member(0).kubeconfig, '--hub-kubeconfig', e.hub.kubeconfig, '--labels', LABEL, '--gateway', gateway.url]); // prettier-ignore
    assert.equal(j.code, 0, `join ${PULL}: ${j.stderr}`);
    const token = /bootstrap token: ([a-z0-9]{6}\.[a-z0-9]{16})/.exec(j.stdout)?.[1];
    assert.ok(token, `no bootstrap token in: ${j.stdout}`);

    // The site, and the two forwarders that carry the agent's three servers over its link.
    site = await createSite({ add: (s) => steps.push(s) }, 'agent');
    const port = (url: string) => Number(new URL(url).port);
    const ports = [port(e.hub.server), port(gateway.url), port(member(0).server)];
    const hostSide: Forwarder = await startForwarder(site.hostAddress, '127.0.0.1', ports);
    steps.push(() => hostSide.close());
    const siteSide = inSite('forwarder', [process.execPath, forwarderScript, '127.0.0.1', site.hostAddress, ...ports.map(String)]); // prettier-ignore
    await new Promise<void>((resolve, reject) => {
      siteSide.stdout?.on('data', (b: Buffer) => b.toString().includes('ready') && resolve());
      siteSide.once('exit', (code) => reject(new Error(`site forwarder exited with ${code}`)));
    });
    agent = inSite('agent', [
      process.execPath, cli, 'agent', '--cluster', PULL,
      '--gateway', gateway.url, '--gateway-ca-file', e.hub.caPath,
      '--hub-server', e.hub.server, '--cert-dir', join(dir, 'agent'), '--bootstrap-token', token,
      '--kubeconfig', member(0).kubeconfig,
      '--heartbeat-interval', HEALTH.heartbeat, '--lease-duration', HEALTH.leaseDuration,
    ]); // prettier-ignore
    await gateway.agents.connected(PULL, AbortSignal.timeout(WAIT_MS));
    await Promise.all(
      [PULL, ...PUSH].map((c) => waitForCluster(c, 'Ready', (x) => readyOf(x)?.status === 'True')),
    );
  });

  after(async () => {
    await link('up').catch(() => undefined);
    await kubectl('hub', ['delete', 'namespace', ns, '--ignore-not-found', '--wait=false']).catch(
      () => undefined,
    );
    for (const c of [PULL, ...PUSH])
      await meridian(['unjoin', c, '--hub-kubeconfig', env.get().hub.kubeconfig]);
    for (const s of steps.reverse()) await Promise.resolve(s()).catch(() => undefined);
    watching.abort();
    await gateway?.close();
    await controllers?.stop();
    await hub?.close();
  });

  test(
    'the pull agent reports its member’s resource summary, and it follows the pods',
    { timeout: WAIT_MS },
    async () => {
      const summary = (c: Cluster | undefined) => c?.status?.resourceSummary;
      const first = summary(
        await waitForCluster(PULL, 'has a resource summary', (c) => summary(c) !== undefined),
      );
      assert.ok(first?.allocatable?.['cpu'], `allocatable cpu reported: ${JSON.stringify(first)}`);
      // Written by the agent (the hub never contacts a pull member).
      const c = await json<{ metadata: { managedFields?: { manager?: string; subresource?: string }[] } }>(
        kubectl('hub', ['get', 'cluster', PULL, '-o', 'json', '--show-managed-fields']),
      );
      assert.ok(
        c.metadata.managedFields?.some(
          (f) => f.manager === 'meridian-agent-capacity' && f.subresource === 'status',
        ),
        `the agent owns the summary: ${JSON.stringify(c.metadata.managedFields?.map((f) => f.manager))}`,
      );
      const cpu = (c: Cluster | undefined) => parseQuantityMilli(summary(c)?.allocated?.['cpu'] ?? '0');
      const before = cpu(clusters.get(objectKey(undefined, PULL)));
      // One pod requesting 250m scheduled in the member: allocated cpu grows by it.
      const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: `probe-${tag}`, namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'pause', resources: { requests: { cpu: '250m' } } }] } }; // prettier-ignore
      await kubectl(member(0).name, ['apply', '-f', '-'], JSON.stringify(pod));
      try {
        await waitForCluster(PULL, 'allocated cpu + 250m', (c) => cpu(c) === before + 250n);
      } finally {
        await kubectl(member(0).name, ['delete', 'pod', `probe-${tag}`, '-n', 'default', '--wait=false']);
      }
      await waitForCluster(PULL, 'allocated cpu back', (c) => cpu(c) === before);
    },
  );

  test(
    'link down: heartbeat lost → NotReady → tainted → 3 + 3 elsewhere; link up: back, untainted, stale copy removed',
    { timeout: 3 * WAIT_MS },
    async (t: TestContext) => {
      const container = { name: 'app', image: 'nginx:1.27', resources: { requests: { cpu: '100m', memory: '64Mi' } } }; // prettier-ignore
      await kubectl('hub', ['create', 'namespace', ns]);
      await kubectl('hub', ['apply', '-f', '-'], [
        { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: ns, labels: { app: 'web' } },
          spec: { replicas: 6, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [container] } } } },
        { apiVersion: 'meridian.dev/v1alpha1', kind: 'PropagationPolicy', metadata: { name: 'web', namespace: ns },
          spec: {
            resourceSelectors: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }],
            placement: {
              clusterAffinity: { labelSelector: { matchLabels: { 'meridian.dev/test-run': tag } } },
              replicaScheduling: { replicaSchedulingType: 'Divided', replicaDivisionPreference: 'Weighted' },
            },
            failover: { cluster: { purgeMode: 'Graciously', gracePeriodSeconds: 600 } },
          } },
      ].map((d) => stringify(d)).join('---\n')); // prettier-ignore
      await eventually(
        async () => {
          const b = bindings.get(objectKey(ns, BINDING));
          assert.deepEqual(
            b?.spec.clusters?.map((c) => c.replicas),
            [2, 2, 2],
          );
          for (const i of [0, 1, 2]) assert.equal((await memberDeployment(i))?.status?.readyReplicas, 2, member(i).name); // prettier-ignore
          assert.equal((await hubDeployment()).status?.readyReplicas, 6);
        },
        { timeoutMs: WAIT_MS, intervalMs: 1000 },
      );

      // The partition: the host end of the agent's link goes down. Nothing is closed.
      const sessions = gateway.agents.connections(PULL).map((c) => c.session);
      assert.ok(sessions.length > 0, 'the agent is connected before the cut');
      await link('down');
      const t0 = Date.now();
      const timeline: Record<string, number> = {};
      // Watched from now on, so each step's time is its own, not the previous wait's.
      const stamp =
        (what: string) =>
        <T>(x: T): T => {
          timeline[what] = since(t0);
          return x;
        };
      const notReady = waitForCluster(PULL, 'NotReady', (c) => readyOf(c)?.status === 'False').then(stamp('Ready=False')); // prettier-ignore
      const taint = waitForCluster(PULL, 'tainted', tainted).then(stamp('tainted'));
      for (const p of [notReady, taint]) p.catch(() => {}); // awaited below
      // Silent, not a clean close: the gateway ends the tunnel because its pings go unanswered.
      const ended = await within(60_000, 'the gateway to end the tunnel', Promise.all(sessions.map((x) => x.closed))); // prettier-ignore
      timeline['gateway dropped the tunnel'] = since(t0);
      for (const err of ended) {
        assert.equal(
          err?.code,
          'PeerTimeout',
          `tunnel ended by ${err?.code ?? 'a clean close'}: ${err?.message}`,
        );
      }
      await eventually(
        async () => assert.equal(gateway.agents.pick(PULL), undefined, 'the gateway dropped the tunnel'),
        {
          timeoutMs: 60_000,
          intervalMs: 200,
        },
      );
      assert.equal(await viaGateway('/api'), 503, 'a proxied request finds no agent');
      assert.equal(readyOf(await notReady)?.reason, 'AgentHeartbeatLost');
      await taint;
      const rest = PUSH.map((name) => ({ name, replicas: 3 })).sort((x, y) => (x.name < y.name ? -1 : 1));
      await eventually(
        async () => {
          const b = bindings.get(objectKey(ns, BINDING));
          assert.deepEqual(b?.spec.clusters, rest);
          for (const i of [1, 2]) {
            const d = await memberDeployment(i);
            assert.equal(d?.spec.replicas, 3, member(i).name);
            assert.equal(d?.status?.readyReplicas, 3, member(i).name);
          }
        },
        { timeoutMs: WAIT_MS, intervalMs: 500 },
      );
      timeline['3 + 3 Ready elsewhere'] = since(t0);
      await eventually(
        async () => {
          const d = await hubDeployment();
          assert.equal(d.status?.readyReplicas, 6, 'ready replicas summed over the two healthy members');
          assert.equal(d.status?.replicas, 6, 'the partitioned copy is not counted');
          assert.deepEqual(bindings.get(objectKey(ns, BINDING))?.spec.gracefulEvictionTasks ?? [], []);
        },
        { timeoutMs: WAIT_MS, intervalMs: 500 },
      );
      for (const i of [1, 2]) assert.equal(await memberPods(i), 3, `${member(i).name}: exactly its 3 pods, nothing duplicated`); // prettier-ignore
      // The partitioned member still runs its old copy: nobody can tell it otherwise. Its Work
      // is being deleted on the hub, held by the finalizer until the agent removes the objects.
      assert.equal(
        (await memberDeployment(0))?.spec.replicas,
        2,
        'the cut-off member keeps its copy meanwhile',
      );
      const w = await json<{ metadata: { deletionTimestamp?: string } }>(kubectl('hub', ['get', 'work', WORK, '-n', `meridian-cluster-${PULL}`, '-o', 'json'])); // prettier-ignore
      assert.ok(w.metadata.deletionTimestamp, 'the Work is deleted on the hub, waiting for the agent');

      // The link comes back: the agent's connections resume or are redialled.
      await link('up');
      const t1 = Date.now();
      await gateway.agents.connected(PULL, AbortSignal.timeout(WAIT_MS));
      timeline['link up → tunnel back'] = since(t1);
      await waitForCluster(PULL, 'Ready', (c) => readyOf(c)?.status === 'True');
      timeline['link up → Ready'] = since(t1);
      await waitForCluster(PULL, 'Ready and untainted', (c) => readyOf(c)?.status === 'True' && !tainted(c));
      timeline['link up → untainted'] = since(t1);
      await eventually(
        async () => {
          assert.equal(await memberDeployment(0), undefined, 'stale Deployment removed by the agent');
          assert.equal(await memberPods(0), 0, 'its pods are gone too');
          const left = await kubectl('hub', ['get', 'work', WORK, '-n', `meridian-cluster-${PULL}`, '--ignore-not-found', '-o', 'name']); // prettier-ignore
          assert.equal(left.stdout.trim(), '', 'the Work is gone');
        },
        { timeoutMs: WAIT_MS, intervalMs: 500 },
      );
      timeline['link up → stale copy removed'] = since(t1);
      // No rebalance in the policy: the placement stays 3 + 3 and the hub still counts 6.
      assert.deepEqual(bindings.get(objectKey(ns, BINDING))?.spec.clusters, rest);
      const d = await hubDeployment();
      assert.equal(d.status?.readyReplicas, 6);
      assert.equal(d.status?.replicas, 6);
      assert.ok(agent.exitCode === null, 'the agent kept running through the partition');
      t.diagnostic(`timeline (ms): ${JSON.stringify(timeline)}`);
    },
  );
});
