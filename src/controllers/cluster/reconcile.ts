/**
 * The Cluster reconciler (push mode). For one Cluster it:
 * - holds the `meridian.dev/cluster-cleanup` finalizer: on deletion the cluster's Works are
 *   deleted and gone (their own finalizers clean the member first), then its execution
 *   namespace, and only then is the Cluster released;
 * - keeps the execution namespace `meridian-cluster-<name>` present and labelled;
 * - probes the member's health on a timer (the one deliberate timer of the design: push mode
 *   has no agent to heartbeat): `/readyz`, `/version` and, when discovery changed, its APIs;
 * - computes the resource summary from the member's node and pod informers;
 * - writes `status` by server-side apply only when something it owns changed;
 * - taints the cluster `cluster.meridian.dev/not-ready:NoExecute` once it has not been Ready
 *   for the grace period, and removes that taint once it has been Ready again for the
 *   stabilisation period (see `taints.ts`), with an Event for each.
 *
 * State kept in memory per cluster (probe timing, failures, last discovery) is a cache: after a
 * restart the first reconcile probes again. Entries are dropped when the Cluster is gone or its
 * connection is replaced, so memory is bounded by the number of Clusters.
 */
import { sameJson } from '../../kube/canonical-json.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  API_VERSION,
  ConditionTypes,
  FIELD_MANAGER,
  Finalizers,
  GROUP,
  Kinds,
  Labels,
  Plurals,
  TaintKeys,
  VERSION,
  clusterNamespace,
  type APIEnablement,
  type Cluster,
  type ClusterStatus,
  type Condition,
} from '../../api/index.ts';
import type { ApiClient, ResourceType } from '../../kube/api-client.ts';
import type { ReconcileContext, Reconciler, Result } from '../../kube/controller.ts';
import { InvalidError, NotFoundError } from '../../kube/errors.ts';
import { withFinalizer } from '../../kube/finalizer.ts';
import type { Lease } from '../../kube/leader-election.ts';
import type { Logger } from '../../kube/log.ts';
import { objectKey, refOf, type ObjectKey } from '../../kube/object-key.ts';
import type { Recorder } from '../../kube/recorder.ts';
import type { StoreReader } from '../../kube/store.ts';
import type { KubeObject } from '../../kube/wire.ts';
import { CRDS, NAMESPACES } from '../bootstrap/install-crds.ts';
import type { MemberConnection, MemberRegistry } from '../context.ts';
import { CLUSTERS, hasConnectionStatus } from '../members/registry.ts';
import {
  FAILURE_THRESHOLD,
  notConnectedCondition,
  readyCondition,
  setCondition,
  type ConditionInput,
  type ProbeOutcome,
} from './conditions.ts';
import { agentLeaseKey, leaseReadiness } from './lease-health.ts';
import { PROBE_TIMEOUT_MS, discover, groupVersions, probe } from './probe.ts';
import { computeCapacity, toResourceSummary, type Node, type Pod } from '../../work/summary.ts';
import {
  DEFAULT_NOT_READY_GRACE_MS,
  DEFAULT_READY_STABILIZATION_MS,
  notReadyTaintDecision,
  taintPatch,
} from './taints.ts';

export { CLUSTERS };

export const WORKS: ResourceType = {
  group: GROUP,
  version: VERSION,
  resource: Plurals.Work,
  scope: 'Namespaced',
  kind: Kinds.Work,
};

export const NODES: ResourceType = {
  group: '',
  version: 'v1',
  resource: 'nodes',
  scope: 'Cluster',
  kind: 'Node',
};
export const PODS: ResourceType = {
  group: '',
  version: 'v1',
  resource: 'pods',
  scope: 'Namespaced',
  kind: 'Pod',
};

/** Terminal pods hold no resources; leaving them out of the watch keeps the cache small. */
export const NON_TERMINAL_PODS = { fieldSelector: 'status.phase!=Succeeded,status.phase!=Failed' } as const;

