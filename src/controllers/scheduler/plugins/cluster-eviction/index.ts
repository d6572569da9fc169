/**
 * Filter (after Karmada's `ClusterEviction`): a cluster the binding was evicted from by
 * application failover (`spec.evictedClusters`) is not a candidate, even for a workload that
 * runs there now — that is the point of the eviction. The entry is lifted by the failover
 * controller (template changed, cluster gone, failover turned off) or by hand.
 */
import { FEASIBLE, unschedulable, type Plugin } from '../../plugin.ts';

export const clusterEviction = {
  name: 'cluster-eviction',
  filter(ctx, cluster) {
    const why = ctx.unit.evictedClusters?.get(cluster.metadata.name ?? '');
    return why === undefined ? FEASIBLE : unschedulable(`binding was evicted from this cluster: ${why}`);
  },
} satisfies Plugin;
