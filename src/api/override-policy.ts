/**
 * `OverridePolicy` (namespaced) and `ClusterOverridePolicy` (cluster-scoped): per-cluster
 * changes to the manifests Meridian propagates.
 */
import { Type, type Static } from 'typebox';
import { ClusterAffinity, KubeObject, ResourceSelectors } from './common.ts';
import { Kinds } from './constants.ts';
import { PolicyStatus } from './propagation-policy.ts';
import { AnyJson, StringEnum, StringMap, rule } from './schema.ts';

const JSON_POINTER = "self.startsWith('/')";

export const ImageComponents = ['Registry', 'Repository', 'Tag'] as const;
export type ImageComponent = (typeof ImageComponents)[number];

export const OverrideOperators = ['add', 'remove', 'replace'] as const;
export type OverrideOperator = (typeof OverrideOperators)[number];

const valueMatchesOperator = (field: string) =>
  rule(
    "self.operator == 'remove' ? !has(self.value) : has(self.value)",
    `${field}.value is required for operator add/replace and forbidden for remove`,
    { fieldPath: '.value' },
  );

/**
 * Changes one component of container images. Without `predicate`, applies to every
 * container image of a workload (pod template, or a Pod's spec); with it, only to the image
 * string at `predicate.path`.
 */
export const ImageOverrider = Type.Object(
  {
    predicate: Type.Optional(
      Type.Object({
        path: Type.String({
          minLength: 2,
          maxLength: 1024,
          description: 'JSON pointer to an image string, e.g. /spec/template/spec/containers/0/image.',
          'x-kubernetes-validations': [
            rule(JSON_POINTER, "imageOverrider[].predicate.path must be a JSON pointer starting with '/'"),
          ],
        }),
      }),
    ),
    component: StringEnum(ImageComponents),
    operator: StringEnum(OverrideOperators),
    value: Type.Optional(Type.String({ maxLength: 512 })),
  },
  { 'x-kubernetes-validations': [valueMatchesOperator('imageOverrider[]')] },
);
export type ImageOverrider = Static<typeof ImageOverrider>;

/** Adds or removes command/args entries of one container. */
export const CommandArgsOverrider = Type.Object({
  containerName: Type.String({ minLength: 1, maxLength: 253 }),
  operator: StringEnum(['add', 'remove']),
  value: Type.Array(Type.String({ maxLength: 4096 }), { minItems: 1, maxItems: 64 }),
});
export type CommandArgsOverrider = Static<typeof CommandArgsOverrider>;

/** Adds, removes or replaces label/annotation entries. For remove, only keys matter. */
export const MapOverrider = Type.Object({
  operator: StringEnum(OverrideOperators),
  value: StringMap({ minProperties: 1, maxProperties: 64 }),
});
export type MapOverrider = Static<typeof MapOverrider>;

/** One RFC 6902 operation on the manifest. */
export const PlaintextOverrider = Type.Object(
  {
    path: Type.String({
      minLength: 1,
      maxLength: 1024,
      'x-kubernetes-validations': [
        rule(JSON_POINTER, "plaintext[].path must be a JSON pointer starting with '/'"),
      ],
    }),
    operator: StringEnum(OverrideOperators),
    value: Type.Optional(AnyJson()),
  },
  {
    // No CEL rule on `value`: CEL cannot see an untyped (any JSON) field, so whether value
    // is present for add/replace is checked when the override is rendered.
    description: 'value is required for add/replace and ignored for remove.',
  },
);
export type PlaintextOverrider = Static<typeof PlaintextOverrider>;

export const Overriders = Type.Object(
  {
    imageOverrider: Type.Optional(Type.Array(ImageOverrider, { maxItems: 32 })),
    commandOverrider: Type.Optional(Type.Array(CommandArgsOverrider, { maxItems: 32 })),
    argsOverrider: Type.Optional(Type.Array(CommandArgsOverrider, { maxItems: 32 })),
    labelsOverrider: Type.Optional(Type.Array(MapOverrider, { maxItems: 32 })),
    annotationsOverrider: Type.Optional(Type.Array(MapOverrider, { maxItems: 32 })),
    plaintext: Type.Optional(Type.Array(PlaintextOverrider, { maxItems: 64 })),
  },
  {
    'x-kubernetes-validations': [
      rule(
        'has(self.imageOverrider) || has(self.commandOverrider) || has(self.argsOverrider) || has(self.labelsOverrider) || has(self.annotationsOverrider) || has(self.plaintext)',
        'overrideRules[].overriders must set at least one overrider',
      ),
    ],
  },
);
export type Overriders = Static<typeof Overriders>;

export const OverrideRule = Type.Object({
  targetCluster: Type.Optional(ClusterAffinity),
  overriders: Overriders,
});
export type OverrideRule = Static<typeof OverrideRule>;

export const OverrideSpec = Type.Object({
  resourceSelectors: Type.Optional(ResourceSelectors()),
  overrideRules: Type.Array(OverrideRule, { minItems: 1, maxItems: 32 }),
});
export type OverrideSpec = Static<typeof OverrideSpec>;

export const OverridePolicySchema = KubeObject(Kinds.OverridePolicy, OverrideSpec, PolicyStatus);
export type OverridePolicy = Static<typeof OverridePolicySchema>;

export const ClusterOverridePolicySchema = KubeObject(
  Kinds.ClusterOverridePolicy,
  OverrideSpec,
  PolicyStatus,
);
export type ClusterOverridePolicy = Static<typeof ClusterOverridePolicySchema>;