/** The member informers the summary and discovery read (shared per connection). */
export function memberStores(conn: MemberConnection): {
  readonly nodes: StoreReader<Node>;
  readonly pods: StoreReader<Pod>;
  readonly crds: StoreReader<KubeObject>;
} {
  return {
    nodes: conn.informer<Node>(NODES),
    pods: conn.informer<Pod>(PODS, NON_TERMINAL_PODS),
    crds: conn.informer(CRDS),
  };
}

/** Conditions this controller owns in `status.conditions`. */
const OWNED_CONDITIONS: ReadonlySet<string> = new Set([
  ConditionTypes.Ready,
  ConditionTypes.CompleteAPIEnablements,
]);

export interface ClusterReconcilerOptions {
  readonly hub: ApiClient;
  readonly clusters: StoreReader<Cluster>;
  /** Execution namespaces (labelled `meridian.dev/cluster`). */
  readonly namespaces: StoreReader<KubeObject>;
  readonly members: MemberRegistry;
  /** Agent heartbeat Leases: pull-mode readiness (see `lease-health.ts`). Absent: status is left as is. */
  readonly leases?: StoreReader<Lease>;
  readonly recorder: Recorder;
  readonly log: Logger;
  /** Between probes of a healthy (or settled unhealthy) member. Default 10 s, ±20 % jitter. */
  readonly probeIntervalMs?: number;
  /** After a failure below the threshold, probe again this soon. Default 2 s. */
  readonly retryIntervalMs?: number;
  /** Per-request timeout of a probe. Default 5 s. */
  readonly probeTimeoutMs?: number;
  /** Not Ready this long ⇒ `NoExecute` taint. Default 40 s. */
  readonly notReadyGracePeriodMs?: number;
  /** Ready again this long ⇒ the taint is removed. Default 30 s. */
  readonly readyStabilizationMs?: number;
  readonly now?: () => number;
  readonly random?: () => number;
  readonly onReadyChange?: (cluster: string, ready: boolean) => void;
  readonly onStatusWrite?: (cluster: string) => void;
  readonly onTaintChange?: (cluster: string, tainted: boolean) => void;
}

interface Runtime {
  readonly connection: MemberConnection;
  nextProbeAt: number;
  failures: number;
  outcome: ProbeOutcome | undefined;
  version: string | undefined;
  heartbeat: string | undefined;
  gvFingerprint: string | undefined;
  enablements: APIEnablement[] | undefined;
  failedGroupVersions: string[];
  discoveryDirty: boolean;
}

type StatusView = Pick<
  ClusterStatus,
  | 'conditions'
  | 'kubernetesVersion'
  | 'apiEnablements'
  | 'resourceSummary'
  | 'nodeSummary'
  | 'lastHeartbeatTime'
>;

export class ClusterReconciler implements Reconciler {
  readonly name = 'cluster';
  readonly #o: ClusterReconcilerOptions;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #runtime = new Map<string, Runtime>();

