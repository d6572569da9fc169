/**
 * Filter: the cluster serves the resource's group/version and kind, per its reported
 * `status.apiEnablements`. A cluster that reported nothing yet is not assumed to serve it.
 */
import { FEASIBLE, unschedulable, type Plugin } from '../../plugin.ts';

export const apiEnablement = {
  name: 'api-enablement',
  filter(ctx, cluster) {
    const { apiVersion, kind } = ctx.unit.resource;
    const enablements = cluster.status?.apiEnablements;
    if (!enablements) return unschedulable('cluster has not reported its API enablements');
    const gv = enablements.find((e) => e.groupVersion === apiVersion);
    if (!gv) return unschedulable(`cluster does not serve ${apiVersion}`);
    if (!gv.resources?.some((r) => r.kind === kind))
      return unschedulable(`cluster does not serve ${kind} in ${apiVersion}`);
    return FEASIBLE;
  },
} satisfies Plugin;
