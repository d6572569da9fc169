/**
 * Names that are part of Meridian's API contract: group/version, kinds, resource plurals,
 * well-known label/annotation keys, finalizers and the server-side-apply field manager.
 * Changing any value here is a breaking API change.
 */

export const GROUP = 'meridian.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** Kinds served under {@link API_VERSION}. */
export const Kinds = {
  Cluster: 'Cluster',
  PropagationPolicy: 'PropagationPolicy',
  ClusterPropagationPolicy: 'ClusterPropagationPolicy',
  OverridePolicy: 'OverridePolicy',
  ClusterOverridePolicy: 'ClusterOverridePolicy',
  ResourceBinding: 'ResourceBinding',
  ClusterResourceBinding: 'ClusterResourceBinding',
  Work: 'Work',
  Volume: 'Volume',
  StorageNode: 'StorageNode',
} as const;
export type Kind = (typeof Kinds)[keyof typeof Kinds];

/** Resource plural (the URL segment and the CRD name prefix) of each kind. */
export const Plurals = {
  Cluster: 'clusters',
  PropagationPolicy: 'propagationpolicies',
  ClusterPropagationPolicy: 'clusterpropagationpolicies',
  OverridePolicy: 'overridepolicies',
  ClusterOverridePolicy: 'clusteroverridepolicies',
  ResourceBinding: 'resourcebindings',
  ClusterResourceBinding: 'clusterresourcebindings',
  Work: 'works',
  Volume: 'volumes',
  StorageNode: 'storagenodes',
} as const satisfies Record<Kind, string>;

/** The `kubectl get meridian` category every Meridian kind belongs to. */
export const CATEGORY = 'meridian';

/** Field manager for every server-side apply Meridian performs, on the hub and on members. */
export const FIELD_MANAGER = 'meridian';

/**
 * Well-known label keys. Cluster topology uses the Kubernetes well-known keys so the same
 * selectors work for nodes and clusters; the provider has no upstream key, so it is ours.
 */
export const Labels = {
  region: 'topology.kubernetes.io/region',
  zone: 'topology.kubernetes.io/zone',
  provider: 'meridian.dev/provider',
  /** On a Work: the cluster it targets (also encoded in its namespace). */
  cluster: 'meridian.dev/cluster',
  /** On a Work and on propagated objects: `namespace/name` of the owning binding, escaped. */
  bindingName: 'meridian.dev/binding-name',
  bindingNamespace: 'meridian.dev/binding-namespace',
  /** On a binding: the policy that claimed the resource. */
  policyName: 'meridian.dev/policy-name',
  policyNamespace: 'meridian.dev/policy-namespace',
  /** On objects applied to member clusters. */
  managedBy: 'app.kubernetes.io/managed-by',
} as const;

export const Annotations = {
  /** Per-resource override of the policy's conflictResolution (`Abort` | `Overwrite`). */
  conflictResolution: 'meridian.dev/conflict-resolution',
  /** On a rendered manifest: JSON list of the overriders that changed it, in order. */
  appliedOverrides: 'meridian.dev/applied-overrides',
  /** On a rendered manifest: the policy generation it was rendered from. */
  policyGeneration: 'meridian.dev/policy-generation',
  /**
   * On a Work: the replicas of its cluster's share it was rendered for (the binding's
   * `spec.clusters[].replicas`), so readers can tell a Work that caught up with a new placement.
   */
  scheduledReplicas: 'meridian.dev/scheduled-replicas',
} as const;

/** Cluster taint keys Meridian sets itself. */
export const TaintKeys = {
  /**
   * `NoExecute`, added by the Cluster controller when the cluster has not been Ready for its
   * grace period, removed once it has been Ready again for the stabilisation period.
   */
  notReady: 'cluster.meridian.dev/not-ready',
} as const;

export const Finalizers = {
  /** Holds a Cluster until its execution namespace and Works are gone. */
  cluster: 'meridian.dev/cluster-cleanup',
  /** Holds a resource template until its bindings are removed. */
  resource: 'meridian.dev/resource-cleanup',
  /** Holds a binding until its Works are removed. */
  binding: 'meridian.dev/binding-cleanup',
  /** Holds a Work until its manifests are deleted from the member cluster. */
  work: 'meridian.dev/work-cleanup',
} as const;

/** Prefix of the per-cluster namespace on the hub that holds the cluster's Works. */
export const CLUSTER_NAMESPACE_PREFIX = 'meridian-cluster-';

/** Longest cluster name whose execution namespace still fits a 63-character DNS label. */
export const CLUSTER_NAME_MAX_LENGTH = 63 - CLUSTER_NAMESPACE_PREFIX.length;

/** The hub namespace holding the Works for `cluster`. */
export function clusterNamespace(cluster: string): string {
  return `${CLUSTER_NAMESPACE_PREFIX}${cluster}`;
}

/** Inverse of {@link clusterNamespace}; `undefined` when `namespace` is not an execution namespace. */
export function clusterFromNamespace(namespace: string): string | undefined {
  return namespace.startsWith(CLUSTER_NAMESPACE_PREFIX) && namespace.length > CLUSTER_NAMESPACE_PREFIX.length
    ? namespace.slice(CLUSTER_NAMESPACE_PREFIX.length)
    : undefined;
}

/** Condition types Meridian sets. */
export const ConditionTypes = {
  /** Cluster: the member's API server answers and its agent heartbeats. */
  Ready: 'Ready',
  /** Cluster: the agent's tunnel to the gateway is up. */
  TunnelConnected: 'TunnelConnected',
  /** Cluster: status.apiEnablements lists every served resource. */
  CompleteAPIEnablements: 'CompleteAPIEnablements',
  /** Binding: the scheduler found target clusters. */
  Scheduled: 'Scheduled',
  /** Binding: every target cluster reports its manifest applied. */
  FullyApplied: 'FullyApplied',
  /** Work: the manifests were applied to the member cluster. */
  Applied: 'Applied',
  /** Work: the applied manifests are healthy. */
  Available: 'Available',
} as const;
