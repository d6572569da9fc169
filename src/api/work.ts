/**
 * `Work` (namespaced, in the per-cluster namespace `meridian-cluster-<name>`): the final,
 * overridden manifests for one cluster, and what the member reports back about them.
 */
import { Type, type Static } from 'typebox';
import { Conditions, KubeObject } from './common.ts';
import { Kinds } from './constants.ts';
import { ConflictResolutions } from './propagation-policy.ts';
import { Healths } from './resource-binding.ts';
import { EmbeddedResource, RawObject, StringEnum } from './schema.ts';

export const WorkSpec = Type.Object({
  workload: Type.Object({
    manifests: Type.Array(EmbeddedResource(), { maxItems: 256 }),
  }),
  suspendDispatching: Type.Optional(
    Type.Boolean({ description: 'Keep this Work on the hub; do not apply it to the member.' }),
  ),
  preserveResourcesOnDeletion: Type.Optional(
    Type.Boolean({ description: 'Leave the applied objects in the member when this Work is deleted.' }),
  ),
  conflictResolution: Type.Optional(
    StringEnum(ConflictResolutions, {
      description:
        'When a manifest names an object that already exists in the member and Meridian did not create it: Abort (default) reports a Conflict, Overwrite takes it over. The manifest annotation meridian.dev/conflict-resolution wins over this.',
    }),
  ),
});
export type WorkSpec = Static<typeof WorkSpec>;

/** Identifies one manifest of a Work in the member cluster. */
export const ManifestIdentifier = Type.Object({
  ordinal: Type.Integer({ minimum: 0, description: 'Index in spec.workload.manifests.' }),
  group: Type.Optional(Type.String()),
  version: Type.String({ minLength: 1 }),
  kind: Type.String({ minLength: 1 }),
  resource: Type.Optional(Type.String()),
  namespace: Type.Optional(Type.String()),
  name: Type.String({ minLength: 1 }),
});
export type ManifestIdentifier = Static<typeof ManifestIdentifier>;

export const ManifestStatus = Type.Object({
  identifier: ManifestIdentifier,
  status: Type.Optional(RawObject({ description: "The member object's status." })),
  health: Type.Optional(StringEnum(Healths)),
  applied: Type.Optional(Type.Boolean({ description: 'The manifest is applied as the Work says.' })),
  message: Type.Optional(
    Type.String({ maxLength: 4096, description: 'Why it is not applied (conflict, member rejection).' }),
  ),
  appliedGeneration: Type.Optional(
    Type.Integer({
      minimum: 0,
      format: 'int64',
      description: "The member object's metadata.generation right after Meridian last applied it.",
    }),
  ),
  observedGeneration: Type.Optional(
    Type.Integer({
      minimum: 0,
      format: 'int64',
      description: 'The Work metadata.generation this manifest was last applied from.',
    }),
  ),
});
export type ManifestStatus = Static<typeof ManifestStatus>;

export const WorkStatus = Type.Object({
  conditions: Type.Optional(Conditions()),
  manifestStatuses: Type.Optional(Type.Array(ManifestStatus)),
});
export type WorkStatus = Static<typeof WorkStatus>;

export const WorkSchema = KubeObject(Kinds.Work, WorkSpec, WorkStatus);
export type Work = Static<typeof WorkSchema>;
