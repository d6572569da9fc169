/**
 * Wiring of the Cluster controller: which changes requeue which Cluster.
 *
 * - Cluster objects (the primary kind);
 * - execution namespaces (label `meridian.dev/cluster`) → that cluster, so a deleted namespace
 *   is recreated and a finishing namespace deletion releases the Cluster at once;
 * - Works of a Cluster being deleted → that cluster, so cleanup continues as they go;
 * - the member registry (connect, reconnect, disconnect) → that cluster;
 * - the member's nodes and pods → that cluster, coalesced to at most one reconcile per cluster
 *   per `minSummaryIntervalMs` (status writes follow, only when something changed);
 * - the member's CRDs → rediscover its APIs;
 * - pull mode: the agent's heartbeat Lease → that cluster (readiness from `lease-health.ts`).
 * Plus the health probe timer, returned by the reconciler as `requeueAfterMs`.
 */
import { Gauge, Counter, type Registry } from 'prom-client';
import { API_VERSION, Kinds, Labels, clusterFromNamespace, type Cluster } from '../../api/index.ts';
import { defineController, type Controller } from '../../kube/controller.ts';
import { objectKey, type ObjectKey } from '../../kube/object-key.ts';
import type { Lease } from '../../kube/leader-election.ts';
import type { KubeObject } from '../../kube/wire.ts';
import { NAMESPACES } from '../bootstrap/install-crds.ts';
import type { ControllerContext, MemberConnection, StartController } from '../context.ts';
import { Coalescer } from './coalesce.ts';
import { AGENT_LEASES, AGENT_LEASE_SCOPE } from './lease-health.ts';
import { CLUSTERS, ClusterReconciler, WORKS, memberStores } from './reconcile.ts';

export interface ClusterControllerOptions {
  /** Default 10 s (±20 % jitter). */
  readonly probeIntervalMs?: number;
  /** Default 2 s. */
  readonly retryIntervalMs?: number;
  /**
   * Least time between summary-driven reconciles of one cluster. Default 5 s: the resource
   * summary changes with every pod, and rewriting it each second cost 4 Cluster status writes
   * a second during a burst (Karmada's default period is 10 s). Ready transitions come from
   * probes and are not held back by this.
   */
  readonly minSummaryIntervalMs?: number;
  /** Concurrent reconciles (distinct clusters). Default 4: a probe may wait on a slow member. */
  readonly workers?: number;
  /** Per-request timeout of a probe. Default 5 s. */
  readonly probeTimeoutMs?: number;
  /** Not Ready this long ⇒ taint `cluster.meridian.dev/not-ready:NoExecute`. Default 40 s. */
  readonly notReadyGracePeriodMs?: number;
  /** Ready again this long ⇒ that taint is removed. Default 30 s. */
  readonly readyStabilizationMs?: number;
}

function metric<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

