/**
 * Shapes shared by several Meridian kinds: object metadata, conditions, selectors.
 */
import { Type, type Static, type TSchema } from 'typebox';
import { API_VERSION, CLUSTER_NAME_MAX_LENGTH } from './constants.ts';
import { DNS_LABEL_PATTERN, StringEnum, StringMap, Time, rule, type KubeSchemaOptions } from './schema.ts';

/**
 * The parts of `metav1.ObjectMeta` Meridian reads or writes. Used for the static types
 * only: a CRD's `metadata` is validated by the API server itself, so the generator
 * replaces this node with `{ type: object }`.
 */
export const ObjectMeta = Type.Object({
  name: Type.Optional(Type.String()),
  generateName: Type.Optional(Type.String()),
  namespace: Type.Optional(Type.String()),
  uid: Type.Optional(Type.String()),
  resourceVersion: Type.Optional(Type.String()),
  generation: Type.Optional(Type.Integer()),
  creationTimestamp: Type.Optional(Type.String()),
  deletionTimestamp: Type.Optional(Type.String()),
  labels: Type.Optional(StringMap()),
  annotations: Type.Optional(StringMap()),
  finalizers: Type.Optional(Type.Array(Type.String())),
  ownerReferences: Type.Optional(
    Type.Array(
      Type.Object({
        apiVersion: Type.String(),
        kind: Type.String(),
        name: Type.String(),
        uid: Type.String(),
        controller: Type.Optional(Type.Boolean()),
        blockOwnerDeletion: Type.Optional(Type.Boolean()),
      }),
    ),
  ),
});
export type ObjectMeta = Static<typeof ObjectMeta>;

