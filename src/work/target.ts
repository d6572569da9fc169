import type { ApiClient, ResourceType } from '../kube/api-client.ts';
import type { InformerScope } from '../kube/informer-factory.ts';
import type { StoreReader } from '../kube/store.ts';
import type { KubeObject } from '../kube/wire.ts';

/**
 * A member cluster the applier writes to: its API client and shared informers. The hub's
 * member registry (push mode) and the agent's own cluster (pull mode) both provide one.
 */
export interface ApplyTarget {
  readonly cluster: string;
  readonly client: ApiClient;
  /** Shared informers on the member (one list+watch per type and scope, however many readers). */
  informer<K extends KubeObject = KubeObject>(rt: ResourceType, scope?: InformerScope): StoreReader<K>;
}

/** The members the applier can reach now, by cluster name. */
export interface ApplyTargets {
  get(cluster: string): ApplyTarget | undefined;
}
