/**
 * One scheduling pass: for each affinity term in order (the single `clusterAffinity`, or
 * each `clusterAffinities` fallback), filter → score → spread selection → replica division;
 * the first term with a feasible result wins. Pure over its inputs.
 */
import { sameJson } from '../../kube/canonical-json.ts';
import type { Cluster, ClusterAffinity, ClusterDecision, Placement, TargetCluster } from '../../api/index.ts';
import { divideReplicas, strategyOf } from './divide.ts';
import { MAX_SCORE, type Plugin, type PluginContext, type SchedulingUnit } from './plugin.ts';
import { selectBySpread, type ScoredCluster } from './plugins/spread-constraint/index.ts';
import { defaultPlugins } from './registry.ts';

export interface PreviousSchedule {
  readonly clusters: readonly TargetCluster[];
  /** The placement `clusters` was computed for; when it differs, replicas are divided afresh. */
  readonly placement?: Placement;
  /**
   * Divide afresh, as for a changed placement (a cluster's own replicas count as room): what
   * the placement would be from scratch, for the rebalancer. `clusters` still break score ties.
   */
  readonly fresh?: boolean;
}

/** The outcome of one affinity term. */
export interface Attempt {
  readonly affinityName?: string;
  readonly ok: boolean;
  readonly reasons: string[];
}

export type ScheduleResult =
  | {
      ok: true;
      clusters: TargetCluster[];
      /** The `clusterAffinities` term that won, when fallbacks are used. */
      affinityName?: string;
      /** One entry per cluster in the snapshot, sorted by name. */
      decisions: ClusterDecision[];
      attempts: Attempt[];
    }
  | { ok: false; reasons: string[]; decisions: ClusterDecision[]; attempts: Attempt[] };

/**
 * Schedules `unit` over `snapshot`.
 *
 * Guarantees: deterministic for equal input; with `previous` and unchanged input the same
 * clusters and replicas come back (see `divide.ts` for scale changes); every snapshot
 * cluster gets a decision saying why it was selected, filtered (each failing plugin's
 * reasons) or not selected. On failure, `decisions` are those of the last term tried and
 * `reasons` summarise every term.
 */
export function schedule(
  unit: SchedulingUnit,
  snapshot: readonly Cluster[],
  previous?: PreviousSchedule,
  plugins: readonly Plugin[] = defaultPlugins,
): ScheduleResult {
  const terms: Array<{ affinityName?: string; affinity: ClusterAffinity | undefined }> = unit.placement
    .clusterAffinities?.length
    ? unit.placement.clusterAffinities.map(({ affinityName, ...affinity }) => ({ affinityName, affinity }))
    : [{ affinity: unit.placement.clusterAffinity }];
  const prev = new Map((previous?.clusters ?? []).map((c) => [c.name, c.replicas]));
  const placementChanged =
    previous?.fresh === true ||
    (previous?.placement !== undefined && !sameJson(previous.placement, unit.placement));

  const attempts: Attempt[] = [];
  let decisions: ClusterDecision[] = [];
  for (const term of terms) {
    const ctx: PluginContext = { unit, affinity: term.affinity, previous: prev };
    const result = scheduleTerm(ctx, snapshot, plugins, placementChanged);
    decisions = result.decisions;
    attempts.push({
      ...(term.affinityName ? { affinityName: term.affinityName } : {}),
      ok: result.ok,
      reasons: result.reasons,
    });
    if (result.ok) {
      return {
        ok: true,
        clusters: result.clusters,
        ...(term.affinityName ? { affinityName: term.affinityName } : {}),
        decisions,
        attempts,
      };
    }
  }
  const reasons = attempts.flatMap((a) =>
    a.reasons.map((r) => (a.affinityName ? `${a.affinityName}: ${r}` : r)),
  );
  return { ok: false, reasons, decisions, attempts };
}

interface TermResult {
  ok: boolean;
  clusters: TargetCluster[];
  decisions: ClusterDecision[];
  reasons: string[];
}

