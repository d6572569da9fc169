/**
 * Filter: new placements go only to clusters whose Ready condition is True and that are not
 * being deleted. A cluster the workload already runs on keeps it while not Ready (like a
 * `NoSchedule` taint): a short outage must not move workloads. Moving them off a cluster that
 * stays unhealthy is the `cluster.meridian.dev/not-ready:NoExecute` taint's business (added by
 * the Cluster controller after its grace period, checked by `taint-toleration`).
 */
import { ConditionTypes, type Cluster } from '../../../../api/index.ts';
import { FEASIBLE, unschedulable, type Plugin } from '../../plugin.ts';

export const clusterReadiness = {
  name: 'cluster-readiness',
  filter(ctx, cluster: Cluster) {
    if (cluster.metadata.deletionTimestamp) return unschedulable('cluster is being deleted');
    if (ctx.previous.has(cluster.metadata.name ?? '')) return FEASIBLE;
    const ready = cluster.status?.conditions?.find((c) => c.type === ConditionTypes.Ready);
    if (!ready) return unschedulable('cluster has not reported a Ready condition');
    if (ready.status !== 'True') {
      const why = [ready.reason, ready.message].filter(Boolean).join(': ');
      return unschedulable(`cluster is not ready (Ready=${ready.status}${why ? `, ${why}` : ''})`);
    }
    return FEASIBLE;
  },
} satisfies Plugin;