/** `metav1.Condition`, with the same limits as the core API's. */
export const Condition = Type.Object({
  type: Type.String({
    maxLength: 316,
    pattern:
      '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
  }),
  status: StringEnum(['True', 'False', 'Unknown']),
  observedGeneration: Type.Optional(Type.Integer({ minimum: 0, format: 'int64' })),
  lastTransitionTime: Time(),
  reason: Type.String({ minLength: 1, maxLength: 1024, pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$' }),
  message: Type.String({ maxLength: 32768 }),
});
export type Condition = Static<typeof Condition>;

/** A condition list merged by `type` under server-side apply. */
export function Conditions() {
  return Type.Array(Condition, {
    maxItems: 32,
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['type'],
  });
}

/** A cluster name: a DNS label short enough for its `meridian-cluster-<name>` namespace. */
export function ClusterName() {
  return Type.String({ minLength: 1, maxLength: CLUSTER_NAME_MAX_LENGTH, pattern: DNS_LABEL_PATTERN });
}

export const LabelSelectorOperators = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;

/** `metav1.LabelSelector`; the rules the core API enforces in Go are CEL rules here. */
export const LabelSelector = Type.Object({
  matchLabels: Type.Optional(StringMap({ maxProperties: 64 })),
  matchExpressions: Type.Optional(
    Type.Array(
      Type.Object(
        {
          key: Type.String({ minLength: 1, maxLength: 317 }),
          operator: StringEnum(LabelSelectorOperators),
          values: Type.Optional(Type.Array(Type.String({ maxLength: 63 }), { maxItems: 64 })),
        },
        {
          'x-kubernetes-validations': [
            rule(
              "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0",
              'matchExpressions[].values must be non-empty for In/NotIn and empty for Exists/DoesNotExist',
              { fieldPath: '.values' },
            ),
          ],
        },
      ),
      { maxItems: 32 },
    ),
  ),
});
export type LabelSelector = Static<typeof LabelSelector>;

/** Cluster fields a field selector can match; each is read from a well-known cluster label. */
export const ClusterFields = ['provider', 'region', 'zone'] as const;
export type ClusterField = (typeof ClusterFields)[number];

/** Selects clusters by their provider/region/zone (Karmada's `fieldSelector`). */
export const FieldSelector = Type.Object({
  matchExpressions: Type.Array(
    Type.Object({
      key: StringEnum(ClusterFields),
      operator: StringEnum(['In', 'NotIn']),
      values: Type.Array(Type.String({ maxLength: 63 }), { minItems: 1, maxItems: 64 }),
    }),
    { minItems: 1, maxItems: 16 },
  ),
});
export type FieldSelector = Static<typeof FieldSelector>;

const clusterAffinityFields = {
  clusterNames: Type.Optional(
    Type.Array(ClusterName(), { maxItems: 128, description: 'Clusters to select by name.' }),
  ),
  exclude: Type.Optional(
    Type.Array(ClusterName(), { maxItems: 128, description: 'Clusters never to select.' }),
  ),
  labelSelector: Type.Optional(LabelSelector),
  fieldSelector: Type.Optional(FieldSelector),
};

const disjointNames = rule(
  '!has(self.clusterNames) || !has(self.exclude) || !self.clusterNames.exists(n, n in self.exclude)',
  'clusterNames and exclude must be disjoint: a cluster cannot be both selected and excluded',
  { fieldPath: '.exclude' },
);

/**
 * Selects clusters. All given criteria must hold (AND); an empty affinity selects every
 * cluster. `exclude` wins over the rest.
 */
export const ClusterAffinity = Type.Object(clusterAffinityFields, {
  'x-kubernetes-validations': [disjointNames],
});
export type ClusterAffinity = Static<typeof ClusterAffinity>;

/** A named {@link ClusterAffinity}, one step of an ordered fallback list. */
export const ClusterAffinityTerm = Type.Object(
  {
    affinityName: Type.String({ minLength: 1, maxLength: 63, pattern: DNS_LABEL_PATTERN }),
    ...clusterAffinityFields,
  },
  { 'x-kubernetes-validations': [disjointNames] },
);
export type ClusterAffinityTerm = Static<typeof ClusterAffinityTerm>;

/** Selects resource templates on the hub. */
export const ResourceSelector = Type.Object(
  {
    apiVersion: Type.String({ minLength: 1, maxLength: 317 }),
    kind: Type.String({ minLength: 1, maxLength: 63 }),
    namespace: Type.Optional(Type.String({ maxLength: 63 })),
    name: Type.Optional(Type.String({ maxLength: 253 })),
    labelSelector: Type.Optional(LabelSelector),
  },
  {
    'x-kubernetes-validations': [
      rule(
        '!(has(self.name) && has(self.labelSelector))',
        'resourceSelectors[].name and resourceSelectors[].labelSelector are mutually exclusive',
        { fieldPath: '.labelSelector' },
      ),
    ],
  },
);
export type ResourceSelector = Static<typeof ResourceSelector>;

export function ResourceSelectors(options: { minItems?: number } = {}) {
  return Type.Array(ResourceSelector, { maxItems: 64, ...options });
}

/** Where a binding came from. */
export const PolicyReference = Type.Object({
  kind: StringEnum(['PropagationPolicy', 'ClusterPropagationPolicy']),
  namespace: Type.Optional(Type.String({ maxLength: 63 })),
  name: Type.String({ minLength: 1, maxLength: 253 }),
  uid: Type.Optional(Type.String()),
});
export type PolicyReference = Static<typeof PolicyReference>;

/**
 * The schema of a whole object of `kind`: `apiVersion`, `kind`, `metadata`, `spec` and an
 * optional `status`. `options` carries root-level CEL rules (which may read
 * `self.metadata.name`). The CRD generator turns this node into `openAPIV3Schema`.
 */
export function KubeObject<const K extends string, Spec extends TSchema, Status extends TSchema>(
  kind: K,
  spec: Spec,
  status: Status,
  options: KubeSchemaOptions = {},
) {
  return Type.Object(
    {
      apiVersion: Type.Literal(API_VERSION),
      kind: Type.Literal(kind),
      metadata: ObjectMeta,
      spec,
      status: Type.Optional(status),
    },
    options,
  );
}
