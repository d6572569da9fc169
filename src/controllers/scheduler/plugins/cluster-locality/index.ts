/**
 * Score: prefer the clusters the workload already runs on, so rescheduling with unchanged
 * input keeps the placement (stability) and spread selection keeps existing groups.
 */
import { MAX_SCORE, type Plugin } from '../../plugin.ts';

export const clusterLocality = {
  name: 'cluster-locality',
  score(ctx, cluster) {
    return ctx.previous.has(cluster.metadata.name ?? '') ? MAX_SCORE : 0;
  },
} satisfies Plugin;
