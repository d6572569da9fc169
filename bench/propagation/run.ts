// Benchmark (issue 3, "Propagation core"): N Deployments, one policy spreading them over the
// 3 members; per object and for the whole batch, the time from create on the hub until every
// member has the object and until the hub shows the aggregated ready status; and the
// controllers' peak resident memory.
//
// Usage:
//   node bench/propagation/run.ts [--count 1000] [--system meridian[,karmada]] [--concurrency 32]
//        [--timeout-s 1800] [--stall-s 600] [--node-pods N] [--out DIR] [--node-args='--cpu-prof --cpu-prof-dir=DIR']
//        [--controller-args=--no-leader-elect]   (values starting with '-' need the = form)
//
// One environment (src/testenv: hub + 3 kwok members, nodes sized so each member fits the
// batch) serves every system in `--system`, one after the other: a fresh namespace each, and
// between systems the Deployments and namespace are deleted and the members checked empty.
// Each system is a `PeerControlPlane` (peer.ts): Meridian in meridian.ts, Karmada in
// bench/karmada/karmada.ts (`startKarmada`).
//
// Workload: Deployments `bench-0000…` with replicas 3 and tiny requests (10m CPU, 16Mi);
// policy: Divided, equal static weights over the 3 members ⇒ one pod per member.
// Measured with watches (src/kube watcher), never polling:
//   on all members = max over members of the first event for the object in that member
//   member ready   = max over members of status.readyReplicas ≥ spec.replicas there
//   hub ready      = on the system's API server, status.readyReplicas ≥ spec.replicas (3)
// all from the moment the create request was sent. Memory: VmHWM of the system's processes
// (and descendants) plus the peak of their summed VmRSS sampled every second; the system's
// API server (`apiServerPids()`, default the hub's) and etcd (shared by every cluster of the
// environment) for context. The API server's own request metrics give the writes per object.
// The batch ends when every Deployment is hub-ready, after --timeout-s, or after --stall-s
// without progress (the JSON says which: `outcome`).
// Output: progress on stderr; one JSON line and one Markdown table row per system on stdout;
// per-object timings and memory samples in --out (default: a new temp directory).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { isRetryable, NotFoundError } from '../../src/kube/errors.ts';
import type { ApiClient } from '../../src/kube/api-client.ts';
import type { KubeObject } from '../../src/kube/wire.ts';
import { startEnvironment, type Environment } from '../../src/testenv/environment.ts';
import { defaultMembers, type MemberSpec } from '../../src/testenv/topology.ts';
import { clientFor, DEPLOYMENTS, NAMESPACES, now, observe, until, type Observation } from './observe.ts';
import type { PeerControlPlane, PeerOptions, StartPeer } from './peer.ts';
import { requestDiff, requestTotals, type RequestRow } from './apiserver-requests.ts';
import { resetPeak, rssMiB, sampleMemory, type MemorySeries } from './procfs.ts';

const { values: args } = parseArgs({
  options: {
    count: { type: 'string', default: '1000' },
    system: { type: 'string', default: 'meridian' },
    concurrency: { type: 'string', default: '32' },
    'timeout-s': { type: 'string', default: '1800' },
    'stall-s': { type: 'string', default: '600' },
    'node-pods': { type: 'string' },
    out: { type: 'string' },
    'node-args': { type: 'string' },
    'controller-args': { type: 'string' },
  },
});
const COUNT = Number(args.count);
const CONCURRENCY = Number(args.concurrency);
const TIMEOUT_MS = Number(args['timeout-s']) * 1000;
const STALL_MS = Number(args['stall-s']) * 1000;
const REPLICAS = 3;
const systems = (args.system ?? 'meridian')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const nodeArgs = (args['node-args'] ?? '').split(' ').filter(Boolean);
const controllerArgs = (args['controller-args'] ?? '').split(' ').filter(Boolean);
const outDir = args.out ?? mkdtempSync(join(tmpdir(), 'meridian-bench-propagation-'));
mkdirSync(outDir, { recursive: true });
const log = (m: string): void => void process.stderr.write(`[${new Date().toISOString()}] ${m}\n`);

interface Deployment extends KubeObject {
  readonly spec?: { readonly replicas?: number };
  readonly status?: { readonly readyReplicas?: number };
}

