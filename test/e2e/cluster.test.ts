// Cluster registration in push mode on the real environment: the real `meridian join` CLI
// registers each member, and the member registry + Cluster controller (in process) report
// health, version, APIs and capacity from the members' own API servers, kept current by
// watches. Cluster names are unique per run: other test files share the hub.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { stringify, parse } from 'yaml';
import { Labels, clusterNamespace, parseQuantityMilli, type Cluster } from '../../src/api/index.ts';
import { ApiClient } from '../../src/kube/api-client.ts';
import { NotFoundError } from '../../src/kube/errors.ts';
import { InformerFactory } from '../../src/kube/informer-factory.ts';
import { objectKey } from '../../src/kube/object-key.ts';
import { createRecorder } from '../../src/kube/recorder.ts';
import type { StoreReader } from '../../src/kube/store.ts';
import type { KubeObject } from '../../src/kube/wire.ts';
import { NAMESPACES } from '../../src/controllers/bootstrap/install-crds.ts';
import { createClusterController } from '../../src/controllers/cluster/controller.ts';
import type { ControllerContext } from '../../src/controllers/context.ts';
import { CLUSTERS, createMemberRegistry } from '../../src/controllers/members/registry.ts';
import { useEnvironment, type TestEnvironment } from '../support/environment.ts';
import { BuiltinTypes } from '../support/builtin-types.ts';
import { testLogger } from '../support/log.ts';

const env = useEnvironment();
const run = randomBytes(3).toString('hex');
const WAIT_MS = 120_000;
const PODS = BuiltinTypes.Pod;
const NODES = BuiltinTypes.Node;

const log = testLogger('cluster-test');

interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the real CLI (`node src/cli/main.ts ...`) without blocking this process's event loop. */
function meridian(args: readonly string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['src/cli/main.ts', ...args], {
      cwd: join(import.meta.dirname, '..', '..'),
      env: { ...process.env, KUBECONFIG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), WAIT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Resolves with the object once `predicate` holds for it, re-checked on every change of it. */
function waitFor<K extends KubeObject>(
  store: StoreReader<K>,
  name: string,
  what: string,
  predicate: (obj: K | undefined) => boolean,
  timeoutMs = WAIT_MS,
): Promise<K | undefined> {
  const key = objectKey(undefined, name);
  return new Promise((resolve, reject) => {
    const done = new AbortController();
    const check = (): void => {
      const obj = store.get(key);
      let ok: boolean;
      try {
        ok = store.isReady() && predicate(obj);
      } catch {
        ok = false;
      }
      if (!ok) return;
      done.abort();
      clearTimeout(timer);
      resolve(obj);
    };
    const timer = setTimeout(() => {
      done.abort();
      reject(
        new Error(
          `timed out waiting for ${name}: ${what}; last seen: ${JSON.stringify(store.get(key)?.['status' as keyof K] ?? null)}`,
        ),
      );
    }, timeoutMs);
    store.subscribe((c) => {
      if (c.key === key) check();
    }, done.signal);
    void store.ready.then(check);
  });
}

/** Retries an async check until it passes (for conditions spanning two clusters). */
async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function memberClient(kubeconfig: string): Promise<ApiClient> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return ApiClient.fromKubeConfig(kc);
}

type NodeObj = KubeObject & {
  status?: { allocatable?: Record<string, string>; conditions?: { type: string; status: string }[] };
};
type PodObj = KubeObject & {
  spec?: { nodeName?: string; containers?: { resources?: { requests?: Record<string, string> } }[] };
  status?: { phase?: string };
};

/** Independent of the controller: sums what the member's own objects say. */
async function memberTotals(
  client: ApiClient,
): Promise<{ allocatableCpu: bigint; allocatedCpu: bigint; allocatedMemory: bigint; pods: PodObj[] }> {
  const nodes = (await client.list<NodeObj>(NODES)).items.filter(
    (n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
  );
  const names = new Set(nodes.map((n) => n.metadata?.name));
  const pods = (await client.list<PodObj>(PODS)).items.filter(
    (p) => names.has(p.spec?.nodeName) && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed',
  );
  let allocatableCpu = 0n;
  for (const n of nodes) allocatableCpu += parseQuantityMilli(n.status?.allocatable?.['cpu'] ?? '0');
  let allocatedCpu = 0n;
  let allocatedMemory = 0n;
  for (const p of pods) {
    for (const c of p.spec?.containers ?? []) {
      allocatedCpu += parseQuantityMilli(c.resources?.requests?.['cpu'] ?? '0');
      allocatedMemory += parseQuantityMilli(c.resources?.requests?.['memory'] ?? '0');
    }
  }
  return { allocatableCpu, allocatedCpu, allocatedMemory, pods };
}

/** A loopback port nothing listens on: bind one, then close it. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
}

const ready = (c: Cluster | undefined): boolean =>
  c?.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') ?? false;

describe('cluster registration (push mode)', () => {
  let e: TestEnvironment;
  let hub: ApiClient;
  let abort: AbortController;
  let clusters: StoreReader<Cluster>;
  let namespaces: StoreReader<KubeObject>;
  let controllerRun: Promise<void> | undefined;
  const joined: string[] = [];
  const nameOf = (member: string): string => `${member}-${run}`;

  before(async () => {
    e = env.get();
    const kc = new KubeConfig();
    kc.loadFromFile(e.hub.kubeconfig);
    hub = await ApiClient.fromKubeConfig(kc);
    abort = new AbortController();
    const informers = new InformerFactory(hub, abort.signal, log);
    const members = createMemberRegistry({ informers, log, signal: abort.signal });
    const ctx: ControllerContext = {
      hub,
      informers,
      members,
      recorder: createRecorder(hub, 'meridian-cluster-test', `test-${run}`, log),
      log,
      metrics: new Registry(),
      signal: abort.signal,
    };
    // Short intervals keep the test quick; the logic is the same as the 10 s default.
    const controller = createClusterController(ctx, { probeIntervalMs: 3_000, retryIntervalMs: 1_000 });
    clusters = informers.informer<Cluster>(CLUSTERS);
    namespaces = informers.informer(NAMESPACES);
    controllerRun = controller.run(abort.signal);
  });

  after(async () => {
    // Deleting while the controller still runs lets its finalizer clean up and release.
    const left = joined.filter((n) => clusters?.get(objectKey(undefined, n)) !== undefined);
    await Promise.all(left.map((name) => hub.delete(CLUSTERS, { name }).catch(() => {})));
    await Promise.all(
      left.map((name) =>
        waitFor(clusters, name, 'deleted', (c) => c === undefined, 60_000).catch(async () => {
          // Never leave a Cluster stuck on our finalizer for the next test file.
          await hub
            .patch(CLUSTERS, { name }, { type: 'merge', patch: { metadata: { finalizers: null } } })
            .catch(() => {});
        }),
      ),
    );
    abort?.abort();
    await controllerRun;
    await hub?.close();
  });

  test('meridian join registers every member', async () => {
    const results = await Promise.all(
      e.members.map(async (m) => {
        const name = nameOf(m.name);
        const r = await meridian(['join', name, '--kubeconfig', m.kubeconfig, '--hub-kubeconfig', e.hub.kubeconfig, '--labels', `meridian.dev/test-run=${run}`]);
        if (r.code === 0) joined.push(name);
        return { name, r };
      }),
    ); // prettier-ignore
    for (const { name, r } of results) {
      assert.equal(r.code, 0, `join ${name} failed: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`cluster ${name} joined`));
      const c = await hub.get<Cluster>(CLUSTERS, { name });
      assert.equal(c.spec.syncMode, 'Push');
      assert.deepEqual(c.spec.secretRef, { namespace: clusterNamespace(name), name: 'member-kubeconfig' });
    }
  });

  test('each Cluster becomes Ready with its version, APIs, topology labels and allocatable capacity', async () => {
    await Promise.all(
      e.members.map(async (m) => {
        const name = nameOf(m.name);
        const c = (await waitFor(clusters, name, 'Ready with a resource summary', (x) =>
          ready(x) && x?.status?.resourceSummary?.allocatable !== undefined && x.status.apiEnablements !== undefined,
        )) as Cluster; // prettier-ignore
        const s = c.status!;
        assert.match(s.kubernetesVersion ?? '', /^v1\.37\./);
        assert.ok(s.lastHeartbeatTime, 'heartbeat recorded');
        const apps = s.apiEnablements?.find((g) => g.groupVersion === 'apps/v1');
        assert.ok(
          apps?.resources?.some((r) => r.name === 'deployments' && r.kind === 'Deployment'),
          'apps/v1 deployments enabled',
        );
        assert.equal(c.metadata.labels?.[Labels.region], m.labels[Labels.region]);
        assert.equal(c.metadata.labels?.[Labels.zone], m.labels[Labels.zone]);
        assert.equal(c.metadata.labels?.[Labels.provider], m.labels[Labels.provider]);
        assert.equal(c.metadata.labels?.['meridian.dev/test-run'], run);
        const client = await memberClient(m.kubeconfig);
        try {
          const totals = await memberTotals(client);
          assert.equal(parseQuantityMilli(s.resourceSummary!.allocatable!['cpu']!), totals.allocatableCpu);
        } finally {
          await client.close();
        }
        assert.ok(c.metadata.finalizers?.includes('meridian.dev/cluster-cleanup'), 'cleanup finalizer added');
      }),
    );
  });

  test('a Deployment with requests in a member raises allocated, and deleting it lowers it again', async () => {
    const m = e.members[0]!;
    const name = nameOf(m.name);
    const ns = `alloc-${run}`;
    const client = await memberClient(m.kubeconfig);
    const cpu = (c: Cluster | undefined, field: 'allocated' | 'available'): bigint =>
      parseQuantityMilli(c?.status?.resourceSummary?.[field]?.['cpu'] ?? '-1');
    const memory = (c: Cluster | undefined): bigint =>
      parseQuantityMilli(c?.status?.resourceSummary?.allocated?.['memory'] ?? '-1');
    /** The Cluster's summary matches the member's own objects right now. */
    const matchesMember = async (expectOurs: number): Promise<boolean> => {
      const t = await memberTotals(client);
      const ours = t.pods.filter((p) => p.metadata?.namespace === ns).length;
      const c = clusters.get(objectKey(undefined, name));
      return (
        ours === expectOurs &&
        cpu(c, 'allocated') === t.allocatedCpu &&
        memory(c) === t.allocatedMemory &&
        cpu(c, 'available') === t.allocatableCpu - t.allocatedCpu
      );
    };
    try {
      await waitFor(clusters, name, 'Ready', ready);
      const before = cpu(clusters.get(objectKey(undefined, name)), 'allocated');
      await e.kubectl(m.name, ['create', 'namespace', ns]);
      await e.kubectl(m.name, ['apply', '-f', '-'], {
        input: stringify({
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'big', namespace: ns },
          spec: {
            replicas: 2,
            selector: { matchLabels: { app: 'big' } },
            template: {
              metadata: { labels: { app: 'big' } },
              spec: {
                containers: [
                  {
                    name: 'c',
                    image: 'nginx:1.27',
                    resources: { requests: { cpu: '1500m', memory: '1Gi' } },
                  },
                ],
              },
            },
          },
        }),
      });
      await e.kubectl(m.name, ['wait', '-n', ns, 'deployment/big', '--for=jsonpath={.status.readyReplicas}=2', '--timeout=120s']); // prettier-ignore
      await eventually('allocated includes the 2 new pods', () => matchesMember(2));
      const after = cpu(clusters.get(objectKey(undefined, name)), 'allocated');
      assert.ok(after >= before + 3000n - 1000n, `allocated cpu rose from ${before}m to ${after}m`);

      await e.kubectl(m.name, ['delete', 'namespace', ns, '--wait=true', '--timeout=120s']);
      await eventually('allocated drops once the pods are gone', () => matchesMember(0));
    } finally {
      await e
        .kubectl(m.name, ['delete', 'namespace', ns, '--ignore-not-found', '--wait=false'])
        .catch(() => {});
      await client.close();
    }
  });

  test('join fails with a clear message and a non-zero exit code', async () => {
    const m = e.members[0]!;
    const missing = await meridian(['join', `bad-${run}`, '--kubeconfig', '/nonexistent/kubeconfig', '--hub-kubeconfig', e.hub.kubeconfig]); // prettier-ignore
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /member kubeconfig \/nonexistent\/kubeconfig does not exist/);

    const badName = await meridian(['join', 'Not_A_Name', '--kubeconfig', m.kubeconfig, '--hub-kubeconfig', e.hub.kubeconfig]); // prettier-ignore
    assert.equal(badName.code, 1);
    assert.match(badName.stderr, /invalid cluster name "Not_A_Name"/);

    const port = await closedPort();
    const dir = await mkdtemp(join(tmpdir(), 'meridian-join-'));
    try {
      const config = parse(await readFile(m.kubeconfig, 'utf8')) as {
        clusters: { cluster: { server: string } }[];
      };
      config.clusters[0]!.cluster.server = `https://127.0.0.1:${port}`;
      const path = join(dir, 'unreachable.kubeconfig');
      await writeFile(path, stringify(config));
      const unreachable = await meridian(['join', `gone-${run}`, '--kubeconfig', path, '--hub-kubeconfig', e.hub.kubeconfig]); // prettier-ignore
      assert.equal(unreachable.code, 2);
      assert.match(
        unreachable.stderr,
        new RegExp(`cannot reach the member cluster at https://127\\.0\\.0\\.1:${port}`),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    await assert.rejects(hub.get(CLUSTERS, { name: `gone-${run}` }), NotFoundError, 'nothing registered');
  });

  test('a member that stops answering turns Ready False with the reason, and recovers when its endpoint is fixed', async () => {
    const m = e.members[2]!;
    const name = `moved-${run}`;
    const r = await meridian([
      'join',
      name,
      '--kubeconfig',
      m.kubeconfig,
      '--hub-kubeconfig',
      e.hub.kubeconfig,
    ]);
    assert.equal(r.code, 0, r.stderr);
    joined.push(name);
    await waitFor(clusters, name, 'Ready', ready);
    const port = await closedPort();
    // spec.apiEndpoint wins over the kubeconfig's server: the registry reconnects there.
    await hub.patch(
      CLUSTERS,
      { name },
      { type: 'merge', patch: { spec: { apiEndpoint: `https://127.0.0.1:${port}` } } },
    );
    const down = await waitFor(clusters, name, 'Ready=False', (c) =>
      c?.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'False') ?? false,
    ); // prettier-ignore
    const cond = down!.status!.conditions!.find((x) => x.type === 'Ready')!;
    assert.equal(cond.reason, 'Unreachable');
    assert.match(cond.message, /unreachable/i);
    await hub.patch(CLUSTERS, { name }, { type: 'merge', patch: { spec: { apiEndpoint: m.server } } });
    await waitFor(clusters, name, 'Ready again', ready);
  });

  test('deleting a Cluster removes its execution namespace, then the Cluster', async () => {
    const m = e.members[1]!;
    const name = `deleted-${run}`;
    const r = await meridian([
      'join',
      name,
      '--kubeconfig',
      m.kubeconfig,
      '--hub-kubeconfig',
      e.hub.kubeconfig,
    ]);
    assert.equal(r.code, 0, r.stderr);
    joined.push(name);
    await waitFor(clusters, name, 'Ready and finalized', (c) =>
      ready(c) && (c?.metadata.finalizers?.includes('meridian.dev/cluster-cleanup') ?? false),
    ); // prettier-ignore
    const ns = clusterNamespace(name);
    assert.ok(namespaces.get(objectKey(undefined, ns)), 'execution namespace exists');
    await hub.delete(CLUSTERS, { name });
    await waitFor(clusters, name, 'gone', (c) => c === undefined);
    await waitFor(namespaces, ns, 'namespace gone', (n) => n === undefined);
    await assert.rejects(hub.get(NAMESPACES, { name: ns }), NotFoundError);
  });
});
