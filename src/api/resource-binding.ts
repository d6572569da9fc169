/**
 * `ResourceBinding` (namespaced) / `ClusterResourceBinding` (cluster-scoped): Meridian's
 * record of one resource template, the policy that claimed it, the scheduler's decision
 * (with its reasons, per cluster) and the aggregated status from the members.
 * Written by Meridian; users read it.
 */
import { Type, type Static } from 'typebox';
import { ClusterName, Conditions, KubeObject, PolicyReference } from './common.ts';
import { Kinds } from './constants.ts';
import { ConflictResolutions, Failover, Placement, PurgeModes, Suspension } from './propagation-policy.ts';
import { RawObject, ResourceList, StringEnum, Time } from './schema.ts';

/** The resource template a binding is about. */
export const ObjectReference = Type.Object({
  apiVersion: Type.String({ minLength: 1 }),
  kind: Type.String({ minLength: 1 }),
  namespace: Type.Optional(Type.String()),
  name: Type.String({ minLength: 1 }),
  uid: Type.Optional(Type.String()),
  resourceVersion: Type.Optional(Type.String()),
});
export type ObjectReference = Static<typeof ObjectReference>;

/** A cluster chosen by the scheduler, with its share of the replicas. */
export const TargetCluster = Type.Object({
  name: ClusterName(),
  replicas: Type.Integer({ minimum: 0, format: 'int32' }),
});
export type TargetCluster = Static<typeof TargetCluster>;

export const ReplicaRequirements = Type.Object({
  resourceRequest: Type.Optional(ResourceList({ description: 'Requests of one replica (pod template).' })),
});
export type ReplicaRequirements = Static<typeof ReplicaRequirements>;

export const DecisionOutcomes = ['Selected', 'Filtered', 'NotSelected'] as const;
export type DecisionOutcome = (typeof DecisionOutcomes)[number];

/**
 * Why the scheduler kept or rejected one cluster. `Filtered`: a filter plugin rejected it
 * (reasons say which and why). `NotSelected`: feasible, but spread constraints or replica
 * division left it out. `Selected`: it is a target.
 */
export const ClusterDecision = Type.Object({
  clusterName: Type.String({ minLength: 1 }),
  outcome: StringEnum(DecisionOutcomes),
  score: Type.Optional(Type.Integer({ minimum: 0 })),
  replicas: Type.Optional(Type.Integer({ minimum: 0 })),
  reasons: Type.Optional(Type.Array(Type.String())),
});
export type ClusterDecision = Static<typeof ClusterDecision>;

export const Healths = ['Healthy', 'Unhealthy', 'Unknown'] as const;
export type Health = (typeof Healths)[number];

export const AggregatedStatusItem = Type.Object({
  clusterName: Type.String({ minLength: 1 }),
  applied: Type.Optional(Type.Boolean()),
  appliedMessage: Type.Optional(Type.String()),
  health: Type.Optional(StringEnum(Healths)),
  status: Type.Optional(RawObject({ description: "The member object's status, as reported." })),
});
export type AggregatedStatusItem = Static<typeof AggregatedStatusItem>;

/**
 * A cluster the binding was evicted from (it gained a `NoExecute` taint the placement does not
 * tolerate) whose copy is kept, graceful eviction, until the clusters that replace it are
 * healthy or the grace period ends. Written by the scheduler.
 */
export const GracefulEvictionTask = Type.Object({
  fromCluster: ClusterName(),
  replicas: Type.Optional(
    Type.Integer({ minimum: 0, format: 'int32', description: 'Replicas it had when it was evicted.' }),
  ),
  reason: Type.String({ minLength: 1, maxLength: 64, description: 'Why, e.g. TaintUntolerated.' }),
  message: Type.Optional(Type.String({ maxLength: 1024 })),
  purgeMode: StringEnum(PurgeModes, {
    description:
      'Graciously: the copy goes once the replacement is healthy or gracePeriodSeconds pass. Never: it stays until the cluster is a target again or the task is removed by hand.',
  }),
  gracePeriodSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400 })),
  creationTimestamp: Time(),
});
export type GracefulEvictionTask = Static<typeof GracefulEvictionTask>;

/**
 * A cluster this binding must not be placed on, whatever the placement says, and why: written
 * by the application-failover controller when the workload stayed unhealthy there for longer
 * than `failover.application.decisionConditions.tolerationSeconds`. The scheduler filters it
 * out (and evicts the binding from it per `failover.application.purgeMode`). Lifted when the
 * resource template's spec changes (`templateGeneration` is older), when the Cluster is gone,
 * when the policy drops `failover.application`, or by removing the entry by hand.
 */
export const ClusterEviction = Type.Object({
  name: ClusterName(),
  reason: Type.String({ minLength: 1, maxLength: 64, description: 'Why, e.g. ApplicationFailure.' }),
  message: Type.Optional(Type.String({ maxLength: 1024 })),
  evictionTime: Time(),
  templateGeneration: Type.Optional(
    Type.Integer({
      minimum: 0,
      format: 'int64',
      description: "The resource template's metadata.generation when the cluster was evicted.",
    }),
  ),
});
export type ClusterEviction = Static<typeof ClusterEviction>;

export const BindingSpec = Type.Object({
  resource: ObjectReference,
  replicas: Type.Optional(Type.Integer({ minimum: 0, format: 'int32' })),
  replicaRequirements: Type.Optional(ReplicaRequirements),
  clusters: Type.Optional(
    Type.Array(TargetCluster, { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] }),
  ),
  placement: Type.Optional(Placement),
  policyRef: Type.Optional(PolicyReference),
  conflictResolution: Type.Optional(StringEnum(ConflictResolutions)),
  propagateDeps: Type.Optional(Type.Boolean()),
  suspension: Type.Optional(Suspension),
  failover: Type.Optional(Failover),
  evictedClusters: Type.Optional(
    Type.Array(ClusterEviction, {
      maxItems: 1000,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
    }),
  ),
  gracefulEvictionTasks: Type.Optional(
    Type.Array(GracefulEvictionTask, {
      maxItems: 1000,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['fromCluster'],
    }),
  ),
});
export type BindingSpec = Static<typeof BindingSpec>;

export const BindingStatus = Type.Object({
  conditions: Type.Optional(Conditions()),
  schedulerObservedGeneration: Type.Optional(Type.Integer({ minimum: 0, format: 'int64' })),
  schedulerObservedAffinityName: Type.Optional(Type.String()),
  lastScheduledTime: Type.Optional(Time()),
  schedulingDecisions: Type.Optional(
    Type.Array(ClusterDecision, {
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['clusterName'],
    }),
  ),
  aggregatedStatus: Type.Optional(
    Type.Array(AggregatedStatusItem, {
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['clusterName'],
    }),
  ),
});
export type BindingStatus = Static<typeof BindingStatus>;

export const ResourceBindingSchema = KubeObject(Kinds.ResourceBinding, BindingSpec, BindingStatus);
export type ResourceBinding = Static<typeof ResourceBindingSchema>;

export const ClusterResourceBindingSchema = KubeObject(
  Kinds.ClusterResourceBinding,
  BindingSpec,
  BindingStatus,
);
export type ClusterResourceBinding = Static<typeof ClusterResourceBindingSchema>;