  constructor(opts: ClusterReconcilerOptions) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
    this.#random = opts.random ?? Math.random;
  }

  /** The member's CRDs or APIServices changed: rediscover at the next reconcile. */
  markDiscoveryDirty(cluster: string): void {
    const rt = this.#runtime.get(cluster);
    if (rt !== undefined) {
      rt.discoveryDirty = true;
      rt.nextProbeAt = 0;
    }
  }

  async reconcile(key: ObjectKey, ctx: ReconcileContext): Promise<Result> {
    const { name } = refOf(key);
    const cluster = this.#o.clusters.get(key);
    if (cluster === undefined) {
      this.#runtime.delete(name);
      return {};
    }
    if (
      cluster.metadata.deletionTimestamp !== undefined &&
      cluster.metadata.finalizers?.includes(Finalizers.cluster) === true
    ) {
      // Waiting on the API server's deletions is not a failure: the Works and namespace stores
      // requeue this cluster as they go, so wait for that rather than throw into backoff.
      const waiting = await this.#removeDependents(name, ctx);
      if (waiting !== undefined) return waiting;
    }
    return withFinalizer(
      cluster,
      Finalizers.cluster,
      {
        apply: (c) => this.#sync(c, ctx),
        cleanup: async () => {
          // Dependents are gone (checked just above); release, and forget the cluster.
          this.#runtime.delete(name);
          ctx.log.info({ cluster: name }, 'cluster cleaned up; releasing it');
          return {};
        },
      },
      (ops) => this.#o.hub.patch(CLUSTERS, { name }, { type: 'json', ops }, { signal: ctx.signal }),
    );
  }

  async #sync(cluster: Cluster, ctx: ReconcileContext): Promise<Result> {
    const name = cluster.metadata.name as string;
    await this.#ensureNamespace(name, ctx.signal);
    // Pull-mode clusters: readiness is the agent's heartbeat Lease; the taint follows it.
    if (cluster.spec.syncMode !== 'Push') return this.#syncPull(cluster, ctx);

    const existing = cluster.status ?? {};
    const nowMs = this.#now();
    const stamp = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
    let now = stamp(nowMs);
    const conn = this.#o.members.get(name);
    if (conn === undefined) {
      this.#runtime.delete(name);
      const state = hasConnectionStatus(this.#o.members) ? this.#o.members.connectionStatus(name) : undefined;
      // Undecided is not unhealthy: the registry notifies (and so requeues) once it decides.
      if (state?.state === 'pending' || state?.state === 'connected') return {};
      const why = state?.state === 'failed' ? state.message : undefined;
      const status: StatusView = {
        ...ownedView(existing),
        conditions: ownConditions(setCondition(existing.conditions, notConnectedCondition(why), now)),
      };
      const written = await this.#write(cluster, existing, status, ctx);
      // The registry's change notification requeues this cluster when it connects.
      return (await this.#taint(written ?? cluster, readyOf(status), {}, ctx)).result;
    }

    let rt = this.#runtime.get(name);
    if (rt === undefined || rt.connection !== conn) {
      rt = {
        connection: conn,
        nextProbeAt: 0,
        failures: 0,
        outcome: undefined,
        version: undefined,
        heartbeat: undefined,
        gvFingerprint: undefined,
        enablements: undefined,
        failedGroupVersions: [],
        discoveryDirty: true,
      };
      this.#runtime.set(name, rt);
    }
    let latest = cluster;
    if (nowMs >= rt.nextProbeAt) {
      // Act on the verdict we have first, and on time: a probe of a dead member takes its whole
      // timeout, during which the taint may fall due.
      const before = await this.#taint(cluster, readyOf(existing), {}, ctx);
      latest = before.latest;
      const probing = this.#probe(name, rt, ctx);
      const due = before.result.requeueAfterMs;
      if (due !== undefined) {
        const stop = new AbortController();
        const first = await Promise.race([
          probing.then(() => 'probe' as const),
          sleep(due, 'taint' as const, { signal: AbortSignal.any([ctx.signal, stop.signal]) }),
        ]);
        stop.abort();
        if (first === 'taint') latest = (await this.#taint(latest, readyOf(existing), {}, ctx)).latest;
      }
      await probing;
      // A transition happens when the probe's verdict is in, not when it was sent.
      now = stamp(this.#now());
    }

    const current = existing.conditions?.find((c) => c.type === ConditionTypes.Ready);
    const readyInput: ConditionInput =
      rt.outcome !== undefined
        ? readyCondition(rt.outcome, rt.failures, current)
        : (current ?? {
            type: ConditionTypes.Ready,
            status: 'Unknown',
            reason: 'Probing',
            message: 'not probed yet',
          });
    let conditions = setCondition(existing.conditions, readyInput, now);
    if (rt.enablements !== undefined) {
      conditions = setCondition(conditions, completeCondition(rt.failedGroupVersions), now);
    }

    const { nodes, pods } = memberStores(conn);
    const capacity =
      nodes.isReady() && pods.isReady() ? computeCapacity(nodes.list(), pods.list()) : undefined;
    const carried = ownedView(existing);
    const status: StatusView = {
      ...carried,
      conditions: ownConditions(conditions),
      ...(rt.version === undefined ? {} : { kubernetesVersion: rt.version }),
      ...(rt.enablements === undefined ? {} : { apiEnablements: rt.enablements }),
      ...(rt.heartbeat === undefined ? {} : { lastHeartbeatTime: rt.heartbeat }),
      ...(capacity === undefined
        ? {}
        : { resourceSummary: toResourceSummary(capacity), nodeSummary: { ...capacity.nodes } }),
    };
    const written = await this.#write(latest, existing, status, ctx);
    const next = { requeueAfterMs: Math.max(0, rt.nextProbeAt - this.#now()) };
    return (await this.#taint(written ?? latest, readyOf(status), next, ctx)).result;
  }

  async #syncPull(cluster: Cluster, ctx: ReconcileContext): Promise<Result> {
    const leases = this.#o.leases;
    if (leases === undefined) return (await this.#taint(cluster, readyOf(cluster.status), {}, ctx)).result;
    const name = cluster.metadata.name as string;
    const verdict = leaseReadiness(leases.get(agentLeaseKey(name)), this.#now());
    const existing = cluster.status ?? {};
    const now = new Date(this.#now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
    // Only the conditions are the hub's here; the agent reports the rest (its own field manager).
    const conditions = ownConditions(setCondition(existing.conditions, verdict.condition, now));
    const changed = !sameJson(ownConditions(existing.conditions ?? []), conditions);
    const written = changed ? await this.#write(cluster, existing, { conditions }, ctx) : undefined;
    const status: StatusView = { conditions };
    const next = verdict.recheckAfterMs === undefined ? {} : { requeueAfterMs: verdict.recheckAfterMs + 100 };
    return (await this.#taint(written ?? cluster, readyOf(status), next, ctx)).result;
  }

  /**
   * Adds or removes the not-ready taint as `ready` says (see `taints.ts`), on `cluster` as
   * last seen (after our own writes, so its resourceVersion is current). Returns `result` with
   * its requeue brought forward to the next taint deadline, and the Cluster as it now is.
   */
  async #taint(
    cluster: Cluster,
    ready: Condition | undefined,
    result: Result,
    ctx: ReconcileContext,
  ): Promise<{ readonly result: Result; readonly latest: Cluster }> {
    const name = cluster.metadata.name as string;
    const timing = {
      gracePeriodMs: this.#o.notReadyGracePeriodMs ?? DEFAULT_NOT_READY_GRACE_MS,
      stabilizationMs: this.#o.readyStabilizationMs ?? DEFAULT_READY_STABILIZATION_MS,
    };
    let current = cluster;
    let decision = notReadyTaintDecision(ready, current.spec.taints, this.#now(), timing);
    if (decision.action === 'keep') {
      const recheck = decision.recheckAfterMs;
      if (recheck === undefined) return { result, latest: current };
      // A little late rather than early: a timer that fires early would find nothing to do.
      const at = recheck + 100;
      return { result: { requeueAfterMs: Math.min(result.requeueAfterMs ?? at, at) }, latest: current };
    }
    for (let attempt = 0; ; attempt++) {
      const ops = taintPatch(decision, current.spec.taints, current.metadata.resourceVersion);
      if (ops === undefined) return { result, latest: current };
      try {
        current = await this.#o.hub.patch<Cluster>(
          CLUSTERS,
          { name },
          { type: 'json', ops },
          { signal: ctx.signal },
        );
        break;
      } catch (err) {
        // The `test` failed: our view of the taints is stale (the store lags our own last
        // write, or someone edited them). Decide once more on the Cluster as it is now.
        if (!(err instanceof InvalidError) || attempt > 0) throw err;
        current = await this.#o.hub.get<Cluster>(CLUSTERS, { name }, { signal: ctx.signal });
        decision = notReadyTaintDecision(ready, current.spec.taints, this.#now(), timing);
        if (decision.action === 'keep') return { result, latest: current };
      }
    }
    const added = decision.action === 'add';
    ctx.log.info({ cluster: name, taint: TaintKeys.notReady }, decision.message);
    this.#o.recorder.event(
      cluster,
      added ? 'Warning' : 'Normal',
      added ? 'ClusterTainted' : 'ClusterUntainted',
      decision.message,
    );
    this.#o.onTaintChange?.(name, added);
    return { result, latest: current };
  }

  async #probe(name: string, rt: Runtime, ctx: ReconcileContext): Promise<void> {
    const client = rt.connection.client;
    const timeoutMs = this.#o.probeTimeoutMs ?? PROBE_TIMEOUT_MS;
    const outcome = await probe(client, ctx.signal, timeoutMs);
    const t = this.#now();
    rt.outcome = outcome;
    if (outcome.ok) {
      rt.failures = 0;
      rt.version = outcome.version;
      rt.heartbeat = new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
      try {
        const gvs = await groupVersions(client, ctx.signal, timeoutMs);
        const fingerprint = gvs.join(',');
        if (rt.discoveryDirty || fingerprint !== rt.gvFingerprint) {
          // The client's discovery cache serves every reader of this member: refresh it.
          if (rt.gvFingerprint !== undefined) client.invalidateDiscovery();
          const d = await discover(client, gvs, ctx.signal, timeoutMs);
          rt.enablements = d.enablements;
          rt.failedGroupVersions = d.failed;
          rt.gvFingerprint = fingerprint;
          // Retry failed group versions at the next probe.
          rt.discoveryDirty = d.failed.length > 0;
        }
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        rt.discoveryDirty = true;
        ctx.log.warn({ cluster: name, err }, 'member discovery failed; keeping the previous API list');
      }
    } else {
      rt.failures++;
      ctx.log.info({ cluster: name, reason: outcome.reason, failures: rt.failures }, outcome.message);
    }
    const settled = outcome.ok || rt.failures >= FAILURE_THRESHOLD;
    const interval = this.#o.probeIntervalMs ?? 10_000;
    const delay = settled ? interval * (0.8 + 0.4 * this.#random()) : (this.#o.retryIntervalMs ?? 2_000);
    rt.nextProbeAt = this.#now() + delay;
  }

  /** Writes `status` when it differs from `existing`; resolves the written object, if any. */
  async #write(
    cluster: Cluster,
    existing: ClusterStatus,
    status: StatusView,
    ctx: ReconcileContext,
  ): Promise<Cluster | undefined> {
    const name = cluster.metadata.name as string;
    const before = existing.conditions?.find((c) => c.type === ConditionTypes.Ready);
    const after = status.conditions?.find((c) => c.type === ConditionTypes.Ready);
    if (sameJson(ownedView(existing), status)) return undefined;
    const patch: KubeObject & { status: StatusView } = {
      apiVersion: API_VERSION,
      kind: Kinds.Cluster,
      metadata: { name },
      status,
    };
    const written = await this.#o.hub.applyStatus<Cluster>(CLUSTERS, patch, {
      fieldManager: FIELD_MANAGER,
      force: true,
      signal: ctx.signal,
    });
    this.#o.onStatusWrite?.(name);
    if (after !== undefined && after.status !== before?.status) {
      this.#o.onReadyChange?.(name, after.status === 'True');
      if (after.status === 'True') this.#o.recorder.event(cluster, 'Normal', 'ClusterReady', after.message);
      else if (after.status === 'False') {
        this.#o.recorder.event(cluster, 'Warning', 'ClusterNotReady', `${after.reason}: ${after.message}`);
      }
    }
    return written;
  }

  async #ensureNamespace(cluster: string, signal: AbortSignal): Promise<void> {
    const ns = clusterNamespace(cluster);
    const seen = this.#o.namespaces.get(objectKey(undefined, ns));
    if (seen !== undefined || !this.#o.namespaces.isReady()) return;
    await this.#o.hub.apply(
      NAMESPACES,
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { [Labels.cluster]: cluster } } },
      { fieldManager: FIELD_MANAGER, force: true, signal },
    );
  }

  /**
   * Deletes the cluster's Works, then its execution namespace. Resolves `undefined` once both
   * are gone, else the `Result` to wait with: `{}` when a store event will requeue (a Work or
   * the labelled namespace going away), a short requeue for an unlabelled namespace.
   */
  async #removeDependents(name: string, ctx: ReconcileContext): Promise<Result | undefined> {
    const ns = clusterNamespace(name);
    const hub = this.#o.hub;
    const works = await hub.list(WORKS, { namespace: ns }, ctx.signal).catch((err: unknown) => {
      // No Work CRD means no Works.
      if (err instanceof NotFoundError) return { items: [] as KubeObject[] };
      throw err;
    });
    for (const w of works.items) {
      if (w.metadata?.deletionTimestamp !== undefined) continue;
      await hub
        .delete(WORKS, { namespace: ns, name: w.metadata?.name as string }, { signal: ctx.signal })
        .catch(ignoreNotFound);
    }
    if (works.items.length > 0) {
      ctx.log.info(
        { cluster: name, works: works.items.length },
        'waiting for the Works of a deleted cluster to go',
      );
      return {};
    }
    await hub.delete(NAMESPACES, { name: ns }, { signal: ctx.signal }).catch(ignoreNotFound);
    try {
      await hub.get(NAMESPACES, { name: ns }, { signal: ctx.signal });
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
    ctx.log.info({ cluster: name, namespace: ns }, 'waiting for the execution namespace to be deleted');
    const watched = this.#o.namespaces.get(objectKey(undefined, ns)) !== undefined;
    return watched ? {} : { requeueAfterMs: 2_000 };
  }
}

function readyOf(status: Pick<ClusterStatus, 'conditions'> | undefined): Condition | undefined {
  return status?.conditions?.find((c) => c.type === ConditionTypes.Ready);
}

function ignoreNotFound(err: unknown): void {
  if (!(err instanceof NotFoundError)) throw err;
}

function completeCondition(failed: readonly string[]): ConditionInput {
  return failed.length === 0
    ? {
        type: ConditionTypes.CompleteAPIEnablements,
        status: 'True',
        reason: 'Complete',
        message: 'every served group version was discovered',
      }
    : {
        type: ConditionTypes.CompleteAPIEnablements,
        status: 'False',
        reason: 'DiscoveryFailed',
        message: `could not list the resources of: ${failed.join(', ')}`,
      };
}

function ownConditions(conditions: readonly Condition[]): Condition[] {
  return conditions.filter((c) => OWNED_CONDITIONS.has(c.type));
}

/** The part of `status` this controller owns (conditions of other writers left out). */
function ownedView(s: ClusterStatus): StatusView {
  const out: { -readonly [K in keyof StatusView]: StatusView[K] } = {};
  const conditions = ownConditions(s.conditions ?? []);
  if (conditions.length > 0) out.conditions = conditions;
  if (s.kubernetesVersion !== undefined) out.kubernetesVersion = s.kubernetesVersion;
  if (s.apiEnablements !== undefined) out.apiEnablements = s.apiEnablements;
  if (s.resourceSummary !== undefined) out.resourceSummary = s.resourceSummary;
  if (s.nodeSummary !== undefined) out.nodeSummary = s.nodeSummary;
  if (s.lastHeartbeatTime !== undefined) out.lastHeartbeatTime = s.lastHeartbeatTime;
  return out;
}