/** The start function of a system, resolved before the environment starts (fail fast). */
async function loadPeer(name: string): Promise<StartPeer> {
  if (name === 'meridian') return (await import('./meridian.ts')).startMeridian;
  if (name === 'karmada') {
    const url = new URL('../karmada/karmada.ts', import.meta.url);
    if (!existsSync(url))
      throw new Error(
        'bench/karmada/karmada.ts does not exist yet: the Karmada peer (export startKarmada(env): ' +
          'Promise<PeerControlPlane>, see bench/propagation/peer.ts) is written separately. ' +
          'Run with --system meridian until it lands.',
      );
    const mod = (await import(url.href)) as { startKarmada?: StartPeer };
    if (typeof mod.startKarmada !== 'function')
      throw new Error(
        'bench/karmada/karmada.ts does not export startKarmada(env): Promise<PeerControlPlane>',
      );
    return mod.startKarmada;
  }
  throw new Error(`unknown system ${JSON.stringify(name)} (known: meridian, karmada)`);
}

/** Members as the defaults, with enough pods per node that each member holds the batch + 10%. */
function benchMembers(count: number): MemberSpec[] {
  const explicit = args['node-pods'] === undefined ? undefined : Number(args['node-pods']);
  return defaultMembers.map((m) => ({
    ...m,
    nodePods: explicit ?? Math.max(m.nodePods, Math.ceil((count * 1.1) / m.nodes)),
  }));
}

function deployment(namespace: string, name: string, labels: Record<string, string>): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels: { ...labels, app: name } },
    spec: {
      replicas: REPLICAS,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            { name: 'app', image: 'nginx:1.27', resources: { requests: { cpu: '10m', memory: '16Mi' } } },
          ],
        },
      },
    },
  } as KubeObject;
}

interface Stats {
  readonly n: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}
/** Nearest-rank percentiles of `xs` (ms, rounded). */
function stats(xs: readonly number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number): number => Math.round(s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)] ?? NaN);
  return { n: s.length, p50: at(50), p90: at(90), p99: at(99), max: at(100) };
}

interface ObjectTimes {
  created?: number; // request sent
  createdAck?: number; // response received
  memberSeen: Map<string, number>;
  memberReady: Map<string, number>;
  memberReplicas: Map<string, number>;
  hubReady?: number;
  stages: Map<string, number>;
}

async function createWithRetry(client: ApiClient, obj: KubeObject): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await client.create(DEPLOYMENTS, obj);
      return;
    } catch (err) {
      if (attempt >= 5 || !isRetryable(err)) throw err;
      await sleep(200 * 2 ** attempt);
    }
  }
}

async function deleteNamespaceAndWait(client: ApiClient, ns: string, what: string): Promise<void> {
  await client.delete(NAMESPACES, { name: ns }).catch((err: unknown) => {
    if (!(err instanceof NotFoundError)) throw err;
  });
  const deadline = Date.now() + 300_000;
  for (;;) {
    try {
      await client.get(NAMESPACES, { name: ns });
    } catch (err) {
      if (err instanceof NotFoundError) return;
      throw err;
    }
    // A one-off wait for teardown between systems, not part of any measurement.
    if (Date.now() > deadline) throw new Error(`namespace ${ns} on ${what} still exists after 300 s`);
    await sleep(500);
  }
}

interface SystemResult {
  readonly system: string;
  readonly count: number;
  readonly concurrency: number;
  readonly namespace: string;
  /** `complete`: every Deployment hub-ready; `stalled`: no progress for --stall-s; `timeout`: --timeout-s. */
  readonly outcome: 'complete' | 'stalled' | 'timeout';
  readonly complete: number;
  readonly createSeconds: number;
  readonly createPerSecond: number;
  readonly createLatencyMs: Stats;
  readonly onAllMembersMs: Stats;
  readonly memberReadyMs: Stats;
  readonly hubReadyMs: Stats;
  readonly hubAfterMembersReadyMs: Stats;
  readonly stagesMs: Record<string, Stats>;
  readonly batch: {
    readonly allOnMembersMs: number;
    readonly allMemberReadyMs: number;
    readonly totalMs: number;
  };
  readonly wrongReplicas: number;
  readonly controllers: MemorySeries & { readonly idleRssMiB: number };
  readonly hubApiserver: MemorySeries;
  readonly etcd: MemorySeries;
  readonly deleteToMembersEmptyMs: number;
  readonly notes: readonly string[];
  readonly systemMetrics: Readonly<Record<string, number>>;
  /** Requests the system's API server served during the batch (create → all hub-ready), from its metrics. */
  readonly apiRequests:
    | {
        readonly writes: number;
        readonly reads: number;
        readonly writesPerDeployment: number;
        readonly top: readonly RequestRow[];
      }
    | undefined;
  readonly runnerEventLoopDelayMs: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly loadAverage1m: { readonly min: number; readonly mean: number; readonly max: number };
}

