/**
 * Replica division over the selected clusters: Duplicated, Divided Aggregated, Divided by
 * static weights, Divided by dynamic weight (available replicas).
 *
 * Stability contract: given the previous assignment and an unchanged strategy,
 * - same total → the previous assignment (restricted to still-selected clusters) is kept;
 * - scale-up (or replicas orphaned by a cluster that left) → only the difference is divided,
 *   by the strategy, and added: no cluster loses replicas (static weights: to the clusters
 *   short of their weighted share of the new total, so a replacement cluster catches up);
 * - scale-down → the difference is removed proportionally to the current assignment: no
 *   cluster gains replicas.
 * A changed strategy (`placementChanged`) divides from scratch.
 */
import {
  matchesClusterAffinity,
  type Cluster,
  type ReplicaRequirements,
  type ReplicaScheduling,
} from '../../api/index.ts';
import { availableReplicas } from './capacity.ts';

export type DivideResult = { ok: true; assignments: Map<string, number> } | { ok: false; reasons: string[] };

export interface DivideInput {
  readonly replicas: number;
  readonly strategy: ReplicaScheduling | undefined;
  /** Selected clusters, best first. */
  readonly clusters: readonly Cluster[];
  readonly requirements?: ReplicaRequirements;
  /** Current assignment: cluster name → replicas. */
  readonly previous?: ReadonlyMap<string, number>;
  /** The strategy (weights, preference) changed since `previous` was computed. */
  readonly placementChanged?: boolean;
}

export type Strategy = 'Duplicated' | 'Aggregated' | 'StaticWeight' | 'DynamicWeight';

/** Which division applies. Divided without a preference or weights means equal static weights. */
export function strategyOf(s: ReplicaScheduling | undefined): Strategy {
  if (!s || s.replicaSchedulingType !== 'Divided') return 'Duplicated';
  if (s.replicaDivisionPreference === 'Aggregated') return 'Aggregated';
  if (s.weightPreference?.dynamicWeight === 'AvailableReplicas') return 'DynamicWeight';
  return 'StaticWeight';
}

/**
 * Splits `total` by `weights` with the largest-remainder method: floors first, then one
 * more to the largest remainders, ties broken by cluster name (ascending). Entries with
 * weight 0 get 0. Deterministic; the result sums to `total` when some weight is > 0.
 */