function scheduleTerm(
  ctx: PluginContext,
  snapshot: readonly Cluster[],
  plugins: readonly Plugin[],
  placementChanged: boolean,
): TermResult {
  const byName = [...snapshot].sort((a, b) => cmp(a.metadata.name ?? '', b.metadata.name ?? ''));
  const decisions = new Map<string, ClusterDecision>();

  // Filter: every plugin runs, so a rejected cluster lists all its problems at once.
  const feasible: Cluster[] = [];
  for (const cluster of byName) {
    const reasons: string[] = [];
    for (const p of plugins) {
      const r = p.filter?.(ctx, cluster);
      if (r && !r.ok)
        reasons.push(...r.reasons.map((why) => `${p.name}: ${r.code === 'Error' ? 'error: ' : ''}${why}`));
    }
    const name = cluster.metadata.name ?? '';
    if (reasons.length > 0) decisions.set(name, { clusterName: name, outcome: 'Filtered', reasons });
    else feasible.push(cluster);
  }
  const done = (ok: boolean, reasons: string[], clusters: TargetCluster[] = []): TermResult => ({
    ok,
    clusters,
    reasons,
    decisions: byName.map(
      (c) =>
        decisions.get(c.metadata.name ?? '') ?? {
          clusterName: c.metadata.name ?? '',
          outcome: 'NotSelected',
        },
    ),
  });
  if (feasible.length === 0) {
    return done(false, [`no feasible cluster: ${byName.length} filtered out`]);
  }

  // Score: plugins' scores (normalized when the plugin says how), clamped to 0–100, summed.
  const total = new Map(feasible.map((c) => [c.metadata.name ?? '', 0]));
  const breakdown = new Map<string, string[]>(feasible.map((c) => [c.metadata.name ?? '', []]));
  for (const p of plugins) {
    if (!p.score) continue;
    let scores = new Map(feasible.map((c) => [c.metadata.name ?? '', p.score?.(ctx, c) ?? 0]));
    if (p.normalize) scores = p.normalize(ctx, scores);
    for (const [name, s] of scores) {
      const clamped = Math.max(0, Math.min(MAX_SCORE, Math.round(s)));
      total.set(name, (total.get(name) ?? 0) + clamped);
      if (clamped > 0) breakdown.get(name)?.push(`${p.name}=${clamped}`);
    }
  }
  const scored: ScoredCluster[] = feasible
    .map((cluster) => ({ cluster, score: total.get(cluster.metadata.name ?? '') ?? 0 }))
    .sort((a, b) => b.score - a.score || cmp(a.cluster.metadata.name ?? '', b.cluster.metadata.name ?? ''));
  const scoreOf = (name: string) => total.get(name) ?? 0;
  const scoreReason = (name: string) =>
    `score ${scoreOf(name)}${breakdown.get(name)?.length ? ` (${breakdown.get(name)?.join(', ')})` : ''}`;

  // Select by spread constraints.
  const spread = selectBySpread(scored, ctx.unit.placement.spreadConstraints ?? []);
  if (!spread.ok) {
    for (const s of scored) {
      const name = s.cluster.metadata.name ?? '';
      decisions.set(name, {
        clusterName: name,
        outcome: 'NotSelected',
        score: s.score,
        reasons: [scoreReason(name), ...spread.reasons],
      });
    }
    return done(false, spread.reasons);
  }
  for (const [name, why] of spread.rejected) {
    decisions.set(name, {
      clusterName: name,
      outcome: 'NotSelected',
      score: scoreOf(name),
      reasons: [scoreReason(name), why],
    });
  }

  // Divide replicas.
  const divided = divideReplicas({
    replicas: ctx.unit.replicas,
    strategy: ctx.unit.placement.replicaScheduling,
    clusters: spread.selected.map((s) => s.cluster),
    ...(ctx.unit.replicaRequirements ? { requirements: ctx.unit.replicaRequirements } : {}),
    previous: ctx.previous,
    placementChanged,
  });
  if (!divided.ok) {
    for (const s of spread.selected) {
      const name = s.cluster.metadata.name ?? '';
      decisions.set(name, {
        clusterName: name,
        outcome: 'NotSelected',
        score: s.score,
        reasons: [scoreReason(name), ...divided.reasons],
      });
    }
    return done(false, divided.reasons);
  }
  const strategy = strategyOf(ctx.unit.placement.replicaScheduling);
  const targets: TargetCluster[] = [];
  for (const s of spread.selected) {
    const name = s.cluster.metadata.name ?? '';
    const replicas = divided.assignments.get(name) ?? 0;
    // A Divided workload with replicas to place has no business on a cluster given none.
    if (strategy !== 'Duplicated' && ctx.unit.replicas > 0 && replicas === 0) {
      decisions.set(name, {
        clusterName: name,
        outcome: 'NotSelected',
        score: s.score,
        replicas: 0,
        reasons: [scoreReason(name), `replica division (${strategy}) assigned no replicas`],
      });
      continue;
    }
    targets.push({ name, replicas });
    decisions.set(name, {
      clusterName: name,
      outcome: 'Selected',
      score: s.score,
      replicas,
      reasons: [scoreReason(name)],
    });
  }
  targets.sort((a, b) => cmp(a.name, b.name));
  return done(true, [], targets);
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
