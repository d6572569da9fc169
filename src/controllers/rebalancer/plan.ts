/**
 * Rebalancing, the plan (pure): one bounded step from where a binding's divided replicas are
 * toward where the scheduler would put them afresh.
 *
 * The scheduler keeps placements stable — after a failover the replicas stay where they moved,
 * and a cluster that comes back or joins gets nothing — so without rebalancing the spread drifts
 * for good. A step moves at most `maxReplicas` replicas, one at a time from the cluster with the
 * largest surplus to the one with the largest shortfall (ties by name), so it converges in
 * ⌈moves / maxReplicas⌉ steps and never moves everything at once. A cluster left with no replica
 * leaves the placement. Totals must match: a scale change is the scheduler's, not a rebalance.
 */
import type { TargetCluster } from '../../api/index.ts';

export interface Move {
  readonly from: string;
  readonly to: string;
  readonly replicas: number;
}

export interface Plan {
  /** The placement after this step, sorted by name, without clusters at 0. */
  readonly next: TargetCluster[];
  readonly moves: Move[];
  /** Replicas still to move after this step. */
  readonly remaining: number;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Replicas that must move to turn `current` into `desired` (0: balanced). */
export function distance(current: readonly TargetCluster[], desired: readonly TargetCluster[]): number {
  const want = new Map(desired.map((t) => [t.name, t.replicas]));
  const have = new Map(current.map((t) => [t.name, t.replicas]));
  let surplus = 0;
  for (const [name, n] of have) surplus += Math.max(0, n - (want.get(name) ?? 0));
  return surplus;
}

/**
 * The next step, or undefined when there is nothing to do (balanced, or totals differ).
 * `maxReplicas` ≥ 1.
 */
export function planRebalance(
  current: readonly TargetCluster[],
  desired: readonly TargetCluster[],
  maxReplicas: number,
): Plan | undefined {
  const sum = (ts: readonly TargetCluster[]) => ts.reduce((s, t) => s + t.replicas, 0);
  if (sum(current) !== sum(desired)) return undefined;
  const total = distance(current, desired);
  if (total === 0) return undefined;

  const want = new Map(desired.map((t) => [t.name, t.replicas]));
  const have = new Map(current.map((t) => [t.name, t.replicas]));
  for (const name of want.keys()) if (!have.has(name)) have.set(name, 0);
  const surplus = (n: string) => (have.get(n) ?? 0) - (want.get(n) ?? 0);
  const moves = new Map<string, number>();
  const budget = Math.min(Math.max(1, Math.floor(maxReplicas)), total);
  for (let i = 0; i < budget; i++) {
    const byName = [...have.keys()].sort(cmp);
    const from = byName.filter((n) => surplus(n) > 0).sort((a, b) => surplus(b) - surplus(a))[0];
    const to = byName.filter((n) => surplus(n) < 0).sort((a, b) => surplus(a) - surplus(b))[0];
    if (from === undefined || to === undefined) break;
    have.set(from, (have.get(from) ?? 0) - 1);
    have.set(to, (have.get(to) ?? 0) + 1);
    const k = `${from}\u0000${to}`;
    moves.set(k, (moves.get(k) ?? 0) + 1);
  }
  const next = [...have]
    .filter(([, n]) => n > 0)
    .map(([name, replicas]) => ({ name, replicas }))
    .sort((a, b) => cmp(a.name, b.name));
  return {
    next,
    moves: [...moves].map(([k, replicas]) => {
      const [from = '', to = ''] = k.split('\u0000');
      return { from, to, replicas };
    }),
    remaining: distance(next, desired),
  };
}
