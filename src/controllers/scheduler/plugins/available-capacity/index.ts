/**
 * Score: prefer clusters with room for more replicas of the pod template, relative to the
 * roomiest feasible cluster. Resources without replicas score 0 everywhere.
 */
import { availableReplicas } from '../../capacity.ts';
import { MAX_SCORE, type Plugin } from '../../plugin.ts';

export const availableCapacity = {
  name: 'available-capacity',
  score(ctx, cluster) {
    return ctx.unit.replicas > 0 ? availableReplicas(cluster, ctx.unit.replicaRequirements) : 0;
  },
  normalize(_ctx, scores) {
    const max = Math.max(0, ...scores.values());
    return new Map([...scores].map(([name, s]) => [name, max === 0 ? 0 : Math.floor((s * MAX_SCORE) / max)]));
  },
} satisfies Plugin;
