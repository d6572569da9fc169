/**
 * One counter for every failover decision Meridian takes, whoever takes it: the scheduler
 * (cluster failover, graceful eviction ends, rebalancing steps) and the application-failover
 * controller. Shared by name in the controllers' registry, so each may create it first.
 */
import { Counter, type Registry } from 'prom-client';

export const FAILOVER_DECISIONS = 'meridian_failover_decisions_total';

/** What kind of decision: a failed cluster, an unhealthy application, a rebalancing step. */
export type DecisionKind = 'cluster' | 'application' | 'rebalance';

export type FailoverDecisions = Counter<'kind' | 'reason' | 'cluster'>;

export function failoverDecisions(registry: Registry): FailoverDecisions {
  return (
    (registry.getSingleMetric(FAILOVER_DECISIONS) as FailoverDecisions | undefined) ??
    new Counter({
      name: FAILOVER_DECISIONS,
      help: 'Failover decisions by kind (cluster, application, rebalance), reason (the Event reason, or the purge mode or end of a graceful eviction) and cluster.',
      labelNames: ['kind', 'reason', 'cluster'],
      registers: [registry],
    })
  );
}
