/**
 * Whether a binding takes a rebalancing step now (pure). It does when its policy asks for it
 * (`replicaScheduling.rebalance`), its placement drifted from the scheduler's fresh division,
 * and it is settled: no failover in progress (no graceful eviction task, nothing changed in this
 * scheduling pass), every target running its share healthily, and `intervalSeconds` since its
 * previous step. Otherwise it says how long to wait, or that there is nothing to wait for (a
 * later event — a Work turning healthy, a cluster change — brings the binding back).
 */
import type { Rebalance, TargetCluster } from '../../api/index.ts';
import { planRebalance, type Plan } from './plan.ts';

export const DEFAULT_MAX_REPLICAS_PER_STEP = 1;
export const DEFAULT_INTERVAL_SECONDS = 60;

export interface StepInput {
  readonly rebalance: Rebalance;
  /** `spec.clusters` after this scheduling pass. */
  readonly current: readonly TargetCluster[];
  /** What the scheduler would place afresh (its own replicas counted as room). */
  readonly desired: readonly TargetCluster[];
  /** This pass changed the targets, or graceful eviction is in progress. */
  readonly failingOver: boolean;
  /** Every current target runs its share, applied and healthy. */
  readonly settled: boolean;
  /** When the previous step was taken (ms), if ever. */
  readonly lastStepMs: number | undefined;
  readonly nowMs: number;
}

export type StepDecision =
  | { readonly kind: 'balanced' }
  | { readonly kind: 'wait'; readonly why: 'FailingOver' | 'NotSettled' }
  | { readonly kind: 'wait'; readonly why: 'Interval'; readonly afterMs: number }
  | { readonly kind: 'step'; readonly plan: Plan };

export function rebalanceStep(input: StepInput): StepDecision {
  const plan = planRebalance(
    input.current,
    input.desired,
    input.rebalance.maxReplicasPerStep ?? DEFAULT_MAX_REPLICAS_PER_STEP,
  );
  if (plan === undefined) return { kind: 'balanced' };
  if (input.failingOver) return { kind: 'wait', why: 'FailingOver' };
  if (!input.settled) return { kind: 'wait', why: 'NotSettled' };
  const interval = (input.rebalance.intervalSeconds ?? DEFAULT_INTERVAL_SECONDS) * 1000;
  if (input.lastStepMs !== undefined && input.nowMs < input.lastStepMs + interval) {
    return { kind: 'wait', why: 'Interval', afterMs: input.lastStepMs + interval - input.nowMs };
  }
  return { kind: 'step', plan };
}
