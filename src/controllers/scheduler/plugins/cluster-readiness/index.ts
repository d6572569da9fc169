/** Filter: only clusters whose Ready condition is True and that are not being deleted. */
import { ConditionTypes, type Cluster } from '../../../../api/index.ts';
import { FEASIBLE, unschedulable, type Plugin } from '../../plugin.ts';

export const clusterReadiness = {
  name: 'cluster-readiness',
  filter(_ctx, cluster: Cluster) {
    if (cluster.metadata.deletionTimestamp) return unschedulable('cluster is being deleted');
    const ready = cluster.status?.conditions?.find((c) => c.type === ConditionTypes.Ready);
    if (!ready) return unschedulable('cluster has not reported a Ready condition');
    if (ready.status !== 'True') {
      const why = [ready.reason, ready.message].filter(Boolean).join(': ');
      return unschedulable(`cluster is not ready (Ready=${ready.status}${why ? `, ${why}` : ''})`);
    }
    return FEASIBLE;
  },
} satisfies Plugin;
