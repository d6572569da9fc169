/**
 * Filter: every NoSchedule and NoExecute taint of the cluster is tolerated by the
 * placement's clusterTolerations (Kubernetes toleration semantics). NoSchedule only keeps
 * new workloads out: a cluster the workload already runs on is checked for NoExecute only.
 * `tolerationSeconds` bounds how long a NoExecute taint is tolerated; that is eviction's
 * business (failover), so the filter ignores it.
 */
import type { ClusterToleration, Taint } from '../../../../api/index.ts';
import { FEASIBLE, unschedulable, type Plugin } from '../../plugin.ts';

/** Whether `toleration` tolerates `taint`. */
export function tolerates(toleration: ClusterToleration, taint: Taint): boolean {
  if (toleration.effect && toleration.effect !== taint.effect) return false;
  const operator = toleration.operator ?? 'Equal';
  if (!toleration.key) return operator === 'Exists';
  if (toleration.key !== taint.key) return false;
  return operator === 'Exists' || (toleration.value ?? '') === (taint.value ?? '');
}

const describe = (t: Taint) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`;

export const taintToleration = {
  name: 'taint-toleration',
  filter(ctx, cluster) {
    const tolerations = ctx.unit.placement.clusterTolerations ?? [];
    const alreadyThere = ctx.previous.has(cluster.metadata.name ?? '');
    const untolerated = (cluster.spec.taints ?? []).filter(
      (taint) =>
        (taint.effect === 'NoExecute' || !alreadyThere) && !tolerations.some((tol) => tolerates(tol, taint)),
    );
    return untolerated.length === 0
      ? FEASIBLE
      : unschedulable(...untolerated.map((t) => `cluster has untolerated taint ${describe(t)}`));
  },
} satisfies Plugin;