async function runSystem(env: Environment, peer: PeerControlPlane): Promise<SystemResult> {
  const runId = randomBytes(3).toString('hex');
  const ns = `bench-${peer.name}-${runId}`;
  const labels = { 'bench.meridian.dev/run': runId };
  const selector = `bench.meridian.dev/run=${runId}`;
  const api = await clientFor(peer.kubeconfig);
  const members = await Promise.all(
    env.members.map(async (m) => ({ name: m.name, client: await clientFor(m.kubeconfig) })),
  );
  const names = Array.from({ length: COUNT }, (_, i) => `bench-${String(i).padStart(4, '0')}`);
  const times = new Map<string, ObjectTimes>(
    names.map((n) => [
      n,
      { memberSeen: new Map(), memberReady: new Map(), memberReplicas: new Map(), stages: new Map() },
    ]),
  );
  const observations: Observation<KubeObject>[] = [];
  const watchError = (where: string) => (err: unknown) => log(`watch ${where}: ${String(err)}`);
  let hubReadyCount = 0;
  let onAllCount = 0;
  let allDone: () => void = () => {};
  const done = new Promise<void>((r) => (allDone = r));

  try {
    await api.create(NAMESPACES, {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: ns },
    } as KubeObject);

    for (const m of members) {
      observations.push(
        observe<Deployment>(
          m.client,
          DEPLOYMENTS,
          { namespace: ns, labelSelector: selector },
          (c, at) => {
            const t = times.get(c.object.metadata?.name ?? '');
            if (t === undefined || c.type !== 'apply') return;
            if (!t.memberSeen.has(m.name)) {
              t.memberSeen.set(m.name, at);
              if (t.memberSeen.size === members.length) onAllCount++;
            }
            const want = c.object.spec?.replicas ?? 1;
            t.memberReplicas.set(m.name, want);
            if (!t.memberReady.has(m.name) && (c.object.status?.readyReplicas ?? 0) >= want)
              t.memberReady.set(m.name, at);
          },
          watchError(m.name),
        ) as Observation<KubeObject>,
      );
    }
    observations.push(
      observe<Deployment>(
        api,
        DEPLOYMENTS,
        { namespace: ns, labelSelector: selector },
        (c, at) => {
          const t = times.get(c.object.metadata?.name ?? '');
          if (t === undefined || c.type !== 'apply' || t.hubReady !== undefined) return;
          if ((c.object.status?.readyReplicas ?? 0) >= (c.object.spec?.replicas ?? REPLICAS)) {
            t.hubReady = at;
            if (++hubReadyCount === COUNT) allDone();
          }
        },
        watchError(`${peer.name} api`),
      ) as Observation<KubeObject>,
    );
    for (const probe of peer.stages?.(ns) ?? []) {
      const reached = new Map<string, Set<string>>();
      observations.push(
        observe<KubeObject>(
          api,
          probe.resource,
          {
            ...(probe.namespace !== undefined && { namespace: probe.namespace }),
            ...(probe.labelSelector !== undefined && { labelSelector: probe.labelSelector }),
          },
          (c, at) => {
            if (c.type !== 'apply') return;
            const d = probe.deploymentOf(c.object);
            const t = d === undefined ? undefined : times.get(d);
            if (d === undefined || t === undefined || t.stages.has(probe.name)) return;
            if (probe.done !== undefined && !probe.done(c.object)) return;
            const set = reached.get(d) ?? new Set<string>();
            set.add(`${c.object.metadata?.namespace ?? ''}/${c.object.metadata?.name ?? ''}`);
            reached.set(d, set);
            if (set.size >= (probe.expected ?? 1)) t.stages.set(probe.name, at);
          },
          watchError(`stage ${probe.name}`),
        ),
      );
    }
    await Promise.all(observations.map((o) => o.ready));
    await peer.applyPolicy(ns, labels);
    log(`${peer.name}: namespace ${ns}, policy applied, watches ready; creating ${COUNT} Deployments`);

    // Memory: the system's processes; hub kube-apiserver and etcd for context (peaks reset now).
    const procs = env.processes();
    const apiserverPids =
      peer.apiServerPids?.() ?? procs.filter((p) => p.name === 'hub/kube-apiserver').map((p) => p.pid);
    const etcdPid = procs.find((p) => p.name === 'etcd')?.pid ?? 0;
    for (const p of [...apiserverPids, etcdPid]) if (!resetPeak(p)) log(`could not reset VmHWM of pid ${p}`);
    const controllersIdle = peer.pids().reduce((a, p) => a + rssMiB(p), 0);
    const requestsBefore = await requestTotals(env.binDir, peer.kubeconfig).catch((err: unknown) => {
      log(`API server metrics unavailable: ${String(err)}`);
      return undefined;
    });
    const memControllers = sampleMemory(() => peer.pids());
    const memApiserver = sampleMemory(() => apiserverPids);
    const memEtcd = sampleMemory(() => [etcdPid]);

    // The machine is shared: record its 1-minute load average alongside, and this process's
    // own event-loop delay (it does little work, so its delay is the machine's CPU contention:
    // a control for the controllers' event-loop delay).
    const runnerDelay = monitorEventLoopDelay({ resolution: 20 });
    runnerDelay.enable();
    const load: number[] = [];
    const loadavg = (): number => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
    load.push(loadavg());
    // No new object on all members, ready on them or ready on the hub for STALL_MS ⇒ give up.
    let lastProgress = { at: now(), signature: '' };
    let stalled: () => void = () => {};
    const stall = new Promise<void>((r) => (stalled = r));
    const progress = setInterval(() => {
      load.push(loadavg());
      let created = 0;
      let memberReadyAll = 0;
      for (const t of times.values()) {
        if (t.createdAck !== undefined) created++;
        if (t.memberReady.size === members.length) memberReadyAll++;
      }
      const signature = `${onAllCount}/${memberReadyAll}/${hubReadyCount}`;
      if (signature !== lastProgress.signature) lastProgress = { at: now(), signature };
      else if (now() - lastProgress.at > STALL_MS) stalled();
      const ctl = peer.pids().reduce((a, p) => a + rssMiB(p), 0);
      log(
        `${peer.name}: created ${created}, on all members ${onAllCount}, ready on all members ${memberReadyAll}, ` +
          `hub ready ${hubReadyCount} / ${COUNT}; controllers RSS ${Math.round(ctl)} MiB`,
      );
    }, 10_000);

    const t0 = now();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < COUNT) {
        const name = names[next++] as string;
        const t = times.get(name) as ObjectTimes;
        t.created = now();
        await createWithRetry(api, deployment(ns, name, labels));
        t.createdAck = now();
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const tCreated = now();
    log(`${peer.name}: ${COUNT} created in ${Math.round(tCreated - t0)} ms`);

    const outcome = await Promise.race([
      done.then(() => 'complete' as const),
      stall.then(() => 'stalled' as const),
      sleep(Math.max(0, TIMEOUT_MS - (now() - t0)), undefined, { ref: false }).then(() => 'timeout' as const),
    ]);
    const timedOut = outcome !== 'complete';
    clearInterval(progress);
    runnerDelay.disable();
    load.push(loadavg());
    const tEnd = now();
    if (timedOut)
      log(
        `${peer.name}: ${outcome === 'stalled' ? `no progress for ${STALL_MS} ms` : `timed out after ${TIMEOUT_MS} ms`}` +
          ` with ${hubReadyCount}/${COUNT} ready on the hub`,
      );
    const ctlSeries = memControllers.stop();
    const requestsAfter =
      requestsBefore === undefined
        ? undefined
        : await requestTotals(env.binDir, peer.kubeconfig).catch(() => undefined);
    const requests =
      requestsBefore === undefined || requestsAfter === undefined
        ? undefined
        : requestDiff(requestsBefore, requestsAfter);
    const apiSeries = memApiserver.stop();
    const etcdSeries = memEtcd.stop();

    // Per-object latencies, from the moment the create was sent.
    const all = [...times.values()];
    const since = (t: ObjectTimes, at: number | undefined): number | undefined =>
      at === undefined || t.created === undefined ? undefined : at - t.created;
    const maxOf = (m: Map<string, number>): number | undefined =>
      m.size === members.length ? Math.max(...m.values()) : undefined;
    const defined = (xs: (number | undefined)[]): number[] => xs.filter((x): x is number => x !== undefined);
    const onAll = defined(all.map((t) => since(t, maxOf(t.memberSeen))));
    const memberReady = defined(all.map((t) => since(t, maxOf(t.memberReady))));
    const hubReady = defined(all.map((t) => since(t, t.hubReady)));
    const hubAfter = defined(
      all.map((t) => {
        const m = maxOf(t.memberReady);
        return m === undefined || t.hubReady === undefined ? undefined : t.hubReady - m;
      }),
    );
    const stageNames = [...new Set(all.flatMap((t) => [...t.stages.keys()]))];
    const stagesMs = Object.fromEntries(
      stageNames.map((s) => [s, stats(defined(all.map((t) => since(t, t.stages.get(s)))))]),
    );
    const lastOf = (xs: (number | undefined)[]): number => Math.max(...defined(xs)) - t0;
    const wrongReplicas = all.filter((t) => [...t.memberReplicas.values()].some((r) => r !== 1)).length;

    writeFileSync(
      join(outDir, `objects-${peer.name}.json`),
      JSON.stringify(
        names.map((n) => {
          const t = times.get(n) as ObjectTimes;
          const rel = (x: number | undefined): number | null => (x === undefined ? null : Math.round(x - t0));
          return {
            name: n,
            created: rel(t.created),
            createdAck: rel(t.createdAck),
            memberSeen: Object.fromEntries([...t.memberSeen].map(([k, v]) => [k, rel(v)])),
            memberReady: Object.fromEntries([...t.memberReady].map(([k, v]) => [k, rel(v)])),
            stages: Object.fromEntries([...t.stages].map(([k, v]) => [k, rel(v)])),
            hubReady: rel(t.hubReady),
          };
        }),
      ),
    );
    writeFileSync(
      join(outDir, `memory-${peer.name}.json`),
      JSON.stringify({
        controllers: ctlSeries.samples,
        hubApiserver: apiSeries.samples,
        etcd: etcdSeries.samples,
      }),
    );

    const result: SystemResult = {
      system: peer.name,
      count: COUNT,
      concurrency: CONCURRENCY,
      namespace: ns,
      outcome,
      complete: hubReady.length,
      createSeconds: Math.round(tCreated - t0) / 1000,
      createPerSecond: Math.round((COUNT / ((tCreated - t0) / 1000)) * 10) / 10,
      createLatencyMs: stats(defined(all.map((t) => since(t, t.createdAck)))),
      onAllMembersMs: stats(onAll),
      memberReadyMs: stats(memberReady),
      hubReadyMs: stats(hubReady),
      hubAfterMembersReadyMs: stats(hubAfter),
      stagesMs,
      batch: {
        allOnMembersMs: Math.round(lastOf(all.map((t) => maxOf(t.memberSeen)))),
        allMemberReadyMs: Math.round(lastOf(all.map((t) => maxOf(t.memberReady)))),
        totalMs: Math.round((timedOut ? tEnd : lastOf(all.map((t) => t.hubReady)) + t0) - t0),
      },
      wrongReplicas,
      controllers: {
        ...ctlSeries,
        samples: [],
        idleRssMiB: Math.round(controllersIdle),
      },
      hubApiserver: { ...apiSeries, samples: [] },
      etcd: { ...etcdSeries, samples: [] },
      deleteToMembersEmptyMs: NaN,
      notes: peer.notes?.() ?? [],
      systemMetrics: peer.metrics?.() ?? {},
      apiRequests:
        requests === undefined
          ? undefined
          : {
              writes: requests.writes,
              reads: requests.reads,
              writesPerDeployment: Math.round((requests.writes / COUNT) * 10) / 10,
              top: requests.rows.slice(0, 20),
            },
      runnerEventLoopDelayMs: {
        p50: Math.round(runnerDelay.percentile(50) / 1e6),
        p99: Math.round(runnerDelay.percentile(99) / 1e6),
        max: Math.round(runnerDelay.max / 1e6),
      },
      loadAverage1m: {
        min: Math.min(...load),
        mean: Math.round((load.reduce((a, b) => a + b, 0) / load.length) * 10) / 10,
        max: Math.max(...load),
      },
    };
    // The result is out before teardown, so a failing cleanup cannot lose it.
    console.log(JSON.stringify(result));
    writeFileSync(join(outDir, `result-${peer.name}.json`), JSON.stringify(result, null, 2));

    // Teardown: delete the batch one by one (a delete-collection of 1,000 outlives the API
    // server's request timeout), wait for every member to be empty, then the namespaces.
    const tDel = now();
    let deleteMs = NaN;
    try {
      let nextDel = 0;
      const deleter = async (): Promise<void> => {
        while (nextDel < COUNT) {
          const name = names[nextDel++] as string;
          for (let attempt = 0; ; attempt++) {
            try {
              await api.delete(DEPLOYMENTS, { namespace: ns, name });
              break;
            } catch (err) {
              if (err instanceof NotFoundError) break;
              if (attempt >= 5 || !isRetryable(err)) throw err;
              await sleep(200 * 2 ** attempt);
            }
          }
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, deleter));
      await Promise.all(
        observations
          .slice(0, members.length + 1)
          .map((o) =>
            until(o, () => o.reader.size === 0, 600_000, `${peer.name}: Deployments deleted everywhere`),
          ),
      );
      deleteMs = Math.round(now() - tDel);
      log(`${peer.name}: batch deleted from the hub and every member in ${deleteMs} ms`);
    } catch (err) {
      log(`${peer.name}: teardown of the batch: ${String(err)}`);
    }
    return { ...result, deleteToMembersEmptyMs: deleteMs };
  } finally {
    for (const o of observations) o.stop();
    await deleteNamespaceAndWait(api, ns, peer.name).catch((err: unknown) => log(String(err)));
    for (const m of members) {
      await deleteNamespaceAndWait(m.client, ns, m.name).catch((err: unknown) => log(String(err)));
      await m.client.close();
    }
    await api.close();
  }
}

