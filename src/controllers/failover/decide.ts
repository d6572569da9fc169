/**
 * Application failover, the decision (pure): which clusters a binding must leave because its
 * workload stayed unhealthy there for longer than `failover.application.decisionConditions
 * .tolerationSeconds`, and which earlier evictions are lifted.
 *
 * "Unhealthy since" is the `lastTransitionTime` of the cluster's Work `Available=False`
 * condition (written by the execution controller from the member object's health), so the
 * clock survives controller restarts and is the same whichever replica leads.
 *
 * A cluster is evicted when, at `now`:
 * - it is a target, not already evicted, its Cluster exists and is Ready (a cluster that is not
 *   Ready is cluster failover's business: its workloads' health is not known);
 * - its Work reports `Available=False` since at least `tolerationSeconds`;
 * - and the fault looks like the cluster's, not the workload's: when the binding has other
 *   targets, at least one of them runs it healthily (`Available=True`). A workload unhealthy
 *   everywhere is not moved around: that would only spread the outage.
 * An eviction is lifted when the Cluster is gone, when the policy no longer asks for
 * application failover, or when the resource template's spec changed since (its
 * `metadata.generation` grew): a new version deserves another chance there.
 */
import {
  ConditionTypes,
  type Cluster,
  type ClusterEviction,
  type Failover,
  type TargetCluster,
  type Work,
} from '../../api/index.ts';

export const APPLICATION_FAILURE = 'ApplicationFailure';

/** Precision of Kubernetes condition timestamps (RFC 3339, whole seconds). */
const TIMESTAMP_PRECISION_MS = 1_000;

export type LiftReason = 'ClusterGone' | 'FailoverDisabled' | 'TemplateChanged';

export interface DecisionInput {
  /** `spec.clusters`. */
  readonly targets: readonly TargetCluster[];
  /** `spec.evictedClusters` now. */
  readonly evicted: readonly ClusterEviction[];
  readonly application: Failover['application'];
  /** The binding's Works by cluster name. */
  readonly works: ReadonlyMap<string, Work>;
  /** Clusters not being deleted, by name. */
  readonly clusters: ReadonlyMap<string, Cluster>;
  /** The resource template's `metadata.generation`, when known. */
  readonly templateGeneration: number | undefined;
  readonly nowMs: number;
}

/** A target whose workload is unhealthy but still within its toleration. */
export interface Tolerated {
  readonly cluster: string;
  readonly sinceMs: number;
  readonly deadlineMs: number;
}

export interface Decision {
  /** The next `spec.evictedClusters`, sorted by name. */
  readonly evicted: ClusterEviction[];
  readonly added: ClusterEviction[];
  readonly lifted: Array<{ readonly eviction: ClusterEviction; readonly why: LiftReason }>;
  /** Unhealthy targets not yet due, earliest deadline first. */
  readonly tolerated: Tolerated[];
  /** Unhealthy targets past their toleration that are kept, and why. */
  readonly held: Array<{ readonly cluster: string; readonly why: string }>;
  /** When the earliest tolerated target falls due. */
  readonly recheckAfterMs?: number;
}

const rfc3339 = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const byName = (a: ClusterEviction, b: ClusterEviction) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

function available(work: Work | undefined) {
  if (work === undefined || work.metadata.deletionTimestamp !== undefined) return undefined;
  return work.status?.conditions?.find((c) => c.type === ConditionTypes.Available);
}

function isReady(cluster: Cluster | undefined): boolean {
  return cluster?.status?.conditions?.find((c) => c.type === ConditionTypes.Ready)?.status === 'True';
}

export function decide(input: DecisionInput): Decision {
  const lifted: Array<{ eviction: ClusterEviction; why: LiftReason }> = [];
  const kept: ClusterEviction[] = [];
  for (const e of input.evicted) {
    let why: LiftReason | undefined;
    if (input.application === undefined) why = 'FailoverDisabled';
    else if (!input.clusters.has(e.name)) why = 'ClusterGone';
    else if (
      input.templateGeneration !== undefined &&
      e.templateGeneration !== undefined &&
      input.templateGeneration > e.templateGeneration
    )
      why = 'TemplateChanged';
    if (why === undefined) kept.push(e);
    else lifted.push({ eviction: e, why });
  }
  const application = input.application;
  if (application === undefined) {
    return { evicted: [], added: [], lifted, tolerated: [], held: [] };
  }

  const toleranceMs = application.decisionConditions.tolerationSeconds * 1000;
  const excluded = new Set(kept.map((e) => e.name));
  const due: Array<{ cluster: string; sinceMs: number; message: string }> = [];
  const tolerated: Tolerated[] = [];
  const healthy: string[] = [];
  for (const t of input.targets) {
    if (excluded.has(t.name)) continue;
    const cond = available(input.works.get(t.name));
    if (cond?.status === 'True') healthy.push(t.name);
    if (cond?.status !== 'False' || !isReady(input.clusters.get(t.name))) continue;
    const since = Date.parse(cond.lastTransitionTime);
    const sinceMs = Number.isFinite(since) ? since : input.nowMs;
    // Condition times have second precision: the transition was in [since, since + 1 s), so the
    // toleration surely ran out only a second later — late by at most that, never early.
    const deadlineMs = sinceMs + TIMESTAMP_PRECISION_MS + toleranceMs;
    if (input.nowMs >= deadlineMs) {
      const seconds = Math.floor((input.nowMs - sinceMs) / 1000);
      const what = cond.message ? `${cond.message}` : `${cond.reason}`;
      due.push({
        cluster: t.name,
        sinceMs,
        message: `unhealthy for ${seconds}s (tolerationSeconds ${application.decisionConditions.tolerationSeconds}): ${what}`,
      });
    } else tolerated.push({ cluster: t.name, sinceMs, deadlineMs });
  }

  const others = input.targets.filter((t) => !excluded.has(t.name)).length > 1;
  const held: Array<{ cluster: string; why: string }> = [];
  const added: ClusterEviction[] = [];
  if (others && healthy.length === 0) {
    for (const d of due)
      held.push({ cluster: d.cluster, why: 'unhealthy in every target cluster: the workload is not moved' });
  } else {
    for (const d of due) {
      added.push({
        name: d.cluster,
        reason: APPLICATION_FAILURE,
        message: d.message.slice(0, 1024),
        evictionTime: rfc3339(input.nowMs),
        ...(input.templateGeneration !== undefined && { templateGeneration: input.templateGeneration }),
      });
    }
  }
  tolerated.sort((a, b) => a.deadlineMs - b.deadlineMs);
  const first = tolerated[0];
  return {
    evicted: [...kept, ...added].sort(byName),
    added,
    lifted,
    tolerated,
    held,
    ...(first !== undefined && { recheckAfterMs: Math.max(0, first.deadlineMs - input.nowMs) }),
  };
}
