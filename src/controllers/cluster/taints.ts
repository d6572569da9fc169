/**
 * Health → taint (pure): a cluster that has not been `Ready` for its grace period gets the
 * `cluster.meridian.dev/not-ready:NoExecute` taint, so workloads that do not tolerate it are
 * moved elsewhere; the taint goes once the cluster has been `Ready` again, without a break,
 * for the stabilisation period, so a flapping cluster does not pull workloads back and forth.
 *
 * Time is measured from the `Ready` condition's `lastTransitionTime`, so the decision survives a
 * controller restart: a cluster down for longer than the grace period when the controllers
 * start is tainted at once. That time has second precision; periods are counted from the end
 * of its second, so they are never shorter than configured (up to 1 s longer).
 */
import { ConditionTypes, TaintKeys, type Condition, type Taint } from '../../api/index.ts';
import type { JsonPatchOp } from '../../kube/wire.ts';

/** Default time a cluster may be not Ready before it is tainted `NoExecute`. */
export const DEFAULT_NOT_READY_GRACE_MS = 40_000;
/** Default time a cluster must be Ready again before the taint is removed. */
export const DEFAULT_READY_STABILIZATION_MS = 30_000;

export interface TaintTiming {
  readonly gracePeriodMs: number;
  readonly stabilizationMs: number;
}

export type TaintDecision =
  | { readonly action: 'add'; readonly taint: Taint; readonly message: string }
  | { readonly action: 'remove'; readonly message: string }
  /** Nothing to change now; decide again after `recheckAfterMs` (when set). */
  | { readonly action: 'keep'; readonly recheckAfterMs?: number };

/** Whether `t` is the taint this module manages. */
export const isNotReadyTaint = (t: Taint): boolean =>
  t.key === TaintKeys.notReady && t.effect === 'NoExecute';

const rfc3339 = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function seconds(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s}s` : `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ''}`;
}

/**
 * What to do with the not-ready taint given the cluster's `Ready` condition (`undefined`: no
 * verdict yet, nothing changes), its current taints and the time. A `Ready` of `False` or
 * `Unknown` counts as not Ready.
 */
export function notReadyTaintDecision(
  ready: Condition | undefined,
  taints: readonly Taint[] | undefined,
  nowMs: number,
  timing: TaintTiming,
): TaintDecision {
  if (ready === undefined || ready.type !== ConditionTypes.Ready) return { action: 'keep' };
  const stamp = Date.parse(ready.lastTransitionTime);
  if (!Number.isFinite(stamp)) return { action: 'keep' };
  // A whole-second timestamp may be up to 1 s before the transition: count from its latest
  // possible time, so no period is ever cut short (it may last up to 1 s longer).
  const since = /\.\d+/.test(ready.lastTransitionTime) ? stamp : stamp + 999;
  const tainted = (taints ?? []).some(isNotReadyTaint);
  const elapsed = Math.max(0, nowMs - since);
  if (ready.status !== 'True') {
    if (tainted) return { action: 'keep' };
    if (elapsed < timing.gracePeriodMs)
      return { action: 'keep', recheckAfterMs: timing.gracePeriodMs - elapsed };
    const why = [ready.reason, ready.message].filter(Boolean).join(': ');
    return {
      action: 'add',
      taint: { key: TaintKeys.notReady, effect: 'NoExecute', timeAdded: rfc3339(nowMs) },
      message:
        `not Ready for ${seconds(elapsed)} (grace period ${seconds(timing.gracePeriodMs)}${why ? `; ${why}` : ''}): ` +
        `tainted ${TaintKeys.notReady}:NoExecute, workloads that do not tolerate it move to other clusters`,
    };
  }
  if (!tainted) return { action: 'keep' };
  if (elapsed < timing.stabilizationMs) {
    return { action: 'keep', recheckAfterMs: timing.stabilizationMs - elapsed };
  }
  return {
    action: 'remove',
    message: `Ready again for ${seconds(elapsed)} (stabilisation period ${seconds(timing.stabilizationMs)}): removed taint ${TaintKeys.notReady}:NoExecute`,
  };
}

/**
 * The JSON patch that applies `decision` to a Cluster whose taints are `taints`, valid only
 * against that list: a `test` of the list (or, when there is none, of `resourceVersion`)
 * makes a concurrent edit fail with a conflict instead of being overwritten. Other taints are
 * kept as they are. `undefined` when there is nothing to write.
 */
export function taintPatch(
  decision: TaintDecision,
  taints: readonly Taint[] | undefined,
  resourceVersion: string | undefined,
): JsonPatchOp[] | undefined {
  if (decision.action === 'keep') return undefined;
  const current = taints ?? [];
  const next =
    decision.action === 'add'
      ? [...current.filter((t) => !isNotReadyTaint(t)), decision.taint]
      : current.filter((t) => !isNotReadyTaint(t));
  if (taints === undefined) {
    if (next.length === 0) return undefined;
    return [
      ...(resourceVersion === undefined
        ? []
        : [{ op: 'test' as const, path: '/metadata/resourceVersion', value: resourceVersion }]),
      { op: 'add', path: '/spec/taints', value: next },
    ];
  }
  return [
    { op: 'test', path: '/spec/taints', value: current },
    { op: 'replace', path: '/spec/taints', value: next },
  ];
}
