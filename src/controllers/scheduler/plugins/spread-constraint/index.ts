/**
 * Spread constraints, in two steps (after Karmada's spread-constraint filter and
 * `select_clusters`):
 * - filter: a cluster lacking a label the placement spreads by (region, zone, provider)
 *   cannot be counted in any group, so it is unschedulable;
 * - {@link selectBySpread}: after scoring, choose groups and clusters honouring every
 *   constraint's minGroups/maxGroups, or say why that is impossible.
 */
import {
  clusterField,
  type Cluster,
  type SpreadConstraint,
  type SpreadField,
} from '../../../../api/index.ts';
import { FEASIBLE, unschedulable, type Plugin } from '../../plugin.ts';

const GROUP_FIELDS = ['provider', 'region', 'zone'] as const;
type GroupField = (typeof GROUP_FIELDS)[number];

const isGroupField = (f: SpreadField): f is GroupField => f !== 'cluster';

export const spreadConstraint = {
  name: 'spread-constraint',
  filter(ctx, cluster) {
    const missing = (ctx.unit.placement.spreadConstraints ?? [])
      .map((c) => c.spreadByField)
      .filter(isGroupField)
      .filter((field) => clusterField(cluster, field) === undefined);
    return missing.length === 0
      ? FEASIBLE
      : unschedulable(...missing.map((f) => `cluster has no ${f} label, required to spread by ${f}`));
  },
} satisfies Plugin;

export interface ScoredCluster {
  readonly cluster: Cluster;
  readonly score: number;
}

export type SpreadResult =
  { ok: true; selected: ScoredCluster[]; rejected: Map<string, string> } | { ok: false; reasons: string[] };

const nameOf = (s: ScoredCluster) => s.cluster.metadata.name ?? '';

/**
 * Chooses clusters from `candidates` (feasible, best first) so that, for each constraint,
 * the number of distinct groups is within [minGroups, maxGroups].
 *
 * Groups (provider, then region, then zone) are ranked by their best cluster's score, then
 * total score, then name, and the top `maxGroups` kept (all when unbounded). The `cluster`
 * constraint then picks clusters best first, first one per kept group so every kept group
 * stays represented, up to its maxGroups. Without a `cluster` constraint every cluster of the
 * kept groups is selected. Deterministic for equal input.
 */
export function selectBySpread(
  candidates: readonly ScoredCluster[],
  constraints: readonly SpreadConstraint[],
): SpreadResult {
  const rejected = new Map<string, string>();
  let pool = [...candidates];
  const groupConstraints = GROUP_FIELDS.flatMap((f) => constraints.filter((c) => c.spreadByField === f));

  for (const c of groupConstraints) {
    const field = c.spreadByField as GroupField;
    const groups = new Map<string, ScoredCluster[]>();
    for (const s of pool) {
      const value = clusterField(s.cluster, field) ?? '';
      groups.set(value, [...(groups.get(value) ?? []), s]);
    }
    const ranked = [...groups].sort(([a, am], [b, bm]) => {
      const best = (m: ScoredCluster[]) => Math.max(...m.map((s) => s.score));
      const sum = (m: ScoredCluster[]) => m.reduce((t, s) => t + s.score, 0);
      return best(bm) - best(am) || sum(bm) - sum(am) || a.localeCompare(b);
    });
    if (ranked.length < c.minGroups) {
      return {
        ok: false,
        reasons: [
          `spread by ${field} needs at least ${c.minGroups} groups, only ${ranked.length} available` +
            (ranked.length ? ` (${ranked.map(([g]) => g).join(', ')})` : ''),
        ],
      };
    }
    const kept = ranked.slice(0, c.maxGroups ?? ranked.length);
    const keptNames = new Set(kept.map(([g]) => g));
    for (const [group, members] of ranked) {
      if (keptNames.has(group)) continue;
      for (const s of members) {
        rejected.set(
          nameOf(s),
          `${field} ${group} is not among the ${kept.length} ${field} groups selected (maxGroups ${c.maxGroups}): ${[...keptNames].join(', ')}`,
        );
      }
    }
    pool = pool.filter((s) => keptNames.has(clusterField(s.cluster, field) ?? ''));
  }

  const clusterConstraint = constraints.find((c) => c.spreadByField === 'cluster');
  if (!clusterConstraint) return { ok: true, selected: pool, rejected };

  if (pool.length < clusterConstraint.minGroups) {
    return {
      ok: false,
      reasons: [
        `spread by cluster needs at least ${clusterConstraint.minGroups} clusters, only ${pool.length} feasible` +
          (pool.length ? ` (${pool.map(nameOf).join(', ')})` : ''),
      ],
    };
  }
  const limit = clusterConstraint.maxGroups ?? pool.length;
  const chosen = new Set<ScoredCluster>();
  // First the best cluster of each still-uncovered group, so every kept group keeps one…
  const covered = new Map<GroupField, Set<string>>(
    groupConstraints.map((c) => [c.spreadByField as GroupField, new Set()]),
  );
  for (const s of pool) {
    if (chosen.size >= limit) break;
    const fresh = [...covered].some(([f, seen]) => !seen.has(clusterField(s.cluster, f) ?? ''));
    if (!fresh) continue;
    chosen.add(s);
    for (const [f, seen] of covered) seen.add(clusterField(s.cluster, f) ?? '');
  }
  // …then the best of the rest.
  for (const s of pool) {
    if (chosen.size >= limit) break;
    chosen.add(s);
  }
  for (const c of groupConstraints) {
    const n = covered.get(c.spreadByField as GroupField)?.size ?? 0;
    if (n < c.minGroups) {
      return {
        ok: false,
        reasons: [
          `spread by cluster allows at most ${limit} clusters, too few to cover ${c.minGroups} ${c.spreadByField} groups`,
        ],
      };
    }
  }
  for (const s of pool) {
    if (!chosen.has(s))
      rejected.set(nameOf(s), `spread by cluster: maxGroups ${limit} clusters already selected`);
  }
  return { ok: true, selected: pool.filter((s) => chosen.has(s)), rejected };
}
