import type { Registry } from 'prom-client';
import type { ApiClient, ResourceType } from '../kube/api-client.ts';
import type { InformerFactory, InformerScope } from '../kube/informer-factory.ts';
import type { Logger } from '../kube/log.ts';
import type { Recorder } from '../kube/recorder.ts';
import type { StoreReader } from '../kube/store.ts';
import type { KubeObject } from '../kube/wire.ts';

/** A live connection to one member cluster's API server (push mode today, tunnel later). */
export interface MemberConnection {
  readonly cluster: string;
  readonly client: ApiClient;
  /** Shared informers on the member (one list+watch per type and scope, however many readers). */
  informer<K extends KubeObject = KubeObject>(rt: ResourceType, scope?: InformerScope): StoreReader<K>;
}

/**
 * The member clusters Meridian can reach right now. Connections come and go as Clusters are
 * joined, their credentials change, or they are removed; `subscribe` reports every such
 * change by cluster name so controllers can requeue what depends on that cluster.
 */
export interface MemberRegistry {
  get(cluster: string): MemberConnection | undefined;
  names(): readonly string[];
  subscribe(handler: (cluster: string) => void, signal?: AbortSignal): () => void;
}

/** What every controller gets when it starts. */
export interface ControllerContext {
  /** Client of the hub API server. */
  readonly hub: ApiClient;
  /** Shared hub informers. */
  readonly informers: InformerFactory;
  readonly members: MemberRegistry;
  readonly recorder: Recorder;
  readonly log: Logger;
  readonly metrics: Registry;
  /** Aborted when the controller must stop (lost leadership, shutdown). */
  readonly signal: AbortSignal;
}

/** A controller's entry point: runs until `ctx.signal` aborts. */
export type StartController = (ctx: ControllerContext) => Promise<void>;
