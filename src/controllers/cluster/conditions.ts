/**
 * Condition bookkeeping for Cluster status (pure): `lastTransitionTime` moves only when a
 * condition's status changes, and the `Ready` verdict tolerates a single failed probe so one
 * dropped request does not flap placement.
 */
import { ConditionTypes, type Condition } from '../../api/index.ts';

export type ConditionStatus = Condition['status'];

export interface ConditionInput {
  readonly type: string;
  readonly status: ConditionStatus;
  readonly reason: string;
  readonly message: string;
}

/**
 * `conditions` with `next` set: replaces the condition of the same type, keeping its
 * `lastTransitionTime` unless the status changed (then `now`). Other conditions are untouched;
 * the input is not modified.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  next: ConditionInput,
  now: string,
): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === next.type);
  const prev = i < 0 ? undefined : list[i];
  const lastTransitionTime =
    prev !== undefined && prev.status === next.status ? prev.lastTransitionTime : now;
  const cond: Condition = {
    type: next.type,
    status: next.status,
    reason: next.reason,
    message: next.message,
    lastTransitionTime,
  };
  if (i < 0) list.push(cond);
  else list[i] = cond;
  return list;
}

/** What one health probe found. */
export type ProbeOutcome =
  | { readonly ok: true; readonly version: string }
  | {
      readonly ok: false;
      /** `Unreachable`: no HTTP answer; `NotReady`: /readyz failed; `Unauthorized`: credentials refused. */
      readonly reason: 'Unreachable' | 'NotReady' | 'Unauthorized' | 'ProbeFailed';
      readonly message: string;
    };

/** Consecutive failed probes before `Ready` turns False. */
export const FAILURE_THRESHOLD = 2;

/**
 * The `Ready` condition after a probe, given how many probes in a row have now failed
 * (`failures`, 0 after a success), and the current condition. While failures are below
 * `threshold` an existing verdict is kept (the caller re-probes sooner); with no verdict yet it
 * is Unknown.
 */
export function readyCondition(
  outcome: ProbeOutcome,
  failures: number,
  current: Condition | undefined,
  threshold = FAILURE_THRESHOLD,
): ConditionInput {
  if (outcome.ok) {
    return {
      type: ConditionTypes.Ready,
      status: 'True',
      reason: 'ClusterReady',
      message: "the member's API server answers /readyz",
    };
  }
  if (failures >= threshold) {
    return { type: ConditionTypes.Ready, status: 'False', reason: outcome.reason, message: outcome.message };
  }
  if (current !== undefined) {
    return { type: current.type, status: current.status, reason: current.reason, message: current.message };
  }
  return {
    type: ConditionTypes.Ready,
    status: 'Unknown',
    reason: 'Probing',
    message: `first probe failed, retrying: ${outcome.message}`,
  };
}

/** `Ready` for a cluster Meridian has no connection to (Secret missing, bad kubeconfig…). */
export function notConnectedCondition(why: string | undefined): ConditionInput {
  return {
    type: ConditionTypes.Ready,
    status: 'False',
    reason: 'NotConnected',
    message: why ?? 'no connection to the member cluster',
  };
}
