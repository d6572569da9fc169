/**
 * What the dashboard API sends: read-only views of the hub's objects, projected on the server
 * so the browser gets only what it shows (never a Work's manifests, which may hold Secrets).
 * Type-only and import-free: ui/ imports this file too.
 *
 * `GET /dashboard/api/state` → {@link Snapshot}. `GET /dashboard/api/stream` → Server-Sent
 * Events: one `snapshot` event ({@link Snapshot}), then `change` events ({@link Change}).
 */

export interface Condition {
  readonly type: string;
  readonly status: string;
  readonly reason?: string;
  readonly message?: string;
  readonly lastTransitionTime?: string;
}

/** One resource's capacity in a member, in base units (cores, bytes, pods). */
export interface Capacity {
  readonly allocatable: number;
  readonly allocated: number;
}

export interface ClusterView {
  /** The cluster's name (every view has a `key`, unique in its collection). */
  readonly key: string;
  readonly name: string;
  readonly region: string;
  readonly zone: string;
  readonly provider: string;
  readonly syncMode: string;
  /** `Ready` condition: True, False or Unknown. */
  readonly ready: string;
  readonly readyMessage: string;
  readonly kubernetesVersion: string;
  readonly nodes: { readonly total: number; readonly ready: number } | null;
  readonly cpu: Capacity | null;
  readonly memory: Capacity | null;
  readonly pods: Capacity | null;
  readonly taints: readonly { readonly key: string; readonly effect: string; readonly value?: string }[];
  readonly lastHeartbeatTime: string;
  readonly conditions: readonly Condition[];
}

export interface Decision {
  readonly clusterName: string;
  readonly outcome: string;
  readonly score?: number;
  readonly replicas?: number;
  readonly reasons: readonly string[];
}

/** What one member reports about the object placed in it. */
export interface Placement {
  readonly cluster: string;
  /** Replicas the scheduler gave this cluster (`spec.clusters[].replicas`). */
  readonly scheduled: number | null;
  readonly applied: boolean | null;
  readonly appliedMessage: string;
  readonly health: string;
  /** From the member object's status, when it has them (workloads). */
  readonly replicas: number | null;
  readonly readyReplicas: number | null;
  readonly availableReplicas: number | null;
}

export interface BindingView {
  /** `namespace/name` of the binding (`/name` for a ClusterResourceBinding). */
  readonly key: string;
  readonly kind: 'ResourceBinding' | 'ClusterResourceBinding';
  readonly namespace: string;
  readonly name: string;
  readonly resource: {
    readonly apiVersion: string;
    readonly kind: string;
    readonly namespace: string;
    readonly name: string;
  };
  readonly policy: string;
  readonly replicas: number | null;
  readonly placements: readonly Placement[];
  readonly decisions: readonly Decision[];
  readonly conditions: readonly Condition[];
  readonly evictions: readonly {
    readonly fromCluster: string;
    readonly reason: string;
    readonly message: string;
  }[];
  readonly lastScheduledTime: string;
}

export interface ManifestView {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  /** Overriders that changed this manifest for its cluster, as the binding controller recorded them. */
  readonly overrides: readonly unknown[];
  readonly applied: boolean | null;
  readonly health: string;
  /** Why it is not applied: a conflict with an object Meridian does not own, a member rejection. */
  readonly message: string;
}

export interface WorkView {
  readonly key: string;
  readonly cluster: string;
  /** Key of the binding (as {@link BindingView.key}) this Work was rendered from. */
  readonly binding: string;
  readonly conditions: readonly Condition[];
  readonly manifests: readonly ManifestView[];
}

/** A Warning event about a binding, a Work or a template: drift reverted, override failed, … */
export interface EventView {
  readonly key: string;
  readonly reason: string;
  readonly note: string;
  readonly regarding: { readonly kind: string; readonly namespace: string; readonly name: string };
  readonly count: number;
  readonly time: string;
  readonly controller: string;
}

export interface Snapshot {
  /** Who the dashboard authenticated (the hub's user name). */
  readonly user: string;
  readonly clusters: readonly ClusterView[];
  readonly bindings: readonly BindingView[];
  readonly works: readonly WorkView[];
  readonly events: readonly EventView[];
}

export type Collection = 'clusters' | 'bindings' | 'works' | 'events';

export type Change =
  | { readonly type: 'upsert'; readonly collection: 'clusters'; readonly value: ClusterView }
  | { readonly type: 'upsert'; readonly collection: 'bindings'; readonly value: BindingView }
  | { readonly type: 'upsert'; readonly collection: 'works'; readonly value: WorkView }
  | { readonly type: 'upsert'; readonly collection: 'events'; readonly value: EventView }
  | { readonly type: 'delete'; readonly collection: Collection; readonly key: string };
