/**
 * Pure: a Work's status from what applying each manifest gave, and whether it differs from
 * what the hub already holds (so unchanged status is never rewritten).
 */
import { sameJson } from '../kube/canonical-json.ts';
import {
  ConditionTypes,
  type Condition,
  type Health,
  type ManifestIdentifier,
  type ManifestStatus,
  type WorkStatus,
} from '../api/index.ts';
import type { KubeObject } from '../kube/wire.ts';

/** What happened to one manifest in this reconcile. */
export type ManifestOutcome =
  | {
      readonly type: 'applied';
      readonly identifier: ManifestIdentifier;
      /** The member object as last seen (after applying, or from the member informer). */
      readonly live: KubeObject;
      readonly health: Health;
      readonly appliedGeneration?: number;
      readonly observedGeneration?: number;
    }
  | { readonly type: 'conflict'; readonly identifier: ManifestIdentifier; readonly message: string }
  | { readonly type: 'failed'; readonly identifier: ManifestIdentifier; readonly message: string };

export const Reasons = {
  Applied: 'AppliedSuccessfully',
  Conflict: 'Conflict',
  ApplyFailed: 'ApplyFailed',
  Available: 'Available',
  Unhealthy: 'Unhealthy',
  NotReady: 'HealthUnknown',
  NotApplied: 'NotApplied',
  NoManifests: 'NoManifests',
} as const;

const MAX_MESSAGE = 4096;

function clip(s: string, max = MAX_MESSAGE): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

function describe(id: ManifestIdentifier): string {
  return `${id.kind} ${id.namespace === undefined ? '' : `${id.namespace}/`}${id.name}`;
}

export function manifestStatusOf(o: ManifestOutcome): ManifestStatus {
  if (o.type !== 'applied') {
    return { identifier: o.identifier, applied: false, health: 'Unknown', message: clip(o.message) };
  }
  const status = (o.live as { status?: unknown }).status;
  return {
    identifier: o.identifier,
    applied: true,
    health: o.health,
    ...(status !== null && typeof status === 'object' ? { status: status as Record<string, unknown> } : {}),
    ...(o.appliedGeneration === undefined ? {} : { appliedGeneration: o.appliedGeneration }),
    ...(o.observedGeneration === undefined ? {} : { observedGeneration: o.observedGeneration }),
  };
}

type NewCondition = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

function appliedCondition(outcomes: readonly ManifestOutcome[], cluster: string): NewCondition {
  const conflicts = outcomes.filter((o) => o.type === 'conflict');
  const failed = outcomes.filter((o) => o.type === 'failed');
  if (conflicts.length === 0 && failed.length === 0) {
    return {
      type: ConditionTypes.Applied,
      status: 'True',
      reason: Reasons.Applied,
      message: `${outcomes.length} manifest(s) applied to cluster ${cluster}`,
    };
  }
  const problems = [...conflicts, ...failed].map((o) => o.message);
  return {
    type: ConditionTypes.Applied,
    status: 'False',
    reason: conflicts.length > 0 ? Reasons.Conflict : Reasons.ApplyFailed,
    message: clip(problems.join('\n')),
  };
}

function availableCondition(outcomes: readonly ManifestOutcome[], cluster: string): NewCondition {
  const type = ConditionTypes.Available;
  if (outcomes.length === 0)
    return { type, status: 'True', reason: Reasons.NoManifests, message: 'nothing to apply' };
  const unhealthy = outcomes.filter((o) => o.type === 'applied' && o.health === 'Unhealthy');
  if (unhealthy.length > 0) {
    return {
      type,
      status: 'False',
      reason: Reasons.Unhealthy,
      message: clip(
        `not healthy in cluster ${cluster}: ${unhealthy.map((o) => describe(o.identifier)).join(', ')}`,
      ),
    };
  }
  const notApplied = outcomes.filter((o) => o.type !== 'applied');
  if (notApplied.length > 0) {
    return {
      type,
      status: 'Unknown',
      reason: Reasons.NotApplied,
      message: clip(`not applied: ${notApplied.map((o) => describe(o.identifier)).join(', ')}`),
    };
  }
  const unknown = outcomes.filter((o) => o.type === 'applied' && o.health === 'Unknown');
  if (unknown.length > 0) {
    return {
      type,
      status: 'Unknown',
      reason: Reasons.NotReady,
      message: clip(`health not known yet: ${unknown.map((o) => describe(o.identifier)).join(', ')}`),
    };
  }
  return {
    type,
    status: 'True',
    reason: Reasons.Available,
    message: `all manifests healthy in cluster ${cluster}`,
  };
}

/**
 * The next status: conditions Applied and Available (keeping `lastTransitionTime` when a
 * condition's status did not change, and any condition other writers own) and one
 * `manifestStatuses` entry per manifest, in manifest order.
 */
export function buildWorkStatus(
  previous: WorkStatus | undefined,
  outcomes: readonly ManifestOutcome[],
  cluster: string,
  generation: number | undefined,
  now: string,
): WorkStatus {
  const next = [appliedCondition(outcomes, cluster), availableCondition(outcomes, cluster)];
  const old = previous?.conditions ?? [];
  const conditions: Condition[] = next.map((c) => {
    const prior = old.find((p) => p.type === c.type);
    return {
      ...c,
      ...(generation === undefined ? {} : { observedGeneration: generation }),
      lastTransitionTime: prior !== undefined && prior.status === c.status ? prior.lastTransitionTime : now,
    };
  });
  return { conditions, manifestStatuses: outcomes.map(manifestStatusOf) };
}

/**
 * `true` when writing `next` would change what Meridian owns in `current`: the Applied and
 * Available conditions and `manifestStatuses` (transition times are carried over by
 * {@link buildWorkStatus}, so they compare equal when nothing moved).
 */
export function statusChanged(current: WorkStatus | undefined, next: WorkStatus): boolean {
  const ours = new Set<string>([ConditionTypes.Applied, ConditionTypes.Available]);
  const pick = (s: WorkStatus | undefined) => ({
    conditions: (s?.conditions ?? [])
      .filter((c) => ours.has(c.type))
      .sort((a, b) => (a.type < b.type ? -1 : 1)),
    manifestStatuses: s?.manifestStatuses ?? [],
  });
  return !sameJson(pick(current), pick(next));
}
