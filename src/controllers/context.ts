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

/**
 * Durations (milliseconds) that tune cluster health and failover. Every field is optional;
 * each controller documents and applies its own default.
 */
export interface ControllerSettings {
  /** Between health probes of a push-mode member. Default 10 s (±20 % jitter). */
  readonly clusterProbeIntervalMs?: number;
  /** Per-request timeout of a health probe. Default 5 s. */
  readonly clusterProbeTimeoutMs?: number;
  /** After one failed probe, probe again this soon (two in a row turn Ready False). Default 2 s. */
  readonly clusterProbeRetryMs?: number;
  /** A cluster not Ready this long is tainted `cluster.meridian.dev/not-ready:NoExecute`. Default 40 s. */
  readonly notReadyGracePeriodMs?: number;
  /** A tainted cluster Ready again this long, without a break, is untainted. Default 30 s. */
  readonly readyStabilizationMs?: number;
  /**
   * Graceful eviction: how long a binding keeps its copy on a cluster it was evicted from,
   * waiting for the replacement to be healthy, when its policy sets no
   * `failover.cluster.gracePeriodSeconds`. Default 10 min.
   */
  readonly evictionTimeoutMs?: number;
}

/** The hub CA files the agent certificate signer uses (pull mode), and the longest lifetime it issues. */
export interface AgentSignerFiles {
  readonly caCertFile: string;
  readonly caKeyFile: string;
  /** Default 24 h. */
  readonly certTtlSeconds?: number;
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
  /** Health and failover tuning; absent: every default. */
  readonly settings?: ControllerSettings;
  /** Absent: the agent-identity controller issues no certificates. */
  readonly agentSigner?: AgentSignerFiles;
}

/** A controller's entry point: runs until `ctx.signal` aborts. */
export type StartController = (ctx: ControllerContext) => Promise<void>;
