/**
 * Pure decisions about one manifest of a Work: what to send to the member, whose object the
 * member's copy is, and whether (and why) it must be applied again.
 */
import {
  Annotations,
  FIELD_MANAGER,
  Labels,
  type ConflictResolution,
  type ManifestIdentifier,
  type ManifestStatus,
  type Work,
} from '../api/index.ts';
import type { EmbeddedObject } from '../api/schema.ts';
import type { ResourceType } from '../kube/api-client.ts';
import type { KubeObject } from '../kube/wire.ts';

/**
 * Labels Meridian puts on every object it applies to a member, so the object maps back to its
 * Work (and so a member-side informer can select exactly Meridian's objects).
 */
export const WorkLabels = {
  managedBy: Labels.managedBy,
  /** Hub namespace of the Work (its cluster's execution namespace). */
  workNamespace: 'meridian.dev/work-namespace',
  workName: 'meridian.dev/work-name',
} as const;

export const MANAGED_BY_VALUE = 'meridian';

/** Label selector of every object Meridian applied to a member. */
export const MANAGED_SELECTOR = `${WorkLabels.managedBy}=${MANAGED_BY_VALUE}`;

export interface WorkRef {
  readonly namespace: string;
  readonly name: string;
}

const SERVER_SET_METADATA = [
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'selfLink',
  // Hub owners and hub finalizers mean nothing in the member.
  'ownerReferences',
  'finalizers',
] as const;

function groupVersion(apiVersion: string): { readonly group: string; readonly version: string } {
  const i = apiVersion.indexOf('/');
  return i < 0
    ? { group: '', version: apiVersion }
    : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
}

/** The member namespace of a manifest: its own, `default` when a namespaced one has none, none when cluster-scoped. */
export function targetNamespace(manifest: EmbeddedObject, scope: ResourceType['scope']): string | undefined {
  if (scope === 'Cluster') return undefined;
  const ns = manifest.metadata?.namespace;
  return typeof ns === 'string' && ns !== '' ? ns : 'default';
}

/**
 * The server-side-apply body for `manifest`: server-set metadata and `status` dropped, the
 * namespace fixed for its scope, and Meridian's ownership labels added (they win over the
 * manifest's own labels of the same keys).
 */
export function desiredObject(
  manifest: EmbeddedObject,
  work: WorkRef,
  scope: ResourceType['scope'],
): KubeObject {
  const { status: _status, metadata = {}, ...rest } = manifest;
  const drop: ReadonlySet<string> = new Set(SERVER_SET_METADATA);
  const meta: Record<string, unknown> = Object.fromEntries(
    Object.entries(metadata).filter(([k]) => !drop.has(k)),
  );
  const ns = targetNamespace(manifest, scope);
  if (ns === undefined) delete meta['namespace'];
  else meta['namespace'] = ns;
  meta['labels'] = {
    ...((metadata['labels'] as Record<string, string> | undefined) ?? {}),
    [WorkLabels.managedBy]: MANAGED_BY_VALUE,
    [WorkLabels.workNamespace]: work.namespace,
    [WorkLabels.workName]: work.name,
  };
  return { ...rest, metadata: meta } as KubeObject;
}

/** How the manifest at `ordinal` is identified in status (its resource once resolved). */
export function identifierOf(
  manifest: EmbeddedObject,
  ordinal: number,
  rt: Pick<ResourceType, 'resource' | 'scope'> | undefined,
): ManifestIdentifier {
  const { group, version } = groupVersion(manifest.apiVersion);
  const ns = rt === undefined ? manifest.metadata?.namespace : targetNamespace(manifest, rt.scope);
  return {
    ordinal,
    group,
    version,
    kind: manifest.kind,
    ...(rt === undefined ? {} : { resource: rt.resource }),
    ...(typeof ns === 'string' && ns !== '' ? { namespace: ns } : {}),
    name: String(manifest.metadata?.name ?? ''),
  };
}

/** A stable identity across Work revisions: group, kind, namespace and name (not the ordinal or version). */
export function identityKey(id: Pick<ManifestIdentifier, 'group' | 'kind' | 'namespace' | 'name'>): string {
  return [id.group ?? '', id.kind, id.namespace ?? '', id.name].join('/');
}

/** Whose the member's object is, as far as Meridian can tell. */
export type Ownership =
  | { readonly type: 'this-work' }
  | { readonly type: 'other-work'; readonly work: WorkRef }
  | { readonly type: 'unmanaged' };

/** `true` when Meridian's field manager has applied (server-side) to this object. Needs `managedFields`. */
export function appliedByMeridian(obj: KubeObject): boolean {
  return (obj.metadata?.managedFields ?? []).some((f) => {
    const e = f as { manager?: string; operation?: string };
    return e.manager === FIELD_MANAGER && e.operation === 'Apply';
  });
}

/**
 * Ownership of a member object. Ours when its work labels name this Work. Also ours when its
 * labels were removed by someone but Meridian's manager still holds fields and this Work
 * recorded applying it (`recordedApplied`), so the labels are restored rather than the
 * object reported as a conflict. Anything else is not ours.
 */
export function ownershipOf(obj: KubeObject, work: WorkRef, recordedApplied: boolean): Ownership {
  const labels = obj.metadata?.labels ?? {};
  const ns = labels[WorkLabels.workNamespace];
  const name = labels[WorkLabels.workName];
  if (ns === work.namespace && name === work.name) return { type: 'this-work' };
  if (ns !== undefined && name !== undefined) return { type: 'other-work', work: { namespace: ns, name } };
  if (recordedApplied && appliedByMeridian(obj)) return { type: 'this-work' };
  return { type: 'unmanaged' };
}

const isResolution = (v: unknown): v is ConflictResolution => v === 'Abort' || v === 'Overwrite';

