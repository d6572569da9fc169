import type { Condition } from '../api/common.ts';

export interface ConditionInput {
  readonly type: string;
  readonly status: 'True' | 'False' | 'Unknown';
  readonly reason: string;
  readonly message: string;
  readonly observedGeneration?: number;
}

/**
 * `conditions` with `c` set (metav1 semantics): `lastTransitionTime` moves only when the
 * status changes, so re-asserting a condition does not look like a transition.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  c: ConditionInput,
  now = new Date(),
): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((x) => x.type === c.type);
  const prior = i >= 0 ? list[i] : undefined;
  const next: Condition = {
    type: c.type,
    status: c.status,
    reason: c.reason,
    message: c.message.slice(0, 32768),
    ...(c.observedGeneration !== undefined && { observedGeneration: c.observedGeneration }),
    lastTransitionTime:
      prior !== undefined && prior.status === c.status
        ? prior.lastTransitionTime
        : now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
  if (i >= 0) list[i] = next;
  else list.push(next);
  return list;
}

export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}