export function largestRemainder(total: number, weights: ReadonlyMap<string, number>): Map<string, number> {
  const sum = [...weights.values()].reduce((a, b) => a + b, 0);
  const out = new Map<string, number>();
  if (sum <= 0) {
    for (const name of weights.keys()) out.set(name, 0);
    return out;
  }
  const rest: Array<{ name: string; remainder: number }> = [];
  let given = 0;
  for (const [name, w] of weights) {
    // Integer arithmetic: remainders compared exactly, no float drift.
    const share = Math.floor((total * w) / sum);
    out.set(name, share);
    given += share;
    rest.push({ name, remainder: (total * w) % sum });
  }
  rest.sort((a, b) => b.remainder - a.remainder || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (let i = 0; given < total && i < rest.length; i++) {
    const r = rest[i];
    if (!r || (weights.get(r.name) ?? 0) === 0) continue;
    out.set(r.name, (out.get(r.name) ?? 0) + 1);
    given++;
  }
  return out;
}

const nameOf = (c: Cluster) => c.metadata.name ?? '';

/** Static weight of each cluster: the largest weight of the entries selecting it (0: none). */
export function staticWeights(
  clusters: readonly Cluster[],
  strategy: ReplicaScheduling | undefined,
): Map<string, number> {
  const list = strategy?.weightPreference?.staticWeightList;
  const weights = new Map(clusters.map((c) => [nameOf(c), list ? 0 : 1]));
  for (const c of clusters) {
    for (const entry of list ?? []) {
      if (matchesClusterAffinity(c, entry.targetCluster)) {
        weights.set(nameOf(c), Math.max(weights.get(nameOf(c)) ?? 0, entry.weight));
      }
    }
  }
  // No cluster matched any entry: fall back to equal weights rather than placing nothing.
  if ([...weights.values()].every((w) => w === 0)) for (const k of weights.keys()) weights.set(k, 1);
  return weights;
}

function insufficient(need: number, fits: ReadonlyMap<string, number>): DivideResult {
  const have = [...fits.values()].reduce((a, b) => a + b, 0);
  const detail = [...fits].map(([n, a]) => `${n}: ${a}`).join(', ');
  return {
    ok: false,
    reasons: [`insufficient capacity: ${need} replicas to place, selected clusters fit ${have} (${detail})`],
  };
}

/**
 * Divides `total` new replicas over `clusters` by `strategy`, where `free` is each
 * cluster's room for more replicas and `held` what it already holds.
 */
function divideFresh(
  total: number,
  strategy: Exclude<Strategy, 'Duplicated'>,
  input: DivideInput,
  free: ReadonlyMap<string, number>,
  held: ReadonlyMap<string, number>,
): DivideResult {
  const names = input.clusters.map(nameOf);
  if (strategy === 'StaticWeight')
    return { ok: true, assignments: largestRemainder(total, staticWeights(input.clusters, input.strategy)) };

  const capacity = new Map(names.map((n) => [n, free.get(n) ?? 0]));
  const sum = [...capacity.values()].reduce((a, b) => a + b, 0);
  if (sum < total) return insufficient(total, capacity);
  if (strategy === 'DynamicWeight') return { ok: true, assignments: largestRemainder(total, capacity) };

  // Aggregated: as few clusters as possible; clusters already holding replicas first, then roomiest.
  const order = [...names].sort(
    (a, b) =>
      Number((held.get(b) ?? 0) > 0) - Number((held.get(a) ?? 0) > 0) ||
      (capacity.get(b) ?? 0) - (capacity.get(a) ?? 0) ||
      (a < b ? -1 : 1),
  );
  const used = new Map<string, number>();
  let room = 0;
  for (const n of order) {
    if (room >= total) break;
    const c = capacity.get(n) ?? 0;
    if (c === 0) continue;
    used.set(n, c);
    room += c;
  }
  const assignments = largestRemainder(total, used);
  for (const n of names) if (!assignments.has(n)) assignments.set(n, 0);
  return { ok: true, assignments };
}

/**
 * Static weights, scale-up: the added replicas go to the clusters short of their weighted
 * share of the new `total`, in proportion to the shortfall, so a cluster that just joined the
 * selection (a replacement after a failover, a newly matching cluster) catches up instead of
 * getting only its weight's share of the increment. Nobody loses replicas.
 */
function towardWeights(
  total: number,
  input: DivideInput,
  held: ReadonlyMap<string, number>,
): Map<string, number> {
  const target = largestRemainder(total, staticWeights(input.clusters, input.strategy));
  const heldSum = [...held.values()].reduce((a, b) => a + b, 0);
  const shortfall = new Map(
    input.clusters.map((c) => [
      nameOf(c),
      Math.max(0, (target.get(nameOf(c)) ?? 0) - (held.get(nameOf(c)) ?? 0)),
    ]),
  );
  return largestRemainder(total - heldSum, shortfall);
}

/**
 * Assigns replicas to `input.clusters` (see the module doc for the stability contract).
 * Divided strategies omit nothing: clusters left with 0 replicas are in the map with 0, so
 * the caller can report them; with `replicas` 0 every cluster gets 0.
 * Fails (with reasons) only when capacity-based strategies cannot fit the replicas.
 */
export function divideReplicas(input: DivideInput): DivideResult {
  const { replicas: total, clusters } = input;
  const strategy = strategyOf(input.strategy);
  const names = clusters.map(nameOf);
  if (strategy === 'Duplicated') return { ok: true, assignments: new Map(names.map((n) => [n, total])) };

  const held = new Map<string, number>();
  for (const n of names) held.set(n, input.previous?.get(n) ?? 0);
  const heldSum = [...held.values()].reduce((a, b) => a + b, 0);
  const free = new Map(clusters.map((c) => [nameOf(c), availableReplicas(c, input.requirements)]));

  if (heldSum === 0 || input.placementChanged) {
    // From scratch: a cluster's own replicas count as room, as they would be replaced.
    const room = new Map(names.map((n) => [n, (free.get(n) ?? 0) + (held.get(n) ?? 0)]));
    return divideFresh(total, strategy, input, room, held);
  }
  if (heldSum === total) return { ok: true, assignments: held };
  if (heldSum > total) {
    const remove = largestRemainder(heldSum - total, held);
    return {
      ok: true,
      assignments: new Map(names.map((n) => [n, (held.get(n) ?? 0) - (remove.get(n) ?? 0)])),
    };
  }
  const add =
    strategy === 'StaticWeight'
      ? { ok: true as const, assignments: towardWeights(total, input, held) }
      : divideFresh(total - heldSum, strategy, input, free, held);
  if (!add.ok) return add;
  return {
    ok: true,
    assignments: new Map(names.map((n) => [n, (held.get(n) ?? 0) + (add.assignments.get(n) ?? 0)])),
  };
}
