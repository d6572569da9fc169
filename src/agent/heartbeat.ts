/**
 * The pull-mode agent's heartbeat: it renews the Lease `meridian-agent` in its cluster's hub
 * namespace every `renewIntervalMs` (creating it when missing). The hub's cluster controller
 * reads the Lease: not renewed within `leaseDurationSeconds` ⇒ the cluster is not Ready (see
 * src/controllers/cluster/lease-health.ts). Several agents of one cluster renew the same
 * Lease; any one of them alive keeps it fresh. A failed renewal is retried at the next tick.
 */
import { hostname } from 'node:os';
import { AGENT_LEASE_NAME } from '../api/agent-identity.ts';
import { clusterNamespace } from '../api/index.ts';
import type { ApiClient } from '../kube/api-client.ts';
import { systemClock } from '../kube/clock.ts';
import { AlreadyExistsError, ConflictError } from '../kube/errors.ts';
import { leaseClient, microTime, type Lease } from '../kube/leader-election.ts';
import type { Logger } from '../kube/log.ts';

export interface HeartbeatOptions {
  readonly cluster: string;
  readonly hub: ApiClient;
  /** Default 10 s. */
  readonly renewIntervalMs?: number;
  /** Default 40 s (as a kubelet's node Lease). */
  readonly leaseDurationSeconds?: number;
  readonly log: Logger;
  readonly signal: AbortSignal;
  /** Called after each successful renewal. */
  readonly onRenewed?: (renewTime: string) => void;
}

/** Renews the heartbeat Lease until `signal` aborts. */
export async function runHeartbeat(o: HeartbeatOptions): Promise<void> {
  const leases = leaseClient(o.hub);
  const namespace = clusterNamespace(o.cluster);
  const holder = `${hostname()}/${process.pid}`;
  const every = o.renewIntervalMs ?? 10_000;
  const duration = o.leaseDurationSeconds ?? 40;
  while (!o.signal.aborted) {
    const now = microTime(Date.now());
    try {
      const cur = await leases.get(namespace, AGENT_LEASE_NAME, o.signal);
      const spec = { holderIdentity: holder, leaseDurationSeconds: duration, renewTime: now };
      if (cur === undefined) {
        const lease: Lease = {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: AGENT_LEASE_NAME, namespace },
          spec: { ...spec, acquireTime: now },
        };
        await leases.create(lease, o.signal);
      } else {
        await leases.replace({ ...cur, spec: { ...cur.spec, ...spec } }, o.signal);
      }
      o.onRenewed?.(now);
    } catch (err) {
      if (o.signal.aborted) break;
      // Another agent of the cluster renewed at the same moment: that is a heartbeat too.
      if (!(err instanceof ConflictError || err instanceof AlreadyExistsError))
        o.log.warn({ cluster: o.cluster, err: (err as Error).message }, 'heartbeat Lease renewal failed');
    }
    await systemClock.sleep(every, o.signal);
  }
}
