/**
 * Which pull-mode agents the gateway still admits, from a watch of the hub's Clusters.
 *
 * A cluster's agent certificate is admitted while its Cluster exists, is not being deleted and
 * is in Pull mode, and only if the certificate was issued no earlier than the Cluster was
 * created — so a certificate of a cluster that was removed and joined again under the same
 * name stays refused. The moment a Cluster stops qualifying, `onRevoked` handlers run (the
 * gateway closes that cluster's tunnels: `cutRevokedTunnels`). On the hub API server the same
 * removal takes the agent's Role binding with the cluster's namespace, so the certificate is
 * refused there as well; certificates are short-lived, so nothing else needs to be kept.
 *
 * Until the first list of Clusters completes, nothing is admitted (agents retry).
 */
import { GROUP, Plurals, VERSION, Kinds, type Cluster } from '../api/index.ts';
import type { ApiClient, ResourceType } from '../kube/api-client.ts';
import type { Logger } from '../kube/log.ts';
import { objectKey } from '../kube/object-key.ts';
import { createInformer, type StoreReader } from '../kube/store.ts';
import type { AgentRegistry } from './registry.ts';

const CLUSTERS: ResourceType = {
  group: GROUP,
  version: VERSION,
  resource: Plurals.Cluster,
  scope: 'Cluster',
  kind: Kinds.Cluster,
};

export interface ClusterRevocation {
  /** True when an agent certificate of `cluster` valid from `issuedAt` is admitted now. */
  admits(cluster: string, issuedAt: Date): boolean;
  /** Calls `handler(cluster)` each time a cluster stops being admitted. */
  onRevoked(handler: (cluster: string) => void, signal?: AbortSignal): void;
  /** Resolves after the first complete list of Clusters. */
  readonly ready: Promise<void>;
}

const qualifies = (c: Cluster | undefined): c is Cluster =>
  c !== undefined && c.metadata.deletionTimestamp === undefined && c.spec.syncMode === 'Pull';

/** Revocation from a store of hub Clusters. */
export function revocationFromStore(clusters: StoreReader<Cluster>): ClusterRevocation {
  return {
    ready: clusters.ready,
    admits(cluster, issuedAt) {
      if (!clusters.isReady()) return false;
      const c = clusters.get(objectKey(undefined, cluster));
      if (!qualifies(c)) return false;
      const created = Date.parse(c.metadata.creationTimestamp ?? '');
      return Number.isNaN(created) || issuedAt.getTime() >= created;
    },
    onRevoked(handler, signal) {
      clusters.subscribe((change) => {
        const name = change.object.metadata.name;
        if (name === undefined) return;
        const was = change.type === 'delete' ? true : qualifies(change.old);
        const now = change.type !== 'delete' && qualifies(change.object);
        if (was && !now) handler(name);
      }, signal);
    },
  };
}

/** Watches the hub's Clusters (list + watch, until `signal` aborts). */
export function watchRevocation(hub: ApiClient, signal: AbortSignal, log: Logger): ClusterRevocation {
  const informer = createInformer<Cluster>(hub.source<Cluster>(CLUSTERS), {
    watcher: { onError: (err: unknown) => log.warn({ err }, 'watch of hub Clusters failed; retrying') },
  });
  informer.run(signal).catch((err: unknown) => {
    if (!signal.aborted) log.error({ err }, 'watch of hub Clusters stopped');
  });
  return revocationFromStore(informer.reader);
}

/** Closes every tunnel of a cluster the moment it is revoked. */
export function cutRevokedTunnels(
  revocation: ClusterRevocation,
  agents: AgentRegistry,
  log: Logger,
  signal?: AbortSignal,
): void {
  revocation.onRevoked((cluster) => {
    const conns = agents.connections(cluster);
    if (conns.length > 0)
      log.warn({ cluster, tunnels: conns.length }, 'cluster revoked: closing its agent tunnels');
    for (const c of conns) c.session.close();
  }, signal);
}
