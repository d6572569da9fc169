/**
 * `PropagationPolicy` (namespaced) and `ClusterPropagationPolicy` (cluster-scoped): which
 * hub resources go to which clusters, and how replicas are divided. Same spec for both;
 * a namespaced policy only selects resources in its own namespace.
 */
import { Type, type Static } from 'typebox';
import { ClusterAffinity, ClusterAffinityTerm, Conditions, KubeObject, ResourceSelectors } from './common.ts';
import { Kinds } from './constants.ts';
import { StringEnum, rule } from './schema.ts';
import { TaintEffects } from './cluster.ts';

/** Tolerates cluster taints, with Kubernetes toleration semantics. */
export const ClusterToleration = Type.Object(
  {
    key: Type.Optional(
      Type.String({ maxLength: 317, description: 'Empty with operator Exists: every key.' }),
    ),
    operator: Type.Optional(StringEnum(['Equal', 'Exists'], { default: 'Equal' })),
    value: Type.Optional(Type.String({ maxLength: 63 })),
    effect: Type.Optional(StringEnum(TaintEffects, { description: 'Empty: every effect.' })),
    tolerationSeconds: Type.Optional(
      Type.Integer({
        minimum: 0,
        format: 'int64',
        description: 'NoExecute only: how long to stay after the taint.',
      }),
    ),
  },
  {
    'x-kubernetes-validations': [
      rule(
        "(has(self.key) && size(self.key) > 0) || (has(self.operator) && self.operator == 'Exists')",
        'clusterTolerations[].key may be empty only when operator is Exists',
        { fieldPath: '.key' },
      ),
      rule(
        "!has(self.operator) || self.operator != 'Exists' || !has(self.value) || size(self.value) == 0",
        'clusterTolerations[].value must be empty when operator is Exists',
        { fieldPath: '.value' },
      ),
      rule(
        "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
        'clusterTolerations[].tolerationSeconds is only allowed with effect NoExecute',
        { fieldPath: '.tolerationSeconds' },
      ),
    ],
  },
);
export type ClusterToleration = Static<typeof ClusterToleration>;

export const SpreadFields = ['cluster', 'region', 'zone', 'provider'] as const;
export type SpreadField = (typeof SpreadFields)[number];

/** Spread the placement over between minGroups and maxGroups distinct values of a field. */
export const SpreadConstraint = Type.Object(
  {
    spreadByField: StringEnum(SpreadFields),
    minGroups: Type.Integer({ minimum: 1, maximum: 1000 }),
    maxGroups: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  },
  {
    'x-kubernetes-validations': [
      rule(
        '!has(self.maxGroups) || self.maxGroups >= self.minGroups',
        'spreadConstraints[].maxGroups must be greater than or equal to spreadConstraints[].minGroups',
        { fieldPath: '.maxGroups' },
      ),
    ],
  },
);
export type SpreadConstraint = Static<typeof SpreadConstraint>;

export const StaticClusterWeight = Type.Object({
  targetCluster: ClusterAffinity,
  weight: Type.Integer({ minimum: 1, maximum: 10000 }),
});
export type StaticClusterWeight = Static<typeof StaticClusterWeight>;

export const WeightPreference = Type.Object(
  {
    staticWeightList: Type.Optional(Type.Array(StaticClusterWeight, { minItems: 1, maxItems: 64 })),
    dynamicWeight: Type.Optional(
      StringEnum(['AvailableReplicas'], {
        description: "AvailableReplicas: weight = how many replicas each cluster's free capacity fits.",
      }),
    ),
  },
  {
    'x-kubernetes-validations': [
      rule(
        'has(self.staticWeightList) != has(self.dynamicWeight)',
        'weightPreference must set exactly one of staticWeightList and dynamicWeight',
      ),
    ],
  },
);
export type WeightPreference = Static<typeof WeightPreference>;

/**
 * Divided replicas drift from the desired spread when a failover moves them and the cluster
 * comes back, or when the fleet changes: the scheduler keeps placements stable and never moves
 * replicas by itself. With `rebalance`, it moves them back toward the division it would make
 * afresh, in bounded steps: at most `maxReplicasPerStep` replicas per step, a step only once
 * every target runs its share healthily and at least `intervalSeconds` after the previous one.
 */
export const Rebalance = Type.Object({
  maxReplicasPerStep: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 10000,
      default: 1,
      description: 'Replicas moved from one cluster to another per step, at most.',
    }),
  ),
  intervalSeconds: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 86400,
      default: 60,
      description: 'Least time between two steps of one binding.',
    }),
  ),
});
export type Rebalance = Static<typeof Rebalance>;

export const ReplicaScheduling = Type.Object(
  {
    replicaSchedulingType: StringEnum(['Duplicated', 'Divided'], {
      default: 'Duplicated',
      description: 'Duplicated: every cluster runs spec.replicas. Divided: spec.replicas is split.',
    }),
    replicaDivisionPreference: Type.Optional(
      StringEnum(['Aggregated', 'Weighted'], {
        description: 'Aggregated: as few clusters as capacity allows. Weighted: by weightPreference.',
      }),
    ),
    weightPreference: Type.Optional(WeightPreference),
    rebalance: Type.Optional(Rebalance),
  },
  {
    'x-kubernetes-validations': [
      rule(
        "!has(self.replicaDivisionPreference) || self.replicaSchedulingType == 'Divided'",
        'replicaScheduling.replicaDivisionPreference is only allowed when replicaSchedulingType is Divided',
        { fieldPath: '.replicaDivisionPreference' },
      ),
      rule(
        "!has(self.weightPreference) || (self.replicaSchedulingType == 'Divided' && has(self.replicaDivisionPreference) && self.replicaDivisionPreference == 'Weighted')",
        'replicaScheduling.weightPreference (staticWeightList, dynamicWeight) requires replicaSchedulingType Divided and replicaDivisionPreference Weighted',
        { fieldPath: '.weightPreference' },
      ),
      rule(
        "!has(self.rebalance) || self.replicaSchedulingType == 'Divided'",
        'replicaScheduling.rebalance is only allowed when replicaSchedulingType is Divided',
        { fieldPath: '.rebalance' },
      ),
    ],
  },
);
export type ReplicaScheduling = Static<typeof ReplicaScheduling>;

