/**
 * Readiness of a pull-mode cluster from its agent's heartbeat Lease (`meridian-agent` in the
 * cluster's hub namespace; see src/agent/heartbeat.ts). Pure: the hub never contacts a pull
 * member, so the Lease is the only evidence.
 *
 * - renewed within its `leaseDurationSeconds` ⇒ Ready True (`AgentHeartbeat`), re-checked when
 *   it would expire;
 * - older ⇒ Ready False (`AgentHeartbeatLost`);
 * - no Lease yet ⇒ Ready Unknown (`AgentNotConnected`).
 */
import { AGENT_LEASE_NAME } from '../../api/agent-identity.ts';
import { ConditionTypes, clusterNamespace } from '../../api/index.ts';
import type { ResourceType } from '../../kube/api-client.ts';
import type { Lease } from '../../kube/leader-election.ts';
import { objectKey, type ObjectKey } from '../../kube/object-key.ts';
import type { ConditionInput } from './conditions.ts';

export const AGENT_LEASES: ResourceType = {
  group: 'coordination.k8s.io',
  version: 'v1',
  resource: 'leases',
  scope: 'Namespaced',
  kind: 'Lease',
};
/** The informer scope selecting only agent heartbeat Leases. */
export const AGENT_LEASE_SCOPE = { fieldSelector: `metadata.name=${AGENT_LEASE_NAME}` } as const;
export const DEFAULT_LEASE_DURATION_S = 40;

/** The store key of `cluster`'s heartbeat Lease. */
export const agentLeaseKey = (cluster: string): ObjectKey =>
  objectKey(clusterNamespace(cluster), AGENT_LEASE_NAME);

export interface LeaseVerdict {
  readonly condition: ConditionInput;
  /** When the verdict changes by itself (the Lease expires), if it will. */
  readonly recheckAfterMs?: number;
}

export function leaseReadiness(lease: Lease | undefined, nowMs: number): LeaseVerdict {
  const renew = Date.parse(lease?.spec?.renewTime ?? lease?.spec?.acquireTime ?? '');
  if (lease === undefined || Number.isNaN(renew)) {
    return {
      condition: {
        type: ConditionTypes.Ready,
        status: 'Unknown',
        reason: 'AgentNotConnected',
        message: 'no heartbeat from the agent yet',
      },
    };
  }
  const durationMs = (lease.spec?.leaseDurationSeconds ?? DEFAULT_LEASE_DURATION_S) * 1000;
  const expires = renew + durationMs;
  const at = new Date(renew).toISOString();
  if (nowMs < expires) {
    return {
      condition: {
        type: ConditionTypes.Ready,
        status: 'True',
        reason: 'AgentHeartbeat',
        message: 'the agent renews its heartbeat Lease',
      },
      recheckAfterMs: expires - nowMs,
    };
  }
  return {
    condition: {
      type: ConditionTypes.Ready,
      status: 'False',
      reason: 'AgentHeartbeatLost',
      message: `no heartbeat from the agent since ${at} (Lease duration ${durationMs / 1000} s)`,
    },
  };
}
