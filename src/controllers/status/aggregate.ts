/**
 * `aggregateStatus`: the status Meridian writes to a hub resource template, computed from what
 * each target cluster reports about its copy. The hub runs no workload controllers, so this is
 * the only writer of a template's `.status`. Pure: same inputs, same output (timestamps come
 * from the template's prior status or from `now`).
 *
 * Semantics per kind (only clusters that report a status contribute; a missing counter is 0):
 *
 * - **apps/v1 Deployment**: `replicas`, `readyReplicas`, `availableReplicas`,
 *   `updatedReplicas`, `unavailableReplicas` are summed. Conditions:
 *   `Available` is True when every target cluster's Deployment says `Available=True`, False
 *   when any says False (naming them), else Unknown; `Progressing` is False when any cluster
 *   says False (e.g. `ProgressDeadlineExceeded`), True when every cluster says True (reason
 *   `NewReplicaSetAvailable` only when all do), else Unknown.
 * - **apps/v1 StatefulSet**: `replicas`, `readyReplicas`, `currentReplicas`,
 *   `updatedReplicas`, `availableReplicas` summed.
 * - **apps/v1 DaemonSet**: `currentNumberScheduled`, `desiredNumberScheduled`, `numberReady`,
 *   `numberAvailable`, `updatedNumberScheduled`, `numberMisscheduled`, `numberUnavailable`
 *   summed.
 * - For those three, `observedGeneration` is the template's `metadata.generation` only when
 *   `opts.current` says every target cluster runs the current rendering; otherwise the prior
 *   value is kept (so `kubectl rollout status` against the hub waits for the members).
 * - **batch/v1 Job**: `active`, `succeeded`, `failed`, `ready` summed; `startTime` is the
 *   earliest, `completionTime` the latest and only once every cluster's Job is complete.
 *   `Complete=True` (with `SuccessCriteriaMet=True`, as the API server requires) when every
 *   target cluster's Job completed. When any failed, `FailureTarget=True` naming them, and
 *   `Failed=True` once no cluster has active pods (a finished Job may have none). Neither
 *   while the Jobs run.
 * - **v1 Service**: `loadBalancer.ingress` is the union of every cluster's ingress points,
 *   deduplicated, in cluster order.
 * - Any other kind: `undefined`. Its per-cluster status and health live in the binding's
 *   `status.aggregatedStatus` only.
 *
 * Caveat: with no target clusters the counters are all 0 and there are no conditions.
 */
import { canonicalJson } from '../../kube/canonical-json.ts';
import type { Health } from '../../api/resource-binding.ts';
import type { KubeObject } from '../../kube/wire.ts';

/** What one target cluster reports about its copy of the template. */
export interface ClusterStatus {
  readonly clusterName: string;
  /** The member object's `.status`, as the execution controller reported it. */
  readonly status: Readonly<Record<string, unknown>> | undefined;
  readonly health: Health | undefined;
  readonly applied: boolean;
}

export interface AggregateOptions {
  /**
   * Every target cluster has applied the current rendering of the template and its member
   * controller has observed it; only then is `observedGeneration` advanced.
   */
  readonly current: boolean;
  /** Time for newly transitioned conditions. */
  readonly now?: Date;
}

export type Status = Record<string, unknown>;

type Template = KubeObject & { readonly status?: Readonly<Record<string, unknown>> };

interface KubeCondition {
  readonly type: string;
  readonly status: 'True' | 'False' | 'Unknown';
  readonly reason?: string;
  readonly message?: string;
  readonly lastTransitionTime?: string;
  readonly lastUpdateTime?: string;
  readonly lastProbeTime?: string;
}

/** The kinds `aggregateStatus` writes a status for, by `group/Kind` (core group: empty). */
export const AggregatedKinds = {
  Deployment: { group: 'apps', version: 'v1', resource: 'deployments', kind: 'Deployment' },
  StatefulSet: { group: 'apps', version: 'v1', resource: 'statefulsets', kind: 'StatefulSet' },
  DaemonSet: { group: 'apps', version: 'v1', resource: 'daemonsets', kind: 'DaemonSet' },
  Job: { group: 'batch', version: 'v1', resource: 'jobs', kind: 'Job' },
  Service: { group: '', version: 'v1', resource: 'services', kind: 'Service' },
} as const;

const groupOf = (apiVersion: string): string =>
  apiVersion.includes('/') ? (apiVersion.split('/')[0] ?? '') : '';