export const Placement = Type.Object(
  {
    clusterAffinity: Type.Optional(ClusterAffinity),
    clusterAffinities: Type.Optional(
      Type.Array(ClusterAffinityTerm, {
        minItems: 1,
        maxItems: 16,
        description: 'Ordered fallbacks: the first term with a feasible placement wins.',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['affinityName'],
      }),
    ),
    clusterTolerations: Type.Optional(Type.Array(ClusterToleration, { maxItems: 64 })),
    spreadConstraints: Type.Optional(
      Type.Array(SpreadConstraint, {
        maxItems: 4,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['spreadByField'],
      }),
    ),
    replicaScheduling: Type.Optional(ReplicaScheduling),
  },
  {
    'x-kubernetes-validations': [
      rule(
        '!(has(self.clusterAffinity) && has(self.clusterAffinities))',
        'placement.clusterAffinity and placement.clusterAffinities are mutually exclusive',
        { fieldPath: '.clusterAffinities' },
      ),
    ],
  },
);
export type Placement = Static<typeof Placement>;

export const PurgeModes = ['Immediately', 'Graciously', 'Never'] as const;
export type PurgeMode = (typeof PurgeModes)[number];

const gracePeriodRule = rule(
  "!has(self.gracePeriodSeconds) || self.purgeMode == 'Graciously'",
  'gracePeriodSeconds is only allowed when purgeMode is Graciously',
  { fieldPath: '.gracePeriodSeconds' },
);

export const Failover = Type.Object({
  application: Type.Optional(
    Type.Object(
      {
        decisionConditions: Type.Object({
          tolerationSeconds: Type.Integer({
            minimum: 0,
            default: 300,
            description: 'How long the application may be unhealthy before it is moved.',
          }),
        }),
        purgeMode: StringEnum(PurgeModes, {
          default: 'Graciously',
          description:
            'What happens to the old copy: removed at once, after the new one is healthy, or kept.',
        }),
        gracePeriodSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400 })),
      },
      { 'x-kubernetes-validations': [gracePeriodRule] },
    ),
  ),
  cluster: Type.Optional(
    Type.Object(
      {
        purgeMode: StringEnum(PurgeModes, { default: 'Graciously' }),
        gracePeriodSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400 })),
      },
      {
        description: 'When a cluster fails (NoExecute taint): how workloads leave it.',
        'x-kubernetes-validations': [gracePeriodRule],
      },
    ),
  ),
});
export type Failover = Static<typeof Failover>;

export const ConflictResolutions = ['Abort', 'Overwrite'] as const;
export type ConflictResolution = (typeof ConflictResolutions)[number];

export const Suspension = Type.Object({
  dispatching: Type.Optional(Type.Boolean({ description: 'Stop writing Works for every cluster.' })),
  dispatchingOnClusters: Type.Optional(
    Type.Object({ clusterNames: Type.Array(Type.String({ maxLength: 63 }), { maxItems: 128 }) }),
  ),
});
export type Suspension = Static<typeof Suspension>;

export const PropagationSpec = Type.Object({
  resourceSelectors: ResourceSelectors({ minItems: 1 }),
  placement: Type.Optional(Placement),
  priority: Type.Optional(
    Type.Integer({
      default: 0,
      minimum: -1000000,
      maximum: 1000000,
      description: 'When several policies match a resource, the highest priority wins.',
    }),
  ),
  preemption: Type.Optional(
    StringEnum(['Always', 'Never'], {
      default: 'Never',
      description: 'Always: take over resources claimed by lower-priority policies.',
    }),
  ),
  failover: Type.Optional(Failover),
  propagateDeps: Type.Optional(
    Type.Boolean({ description: 'Also propagate the ConfigMaps, Secrets, … the resource references.' }),
  ),
  conflictResolution: Type.Optional(
    StringEnum(ConflictResolutions, {
      default: 'Abort',
      description: 'When the object already exists in a member and Meridian did not create it.',
    }),
  ),
  suspension: Type.Optional(Suspension),
});
export type PropagationSpec = Static<typeof PropagationSpec>;

/** Policy status: whether the spec was accepted, and which generation that was about. */
export const PolicyStatus = Type.Object({
  observedGeneration: Type.Optional(Type.Integer({ minimum: 0, format: 'int64' })),
  conditions: Type.Optional(Conditions()),
});
export type PolicyStatus = Static<typeof PolicyStatus>;

export const PropagationPolicySchema = KubeObject(Kinds.PropagationPolicy, PropagationSpec, PolicyStatus);
export type PropagationPolicy = Static<typeof PropagationPolicySchema>;

export const ClusterPropagationPolicySchema = KubeObject(
  Kinds.ClusterPropagationPolicy,
  PropagationSpec,
  PolicyStatus,
);
export type ClusterPropagationPolicy = Static<typeof ClusterPropagationPolicySchema>;
