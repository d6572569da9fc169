/**
 * Graceful eviction (pure): when a scheduling pass drops a cluster because it gained a
 * `NoExecute` taint the placement does not tolerate (a failed cluster: `failover.cluster`), or
 * because application failover evicted the binding from it (`spec.evictedClusters`: the workload
 * stayed unhealthy there; `failover.application`), the binding records a
 * `gracefulEvictionTask` for it and its Work — its copy — is kept until the clusters that took
 * over are healthy, or the grace period ends. Only then does the binding controller delete that
 * Work (and the execution controller the objects, once the member answers).
 *
 * A task ends when:
 * - its cluster is a target again (`Rescheduled`: its Work is rendered as usual);
 * - its Cluster is gone or being deleted (`ClusterGone`: its Works are released anyway);
 * - `purgeMode: Graciously` and every target cluster runs its current share healthily
 *   (`Healthy`), or the grace period passed (`Timeout`).
 * `purgeMode: Never` tasks end only the first two ways (or by hand); `Immediately` makes none.
 */
import type {
  Cluster,
  Failover,
  GracefulEvictionTask,
  Placement,
  PurgeMode,
  Taint,
  TargetCluster,
  Work,
} from '../../api/index.ts';
import { Annotations } from '../../api/index.ts';
import { tolerates } from './plugins/taint-toleration/index.ts';

/** Default graceful-eviction timeout when neither the policy nor the settings give one. */
export const DEFAULT_EVICTION_TIMEOUT_MS = 600_000;

export const EvictionReasons = {
  taintUntolerated: 'TaintUntolerated',
  applicationFailure: 'ApplicationFailure',
} as const;
export type EvictionReason = (typeof EvictionReasons)[keyof typeof EvictionReasons];

export type EvictionEnd = 'Healthy' | 'Timeout' | 'Rescheduled' | 'ClusterGone';

export interface EvictionInput {
  /** `spec.clusters` before this pass. */
  readonly previous: readonly TargetCluster[];
  /** `spec.clusters` after this pass (the previous ones when scheduling failed). */
  readonly next: readonly TargetCluster[];
  readonly tasks: readonly GracefulEvictionTask[];
  /** Clusters not being deleted, by name. */
  readonly clusters: ReadonlyMap<string, Cluster>;
  readonly placement: Placement;
  readonly failover: Failover | undefined;
  readonly nowMs: number;
  /** When the policy gives no `failover.cluster.gracePeriodSeconds`. */
  readonly defaultTimeoutMs: number;
  /**
   * Every cluster of `next` runs its share, applied and healthy (see {@link runsShare}). The
   * caller passes false when this pass changed the targets: their Works are not rendered yet.
   */
  readonly replacementHealthy: boolean;
  /** `spec.evictedClusters`: clusters application failover evicted the binding from, name → why. */
  readonly evictedClusters?: ReadonlyMap<string, string>;
}

export interface EvictionOutcome {
  /** The tasks to write (sorted by cluster). */
  readonly tasks: GracefulEvictionTask[];
  /** Evictions decided in this pass, with the purge mode they got (Immediately: no task). */
  readonly evicted: Array<{
    readonly cluster: string;
    readonly purgeMode: PurgeMode;
    readonly reason: EvictionReason;
    readonly why: string;
  }>;
  readonly ended: Array<{ readonly task: GracefulEvictionTask; readonly why: EvictionEnd }>;
  /** When the earliest remaining task times out. */
  readonly recheckAfterMs?: number;
}