/** The manifest's `meridian.dev/conflict-resolution` annotation, else the Work's, else `Abort`. */
export function conflictResolutionFor(
  work: Pick<Work, 'spec'>,
  manifest: EmbeddedObject,
): ConflictResolution {
  const annotations = manifest.metadata?.['annotations'] as Record<string, string> | undefined;
  const a = annotations?.[Annotations.conflictResolution];
  if (isResolution(a)) return a;
  const w = work.spec.conflictResolution;
  return isResolution(w) ? w : 'Abort';
}

/** The message of a Conflict: names the object and cluster and says how to resolve it. */
export function conflictMessage(
  id: ManifestIdentifier,
  cluster: string,
  owner: Ownership,
  work: WorkRef,
): string {
  const what = `${id.kind} ${id.namespace === undefined ? '' : `${id.namespace}/`}${id.name}`;
  const whose =
    owner.type === 'other-work'
      ? `is managed by Meridian for another Work (${owner.work.namespace}/${owner.work.name})`
      : 'was not created by Meridian';
  return (
    `${what} already exists in cluster ${cluster} and ${whose}; not applied. ` +
    `To let Meridian take it over, set conflictResolution: Overwrite on the policy (Work ${work.namespace}/${work.name}) ` +
    `or annotate the resource template with ${Annotations.conflictResolution}=Overwrite; or delete the object from the cluster.`
  );
}

/** What Meridian last recorded about applying one manifest. */
export interface AppliedRecord {
  /** The member object's generation right after Meridian's apply. */
  readonly appliedGeneration?: number;
  /** The Work generation applied. */
  readonly observedGeneration?: number;
  /** Whether it was applied (false after a conflict or rejection). */
  readonly applied: boolean;
}

export function recordOf(s: ManifestStatus | undefined): AppliedRecord | undefined {
  if (s === undefined) return undefined;
  return {
    applied: s.applied === true,
    ...(s.appliedGeneration === undefined ? {} : { appliedGeneration: s.appliedGeneration }),
    ...(s.observedGeneration === undefined ? {} : { observedGeneration: s.observedGeneration }),
  };
}

/**
 * Why a manifest must be applied now. The drift reasons mean someone else changed or deleted
 * what Meridian applied; the others are Meridian's own intent.
 */
export type ApplyReason =
  | 'create'
  | 'work-changed'
  | 'not-recorded'
  | 'take-over'
  | 'recreate'
  | 'spec-drift'
  | 'metadata-drift'
  | 'fields-drift';

export const DRIFT_REASONS: ReadonlySet<ApplyReason> = new Set([
  'recreate',
  'spec-drift',
  'metadata-drift',
  'fields-drift',
]);

export function isDrift(reason: ApplyReason): boolean {
  return DRIFT_REASONS.has(reason);
}

/** Fields the server never returns as written (write-only), left out of the field comparison. */
const WRITE_ONLY: ReadonlySet<string> = new Set(['stringData']);

/**
 * `true` when every field of `want` is present in `have` with the same value (objects
 * recursively, lists element-wise and of equal length). Fields the server added are ignored.
 */
export function isSubset(want: unknown, have: unknown): boolean {
  if (want === null || typeof want !== 'object') return Object.is(want, have) || want === have;
  if (Array.isArray(want)) {
    return Array.isArray(have) && have.length === want.length && want.every((w, i) => isSubset(w, have[i]));
  }
  if (have === null || typeof have !== 'object' || Array.isArray(have)) return false;
  const h = have as Record<string, unknown>;
  return Object.entries(want as Record<string, unknown>).every(([k, v]) => isSubset(v, h[k]));
}

function stringMapSubset(
  want: Readonly<Record<string, unknown>> | undefined,
  have: Readonly<Record<string, string>> | undefined,
): boolean {
  return Object.entries(want ?? {}).every(([k, v]) => have?.[k] === v);
}

/**
 * Whether and why to apply `desired` (from {@link desiredObject}) given the member's `live`
 * object (`undefined`: absent), this Work's generation and what was recorded last time.
 * `undefined` means the member already has it: only status needs reporting.
 *
 * Spec drift is detected through `metadata.generation` (it moves on every spec change by
 * anyone); objects without a generation (ConfigMap, Secret, …) are compared field by field.
 * Labels and annotations Meridian set are compared directly. Ownership (conflicts) is decided
 * before this, by the caller.
 */
export function applyReason(
  desired: KubeObject,
  live: KubeObject | undefined,
  workGeneration: number | undefined,
  record: AppliedRecord | undefined,
  takingOver: boolean,
): ApplyReason | undefined {
  if (live === undefined) return record?.applied === true ? 'recreate' : 'create';
  if (takingOver) return 'take-over';
  if (record === undefined || !record.applied) return 'not-recorded';
  if (workGeneration !== undefined && record.observedGeneration !== workGeneration) return 'work-changed';
  const generation = live.metadata?.generation;
  if (generation !== undefined) {
    if (record.appliedGeneration === undefined) return 'not-recorded';
    if (generation > record.appliedGeneration) return 'spec-drift';
  }
  const dm = (desired.metadata ?? {}) as {
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  if (
    !stringMapSubset(dm.labels, live.metadata?.labels) ||
    !stringMapSubset(dm.annotations, live.metadata?.annotations)
  ) {
    return 'metadata-drift';
  }
  if (generation === undefined) {
    const fields = Object.fromEntries(
      Object.entries(desired).filter(
        ([k]) => k !== 'metadata' && k !== 'apiVersion' && k !== 'kind' && !WRITE_ONLY.has(k),
      ),
    );
    if (!isSubset(fields, live)) return 'fields-drift';
  }
  return undefined;
}