/** Whether `aggregateStatus` has semantics for this kind (any version of its group). */
export function isAggregated(apiVersion: string, kind: string): boolean {
  const group = groupOf(apiVersion);
  return Object.values(AggregatedKinds).some((k) => k.kind === kind && k.group === group);
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

function sum(items: readonly ClusterStatus[], fields: readonly string[]): Status {
  const out: Status = {};
  for (const f of fields) out[f] = items.reduce((n, i) => n + num(i.status?.[f]), 0);
  return out;
}

function conditionsOf(status: Readonly<Record<string, unknown>> | undefined): readonly KubeCondition[] {
  const c = status?.['conditions'];
  return Array.isArray(c) ? (c as KubeCondition[]) : [];
}

function conditionStatus(item: ClusterStatus, type: string): KubeCondition['status'] | undefined {
  return conditionsOf(item.status).find((c) => c.type === type)?.status;
}

const rfc3339 = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * A condition with timestamps carried over from the template's prior status: the transition
 * time moves only when `status` changes, the update time only when anything else does. This
 * keeps the output stable, so an unchanged input never causes a write.
 */
function condition(
  prior: Readonly<Record<string, unknown>> | undefined,
  c: { type: string; status: KubeCondition['status']; reason: string; message: string },
  now: Date,
  stamps: readonly ('lastTransitionTime' | 'lastUpdateTime' | 'lastProbeTime')[],
): KubeCondition {
  const old = conditionsOf(prior).find((x) => x.type === c.type);
  const t = rfc3339(now);
  const out: Record<string, string> = { ...c };
  const same = old !== undefined && old.status === c.status;
  const unchanged = same && old.reason === c.reason && old.message === c.message;
  for (const s of stamps) {
    const keep = s === 'lastTransitionTime' ? same : unchanged;
    out[s] = keep ? (old?.[s] ?? t) : t;
  }
  return out as unknown as KubeCondition;
}

const names = (items: readonly ClusterStatus[]): string => items.map((i) => i.clusterName).join(', ');

function observedGeneration(template: Template, opts: AggregateOptions): Status {
  if (opts.current && template.metadata?.generation !== undefined) {
    return { observedGeneration: template.metadata.generation };
  }
  const prior = template.status?.['observedGeneration'];
  return typeof prior === 'number' ? { observedGeneration: prior } : {};
}

function deployment(template: Template, items: readonly ClusterStatus[], opts: AggregateOptions): Status {
  const now = opts.now ?? new Date();
  const stamps = ['lastUpdateTime', 'lastTransitionTime'] as const;
  const out: Status = {
    ...observedGeneration(template, opts),
    ...sum(items, [
      'replicas',
      'updatedReplicas',
      'readyReplicas',
      'availableReplicas',
      'unavailableReplicas',
    ]),
  };
  if (items.length === 0) return out;

  const unavailable = items.filter((i) => conditionStatus(i, 'Available') === 'False');
  const unknownAvail = items.filter((i) => conditionStatus(i, 'Available') !== 'True');
  const available =
    unavailable.length > 0
      ? {
          status: 'False' as const,
          reason: 'MinimumReplicasUnavailable',
          message: `Deployment does not have minimum availability in: ${names(unavailable)}`,
        }
      : unknownAvail.length > 0
        ? {
            status: 'Unknown' as const,
            reason: 'StatusUnknown',
            message: `no availability reported yet by: ${names(unknownAvail)}`,
          }
        : {
            status: 'True' as const,
            reason: 'MinimumReplicasAvailable',
            message: `Deployment has minimum availability in all ${items.length} cluster(s).`,
          };

  const stuck = items.filter((i) => conditionStatus(i, 'Progressing') === 'False');
  const unknownProg = items.filter((i) => conditionStatus(i, 'Progressing') !== 'True');
  const allDone = items.every((i) =>
    conditionsOf(i.status).some((c) => c.type === 'Progressing' && c.reason === 'NewReplicaSetAvailable'),
  );
  const progressing =
    stuck.length > 0
      ? {
          status: 'False' as const,
          reason: 'ProgressDeadlineExceeded',
          message: `Deployment is not progressing in: ${names(stuck)}`,
        }
      : unknownProg.length > 0
        ? {
            status: 'Unknown' as const,
            reason: 'StatusUnknown',
            message: `no progress reported yet by: ${names(unknownProg)}`,
          }
        : allDone
          ? {
              status: 'True' as const,
              reason: 'NewReplicaSetAvailable',
              message: `rollout complete in all ${items.length} cluster(s).`,
            }
          : {
              status: 'True' as const,
              reason: 'ReplicaSetUpdated',
              message: `rolling out in: ${names(items.filter((i) => !conditionsOf(i.status).some((c) => c.type === 'Progressing' && c.reason === 'NewReplicaSetAvailable')))}`,
            };

  out['conditions'] = [
    condition(template.status, { type: 'Available', ...available }, now, stamps),
    condition(template.status, { type: 'Progressing', ...progressing }, now, stamps),
  ];
  return out;
}

function statefulSet(template: Template, items: readonly ClusterStatus[], opts: AggregateOptions): Status {
  return {
    ...observedGeneration(template, opts),
    ...sum(items, ['replicas', 'readyReplicas', 'currentReplicas', 'updatedReplicas', 'availableReplicas']),
  };
}

function daemonSet(template: Template, items: readonly ClusterStatus[], opts: AggregateOptions): Status {
  return {
    ...observedGeneration(template, opts),
    ...sum(items, [
      'currentNumberScheduled',
      'desiredNumberScheduled',
      'numberReady',
      'numberAvailable',
      'updatedNumberScheduled',
      'numberMisscheduled',
      'numberUnavailable',
    ]),
  };
}

function time(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

function job(template: Template, items: readonly ClusterStatus[], opts: AggregateOptions): Status {
  const now = opts.now ?? new Date();
  const stamps = ['lastProbeTime', 'lastTransitionTime'] as const;
  const out: Status = sum(items, ['active', 'succeeded', 'failed', 'ready']);
  const starts = items.map((i) => time(i.status?.['startTime'])).filter((t) => t !== undefined);
  if (starts.length > 0) out['startTime'] = rfc3339(new Date(Math.min(...starts)));

  const failed = items.filter((i) => conditionStatus(i, 'Failed') === 'True');
  const complete = items.length > 0 && items.every((i) => conditionStatus(i, 'Complete') === 'True');
  if (failed.length > 0) {
    const message = `Job failed in: ${names(failed)}`;
    const conditions = [
      condition(
        template.status,
        { type: 'FailureTarget', status: 'True', reason: 'JobFailed', message },
        now,
        stamps,
      ),
    ];
    // A finished Job has no active pods (the API server rejects one that has): while other
    // clusters still run theirs, the failure is only announced as FailureTarget.
    if (out['active'] === 0) {
      conditions.push(
        condition(
          template.status,
          { type: 'Failed', status: 'True', reason: 'JobFailed', message },
          now,
          stamps,
        ),
      );
    }
    out['conditions'] = conditions;
  } else if (complete) {
    const ends = items.map((i) => time(i.status?.['completionTime'])).filter((t) => t !== undefined);
    // The API server requires completionTime (not before startTime) on a complete Job.
    const end = ends.length > 0 ? Math.max(...ends) : now.getTime();
    out['completionTime'] = rfc3339(new Date(Math.max(end, ...starts)));
    if (out['startTime'] === undefined) out['startTime'] = out['completionTime'];
    const message = `Job completed in all ${items.length} cluster(s)`;
    out['conditions'] = [
      condition(
        template.status,
        { type: 'SuccessCriteriaMet', status: 'True', reason: 'CompletionsReached', message },
        now,
        stamps,
      ),
      condition(
        template.status,
        { type: 'Complete', status: 'True', reason: 'CompletionsReached', message },
        now,
        stamps,
      ),
    ];
  }
  return out;
}

function service(items: readonly ClusterStatus[]): Status {
  const seen = new Set<string>();
  const ingress: unknown[] = [];
  for (const i of items) {
    const lb = i.status?.['loadBalancer'] as { ingress?: unknown } | undefined;
    if (!Array.isArray(lb?.ingress)) continue;
    for (const point of lb.ingress) {
      const id = canonicalJson(point);
      if (seen.has(id)) continue;
      seen.add(id);
      ingress.push(point);
    }
  }
  return { loadBalancer: ingress.length > 0 ? { ingress } : {} };
}

/**
 * The template's aggregated status, or `undefined` when Meridian has no aggregation for its
 * kind. `items` are the target clusters in placement order. See the module doc for semantics.
 */
export function aggregateStatus(
  template: KubeObject,
  items: readonly ClusterStatus[],
  opts: AggregateOptions,
): Status | undefined {
  const t = template as Template;
  const group = groupOf(template.apiVersion ?? '');
  const reporting = items.filter((i) => i.status !== undefined);
  switch (`${group}/${template.kind ?? ''}`) {
    case 'apps/Deployment':
      return deployment(t, items, opts);
    case 'apps/StatefulSet':
      return statefulSet(t, reporting, opts);
    case 'apps/DaemonSet':
      return daemonSet(t, reporting, opts);
    case 'batch/Job':
      return job(t, items, opts);
    case '/Service':
      return service(reporting);
    default:
      return undefined;
  }
}