const s = (ms: number): string => (Number.isFinite(ms) ? (ms / 1000).toFixed(1) : '–');
function markdownRow(r: SystemResult): string {
  return (
    `| ${r.system} | ${r.count} | ${r.complete} | ${r.createPerSecond} | ` +
    `${s(r.onAllMembersMs.p50)} / ${s(r.onAllMembersMs.p99)} / ${s(r.onAllMembersMs.max)} | ` +
    `${s(r.hubReadyMs.p50)} / ${s(r.hubReadyMs.p99)} / ${s(r.hubReadyMs.max)} | ` +
    `${s(r.batch.allOnMembersMs)} | ${s(r.batch.totalMs)} | ` +
    `${r.controllers.hwmMiB} (${r.controllers.idleRssMiB} idle) | ${r.controllers.cpuSeconds} | ` +
    `${r.hubApiserver.hwmMiB} | ${r.etcd.hwmMiB} |`
  );
}
const HEADER =
  '| system | Deployments | hub-ready | creates/s | on all members p50 / p99 / max (s) | hub ready p50 / p99 / max (s) | ' +
  'batch: all on members (s) | batch: all hub-ready (s) | controllers peak RSS MiB | controllers CPU s | ' +
  'hub apiserver peak MiB | etcd peak MiB |\n| --- | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |';

