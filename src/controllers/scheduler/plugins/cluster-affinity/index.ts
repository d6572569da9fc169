/**
 * Filter: the cluster matches the affinity being tried (names, exclude, label selector,
 * field selector). No affinity selects every cluster.
 */
import { clusterAffinityMismatches } from '../../../../api/index.ts';
import { FEASIBLE, unschedulable, type Plugin } from '../../plugin.ts';

export const clusterAffinity = {
  name: 'cluster-affinity',
  filter(ctx, cluster) {
    if (!ctx.affinity) return FEASIBLE;
    const reasons = clusterAffinityMismatches(cluster, ctx.affinity);
    return reasons.length === 0 ? FEASIBLE : unschedulable(...reasons);
  },
} satisfies Plugin;