/** Builds the controller; `run(ctx.signal)` starts it. */
export function createClusterController(
  ctx: ControllerContext,
  opts: ClusterControllerOptions = {},
): Controller {
  const log = ctx.log;
  const clusters = ctx.informers.informer<Cluster>(CLUSTERS);
  const namespaces = ctx.informers.informer(NAMESPACES, { labelSelector: Labels.cluster });
  const works = ctx.informers.informer(WORKS);
  const leases = ctx.informers.informer<Lease>(AGENT_LEASES, AGENT_LEASE_SCOPE);
  const ready = metric(
    ctx.metrics,
    'meridian_cluster_ready',
    () =>
      new Gauge({
        name: 'meridian_cluster_ready',
        help: '1 when the member cluster passes its health probe, 0 when not.',
        labelNames: ['cluster'],
        registers: [ctx.metrics],
      }),
  );
  const writes = metric(
    ctx.metrics,
    'meridian_cluster_status_writes_total',
    () =>
      new Counter({
        name: 'meridian_cluster_status_writes_total',
        help: 'Cluster status updates written to the hub.',
        labelNames: ['cluster'],
        registers: [ctx.metrics],
      }),
  );
  const tainted = metric(
    ctx.metrics,
    'meridian_cluster_not_ready_tainted',
    () =>
      new Gauge({
        name: 'meridian_cluster_not_ready_tainted',
        help: '1 while the cluster carries the cluster.meridian.dev/not-ready:NoExecute taint Meridian added.',
        labelNames: ['cluster'],
        registers: [ctx.metrics],
      }),
  );
  const defined = <K extends string, V>(key: K, v: V | undefined): { [P in K]?: V } =>
    (v === undefined ? {} : { [key]: v }) as { [P in K]?: V };
  const reconciler = new ClusterReconciler({
    hub: ctx.hub,
    clusters,
    namespaces,
    members: ctx.members,
    leases,
    recorder: ctx.recorder,
    log,
    ...defined('probeIntervalMs', opts.probeIntervalMs),
    ...defined('retryIntervalMs', opts.retryIntervalMs),
    ...defined('probeTimeoutMs', opts.probeTimeoutMs),
    ...defined('notReadyGracePeriodMs', opts.notReadyGracePeriodMs),
    ...defined('readyStabilizationMs', opts.readyStabilizationMs),
    onReadyChange: (c, ok) => ready.set({ cluster: c }, ok ? 1 : 0),
    onStatusWrite: (c) => writes.inc({ cluster: c }),
    onTaintChange: (c, on) => tainted.set({ cluster: c }, on ? 1 : 0),
  });
  const keyOfCluster = (name: string): ObjectKey => objectKey(undefined, name);
  const controller = defineController({
    name: 'cluster',
    for: { store: clusters, apiVersion: API_VERSION, kind: Kinds.Cluster, scope: 'Cluster' },
    watches: [
      {
        source: namespaces,
        map: (ns: KubeObject) => {
          const c = ns.metadata?.labels?.[Labels.cluster];
          return c === undefined || c === '' ? [] : [keyOfCluster(c)];
        },
      },
      {
        // Pull mode: a heartbeat (or its first appearance) → that cluster.
        source: leases,
        map: (l: Lease) => {
          const c = clusterFromNamespace(l.metadata.namespace ?? '');
          return c === undefined ? [] : [keyOfCluster(c)];
        },
      },
      {
        source: works,
        map: (w: KubeObject) => {
          const c = clusterFromNamespace(w.metadata?.namespace ?? '');
          if (c === undefined) return [];
          const key = keyOfCluster(c);
          return clusters.get(key)?.metadata.deletionTimestamp === undefined ? [] : [key];
        },
      },
    ],
    reconciler,
    workers: opts.workers ?? 4,
    log,
  });

  const enqueue = (name: string): void => void controller.queue.add(keyOfCluster(name));
  const coalescer = new Coalescer<string>(opts.minSummaryIntervalMs ?? 5_000, enqueue);
  const attached = new Map<string, { readonly conn: MemberConnection; readonly abort: AbortController }>();
  /** Follows the current connection's member stores; drops the old ones' subscriptions. */
  const attach = (name: string): void => {
    const conn = ctx.members.get(name);
    const cur = attached.get(name);
    if (cur?.conn === conn) return;
    cur?.abort.abort();
    attached.delete(name);
    coalescer.forget(name);
    if (conn === undefined || ctx.signal.aborted) return;
    const abort = new AbortController();
    const signal = AbortSignal.any([ctx.signal, abort.signal]);
    const stores = memberStores(conn);
    const touch = (): void => coalescer.touch(name);
    stores.nodes.subscribe(touch, signal);
    stores.pods.subscribe(touch, signal);
    stores.crds.subscribe(() => {
      reconciler.markDiscoveryDirty(name);
      touch();
    }, signal);
    attached.set(name, { conn, abort });
  };
  ctx.members.subscribe((name) => {
    attach(name);
    enqueue(name);
  }, ctx.signal);
  for (const name of ctx.members.names()) attach(name);
  ctx.signal.addEventListener('abort', () => coalescer.stop(), { once: true });
  clusters.subscribe((change) => {
    if (change.type === 'delete' && change.object.metadata.name !== undefined) {
      ready.remove({ cluster: change.object.metadata.name });
      tainted.remove({ cluster: change.object.metadata.name });
    }
  }, ctx.signal);
  return controller;
}

/** The Cluster controller options that `ctx.settings` asks for. */
export function clusterOptionsFrom(ctx: ControllerContext): ClusterControllerOptions {
  const s = ctx.settings ?? {};
  const out: { -readonly [K in keyof ClusterControllerOptions]: ClusterControllerOptions[K] } = {};
  if (s.clusterProbeIntervalMs !== undefined) out.probeIntervalMs = s.clusterProbeIntervalMs;
  if (s.clusterProbeRetryMs !== undefined) out.retryIntervalMs = s.clusterProbeRetryMs;
  if (s.clusterProbeTimeoutMs !== undefined) out.probeTimeoutMs = s.clusterProbeTimeoutMs;
  if (s.notReadyGracePeriodMs !== undefined) out.notReadyGracePeriodMs = s.notReadyGracePeriodMs;
  if (s.readyStabilizationMs !== undefined) out.readyStabilizationMs = s.readyStabilizationMs;
  return out;
}

/** Runs the Cluster controller (tuned by `ctx.settings`) until `ctx.signal` aborts. */
export const startClusterController: StartController = (ctx) =>
  createClusterController(ctx, clusterOptionsFrom(ctx)).run(ctx.signal);