// ---- main -------------------------------------------------------------------------------

const starts = await Promise.all(systems.map(async (name) => [name, await loadPeer(name)] as const));
let env: Environment | undefined;
let current: PeerControlPlane | undefined;
let exiting = false;
const shutdown = async (): Promise<void> => {
  const peer = current;
  current = undefined;
  if (peer !== undefined) {
    const pids = peer.pids();
    await Promise.race([peer.stop(), sleep(20_000, undefined, { ref: false })]);
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  await env?.stop();
};
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    if (exiting) return;
    exiting = true;
    log(`${sig}: stopping`);
    void shutdown().finally(() => process.exit(130));
  });
}

try {
  log(`output in ${outDir}`);
  const members = benchMembers(COUNT);
  env = await startEnvironment({ members, log });
  log(
    `environment: ${env.members.map((m, i) => `${m.name} ${members[i]?.nodes}×${members[i]?.nodePods} pods`).join(', ')}`,
  );
  const results: SystemResult[] = [];
  const failures: string[] = [];
  for (const [name, start] of starts) {
    // One system failing (to start, or mid-run) does not cost the others their results.
    try {
      const peerOpts: PeerOptions = { nodeArgs, args: controllerArgs, outDir, log };
      current = await start(env, peerOpts);
      results.push(await runSystem(env, current));
    } catch (err) {
      failures.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
      log(`${name}: failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    } finally {
      const peer = current;
      current = undefined;
      await peer?.stop();
      log(`${name}: stopped`);
    }
  }
  console.log(HEADER);
  for (const r of results) console.log(markdownRow(r));
  for (const r of results) for (const n of r.notes) console.log(`- ${r.system}: ${n}`);
  for (const f of failures) console.log(`- failed: ${f.split('\n')[0]}`);
  writeFileSync(join(outDir, 'summary.json'), JSON.stringify({ results, failures }, null, 2));
  if (failures.length > 0) process.exitCode = 1;
} finally {
  if (!exiting) {
    exiting = true;
    await shutdown();
  }
}
