/**
 * `Cluster` (cluster-scoped): one member cluster. Topology lives in labels
 * (`topology.kubernetes.io/region`, `topology.kubernetes.io/zone`, `meridian.dev/provider`)
 * so label selectors and field selectors see the same values.
 */
import { Type, type Static } from 'typebox';
import { ClusterName, Conditions, KubeObject } from './common.ts';
import { CLUSTER_NAME_MAX_LENGTH, Kinds } from './constants.ts';
import { DNS_LABEL_PATTERN, ResourceList, StringEnum, Time, rule } from './schema.ts';

export const SyncModes = ['Push', 'Pull'] as const;
export type SyncMode = (typeof SyncModes)[number];

export const TaintEffects = ['NoSchedule', 'NoExecute'] as const;
export type TaintEffect = (typeof TaintEffects)[number];

/**
 * A cluster taint. `NoSchedule`: no new placements without a toleration; `NoExecute`: also
 * evicts placed workloads that don't tolerate it (after their `tolerationSeconds`).
 */
export const Taint = Type.Object({
  key: Type.String({ minLength: 1, maxLength: 317 }),
  value: Type.Optional(Type.String({ maxLength: 63 })),
  effect: StringEnum(TaintEffects),
  timeAdded: Type.Optional(Time()),
});
export type Taint = Static<typeof Taint>;

export const ClusterSpec = Type.Object(
  {
    syncMode: StringEnum(SyncModes, {
      description: 'Push: the hub applies Works through the tunnel. Pull: the agent applies them.',
    }),
    apiEndpoint: Type.Optional(
      Type.String({ minLength: 1, maxLength: 2048, pattern: '^https?://', description: 'Push mode only.' }),
    ),
    secretRef: Type.Optional(
      Type.Object(
        {
          namespace: Type.String({ minLength: 1, maxLength: 63 }),
          name: Type.String({ minLength: 1, maxLength: 253 }),
        },
        { description: 'Push mode only: the hub Secret with credentials for apiEndpoint.' },
      ),
    ),
    taints: Type.Optional(
      Type.Array(Taint, {
        maxItems: 64,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['key', 'effect'],
      }),
    ),
  },
  {
    'x-kubernetes-validations': [
      rule(
        "self.syncMode != 'Push' || has(self.apiEndpoint)",
        'spec.apiEndpoint is required when spec.syncMode is Push',
        {
          fieldPath: '.apiEndpoint',
          reason: 'FieldValueRequired',
        },
      ),
      rule(
        "self.syncMode == 'Push' || !has(self.apiEndpoint)",
        'spec.apiEndpoint is only allowed when spec.syncMode is Push',
        { fieldPath: '.apiEndpoint', reason: 'FieldValueForbidden' },
      ),
      rule(
        "self.syncMode == 'Push' || !has(self.secretRef)",
        'spec.secretRef is only allowed when spec.syncMode is Push: in Pull mode the hub holds no cluster credentials',
        { fieldPath: '.secretRef', reason: 'FieldValueForbidden' },
      ),
    ],
  },
);
export type ClusterSpec = Static<typeof ClusterSpec>;

/** One API group/version the member serves, with its resources. */
export const APIEnablement = Type.Object({
  groupVersion: Type.String({ minLength: 1 }),
  resources: Type.Optional(
    Type.Array(
      Type.Object({
        name: Type.String({ minLength: 1, description: 'Plural resource name, e.g. deployments.' }),
        kind: Type.String({ minLength: 1 }),
      }),
    ),
  ),
});
export type APIEnablement = Static<typeof APIEnablement>;

/** Capacity of the member's nodes: allocatable, requested by pods (allocated), and the difference. */
export const ResourceSummary = Type.Object({
  allocatable: Type.Optional(ResourceList()),
  allocated: Type.Optional(ResourceList()),
  available: Type.Optional(ResourceList()),
});
export type ResourceSummary = Static<typeof ResourceSummary>;

export const ClusterStatus = Type.Object({
  conditions: Type.Optional(Conditions()),
  kubernetesVersion: Type.Optional(Type.String()),
  apiEnablements: Type.Optional(
    Type.Array(APIEnablement, {
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['groupVersion'],
    }),
  ),
  resourceSummary: Type.Optional(ResourceSummary),
  nodeSummary: Type.Optional(
    Type.Object({
      total: Type.Integer({ minimum: 0 }),
      ready: Type.Integer({ minimum: 0 }),
    }),
  ),
  lastHeartbeatTime: Type.Optional(Time()),
});
export type ClusterStatus = Static<typeof ClusterStatus>;

export const ClusterSchema = KubeObject(Kinds.Cluster, ClusterSpec, ClusterStatus, {
  'x-kubernetes-validations': [
    rule(
      `size(self.metadata.name) <= ${CLUSTER_NAME_MAX_LENGTH} && self.metadata.name.matches('${DNS_LABEL_PATTERN}')`,
      `metadata.name must be a DNS label of at most ${CLUSTER_NAME_MAX_LENGTH} characters, so that namespace meridian-cluster-<name> is valid`,
    ),
  ],
});
export type Cluster = Static<typeof ClusterSchema>;

// Re-exported so callers naming clusters validate them the same way.
export { ClusterName };
