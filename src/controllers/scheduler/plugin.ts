/**
 * The scheduler's plugin contract (STYLE.md §5, after Karmada's framework): a plugin is a
 * plain object with any of `filter`, `score`, `normalize`; the runner picks phases by which
 * methods exist. Plugins are pure over their arguments: no I/O, no clock, no cluster.
 */
import type { Cluster, ClusterAffinity, Placement, ReplicaRequirements } from '../../api/index.ts';

/** What is being scheduled: a binding's resource, replicas and placement. */
export interface SchedulingUnit {
  readonly resource: {
    readonly apiVersion: string;
    readonly kind: string;
    readonly namespace?: string;
    readonly name?: string;
  };
  /** Desired replicas; 0 for resources without replicas (ConfigMaps, Services…). */
  readonly replicas: number;
  readonly replicaRequirements?: ReplicaRequirements;
  readonly placement: Placement;
  /** Clusters the binding was evicted from (`spec.evictedClusters`): name → why. */
  readonly evictedClusters?: ReadonlyMap<string, string>;
}

export interface PluginContext {
  readonly unit: SchedulingUnit;
  /** The affinity being tried: `placement.clusterAffinity` or one `clusterAffinities` term. */
  readonly affinity: ClusterAffinity | undefined;
  /** Where the workload runs now: cluster name → replicas. Empty on first scheduling. */
  readonly previous: ReadonlyMap<string, number>;
}

export type FilterResult = { ok: true } | { ok: false; code: 'Unschedulable' | 'Error'; reasons: string[] };

export const FEASIBLE: FilterResult = { ok: true };

export function unschedulable(...reasons: string[]): FilterResult {
  return { ok: false, code: 'Unschedulable', reasons };
}

/** Scores are integers in [0, 100]; the runner sums them over plugins. */
export const MAX_SCORE = 100;

export interface Plugin {
  readonly name: string;
  /** Whether `cluster` can host the unit at all. */
  filter?(ctx: PluginContext, cluster: Cluster): FilterResult;
  /** How much the unit prefers `cluster` (raw: `normalize`, if present, maps it to 0–100). */
  score?(ctx: PluginContext, cluster: Cluster): number;
  /** Rescales raw scores (cluster name → score) of the feasible clusters to 0–100. */
  normalize?(ctx: PluginContext, scores: ReadonlyMap<string, number>): Map<string, number>;
}