const describe = (t: Taint) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`;
const rfc3339 = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The cluster's `NoExecute` taints that `placement` does not tolerate. */
export function untoleratedNoExecute(cluster: Cluster, placement: Placement): Taint[] {
  const tolerations = placement.clusterTolerations ?? [];
  return (cluster.spec.taints ?? []).filter(
    (t) => t.effect === 'NoExecute' && !tolerations.some((tol) => tolerates(tol, t)),
  );
}

/** The deadline of a task, in ms since the epoch; `undefined` for `Never`. */
export function taskDeadline(task: GracefulEvictionTask, defaultTimeoutMs: number): number | undefined {
  if (task.purgeMode === 'Never') return undefined;
  const from = Date.parse(task.creationTimestamp);
  const grace = task.gracePeriodSeconds !== undefined ? task.gracePeriodSeconds * 1000 : defaultTimeoutMs;
  return (Number.isFinite(from) ? from : 0) + grace;
}

/** The next tasks, and what changed, after one scheduling pass. */
export function nextEvictionTasks(input: EvictionInput): EvictionOutcome {
  const targets = new Set(input.next.map((t) => t.name));
  const evicted: Array<{ cluster: string; purgeMode: PurgeMode; reason: EvictionReason; why: string }> = [];
  const ended: Array<{ task: GracefulEvictionTask; why: EvictionEnd }> = [];
  const kept = new Map<string, GracefulEvictionTask>();
  let recheck: number | undefined;

  for (const task of input.tasks) {
    let why: EvictionEnd | undefined;
    const deadline = taskDeadline(task, input.defaultTimeoutMs);
    if (targets.has(task.fromCluster)) why = 'Rescheduled';
    else if (!input.clusters.has(task.fromCluster)) why = 'ClusterGone';
    else if (task.purgeMode !== 'Never' && input.replacementHealthy) why = 'Healthy';
    else if (deadline !== undefined && input.nowMs >= deadline) why = 'Timeout';
    if (why !== undefined) {
      ended.push({ task, why });
      continue;
    }
    kept.set(task.fromCluster, task);
    if (deadline !== undefined) recheck = Math.min(recheck ?? Infinity, deadline - input.nowMs);
  }

  for (const prev of input.previous) {
    if (targets.has(prev.name) || kept.has(prev.name)) continue;
    const cluster = input.clusters.get(prev.name);
    if (cluster === undefined) continue; // gone: its Works are released, nothing to keep
    const taints = untoleratedNoExecute(cluster, input.placement);
    const application = input.evictedClusters?.get(prev.name);
    // Left for another reason (affinity, spread): no grace.
    if (taints.length === 0 && application === undefined) continue;
    const byTaint = taints.length > 0;
    const policy = byTaint ? input.failover?.cluster : input.failover?.application;
    const purgeMode: PurgeMode = policy?.purgeMode ?? 'Graciously';
    const why = byTaint
      ? `cluster has untolerated taint ${taints.map(describe).join(', ')}`
      : `application failover: ${application}`;
    const reason = byTaint ? EvictionReasons.taintUntolerated : EvictionReasons.applicationFailure;
    evicted.push({ cluster: prev.name, purgeMode, reason, why });
    if (purgeMode === 'Immediately') continue;
    const grace = policy?.gracePeriodSeconds;
    const task: GracefulEvictionTask = {
      fromCluster: prev.name,
      replicas: prev.replicas,
      reason,
      message: why.slice(0, 1024),
      purgeMode,
      ...(purgeMode === 'Graciously' && {
        gracePeriodSeconds: grace ?? Math.max(1, Math.ceil(input.defaultTimeoutMs / 1000)),
      }),
      creationTimestamp: rfc3339(input.nowMs),
    };
    kept.set(prev.name, task);
    const deadline = taskDeadline(task, input.defaultTimeoutMs);
    if (deadline !== undefined) recheck = Math.min(recheck ?? Infinity, deadline - input.nowMs);
  }

  const tasks = [...kept.values()].sort((a, b) =>
    a.fromCluster < b.fromCluster ? -1 : a.fromCluster > b.fromCluster ? 1 : 0,
  );
  return {
    tasks,
    evicted,
    ended,
    ...(recheck !== undefined && { recheckAfterMs: Math.max(0, recheck) }),
  };
}

/**
 * Whether `work` runs a target cluster's current share: rendered for `replicas` (the binding
 * controller's {@link Annotations.scheduledReplicas}), applied from its latest generation, and
 * every manifest healthy. A Work being deleted, or without status, does not.
 */
export function runsShare(work: Work | undefined, replicas: number): boolean {
  if (work === undefined || work.metadata.deletionTimestamp !== undefined) return false;
  if (work.metadata.annotations?.[Annotations.scheduledReplicas] !== String(replicas)) return false;
  const generation = work.metadata.generation;
  const manifests = work.status?.manifestStatuses ?? [];
  const expected = work.spec.workload.manifests.length;
  if (manifests.length < expected || expected === 0) return false;
  return manifests.every(
    (m) =>
      m.applied === true &&
      m.health === 'Healthy' &&
      (generation === undefined || (m.observedGeneration ?? 0) >= generation),
  );
}
