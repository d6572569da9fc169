/**
 * `interpretHealth`: what a member object's own status says about it, as one word.
 *
 * - `Healthy`: it does what its spec asks (rolled out and available, bound, completed…).
 * - `Unhealthy`: it exists but does not (yet) — rolling out, failed, pending.
 * - `Unknown`: nothing to judge by (no object, status not reported for its current spec, a
 *   declared condition/field absent).
 *
 * Pure: the same object and rule always give the same answer. A declared {@link HealthRule}
 * wins over the built-in interpretation, so a CRD (or a built-in kind) can be judged by its
 * own terms; see `rule.ts` for the syntax.
 */
import type { Health } from '../../api/index.ts';
import type { KubeObject } from '../../kube/wire.ts';
import type { FieldClause, FieldOperand, HealthRule, PathSegment } from './rule.ts';

export type { Health };

interface Condition {
  readonly type?: string;
  readonly status?: string;
  readonly reason?: string;
}

/** The loosely typed view of an object this module reads: `status` and `spec` as plain JSON. */
type Loose = KubeObject & {
  readonly spec?: Record<string, unknown>;
  readonly status?: Record<string, unknown>;
};

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

function conditions(obj: Loose): readonly Condition[] {
  const c = obj.status?.['conditions'];
  return Array.isArray(c) ? (c as Condition[]) : [];
}

function conditionStatus(obj: Loose, type: string): 'True' | 'False' | 'Unknown' | undefined {
  const c = conditions(obj).find((x) => x.type === type);
  if (c === undefined) return undefined;
  return c.status === 'True' || c.status === 'False' ? c.status : 'Unknown';
}

/** The status describes an older spec than the current one. */
function statusIsStale(obj: Loose): boolean {
  const generation = obj.metadata?.generation;
  const observed = num(obj.status?.['observedGeneration']);
  return generation !== undefined && observed !== undefined && observed < generation;
}

function desiredReplicas(obj: Loose): number {
  return num(obj.spec?.['replicas']) ?? 1;
}

const verdict = (ok: boolean): Health => (ok ? 'Healthy' : 'Unhealthy');

function deployment(obj: Loose): Health {
  if (obj.status === undefined) return 'Unknown';
  const progressing = conditions(obj).find((c) => c.type === 'Progressing');
  if (progressing?.status === 'False' && progressing.reason === 'ProgressDeadlineExceeded')
    return 'Unhealthy';
  if (statusIsStale(obj) || num(obj.status['observedGeneration']) === undefined) return 'Unhealthy';
  const want = desiredReplicas(obj);
  const s = obj.status;
  return verdict(
    (num(s['updatedReplicas']) ?? 0) >= want &&
      (num(s['availableReplicas']) ?? 0) >= want &&
      // Old replicas still running means the rollout has not finished.
      (num(s['replicas']) ?? 0) <= (num(s['updatedReplicas']) ?? 0),
  );
}

function statefulSet(obj: Loose): Health {
  if (obj.status === undefined) return 'Unknown';
  if (statusIsStale(obj) || num(obj.status['observedGeneration']) === undefined) return 'Unhealthy';
  const want = desiredReplicas(obj);
  const s = obj.status;
  const strategy = obj.spec?.['updateStrategy'] as
    { type?: string; rollingUpdate?: { partition?: number } } | undefined;
  // Pods below the partition keep the old revision on purpose; only the rest must be updated.
  const partition = strategy?.type === 'OnDelete' ? want : (num(strategy?.rollingUpdate?.partition) ?? 0);
  const updatedWanted = Math.max(0, want - partition);
  return verdict(
    (num(s['readyReplicas']) ?? 0) >= want &&
      (num(s['availableReplicas']) ?? num(s['readyReplicas']) ?? 0) >= want &&
      (num(s['updatedReplicas']) ?? 0) >= updatedWanted,
  );
}

function daemonSet(obj: Loose): Health {
  if (obj.status === undefined) return 'Unknown';
  if (statusIsStale(obj) || num(obj.status['observedGeneration']) === undefined) return 'Unhealthy';
  const s = obj.status;
  const desired = num(s['desiredNumberScheduled']) ?? 0;
  return verdict(
    (num(s['updatedNumberScheduled']) ?? 0) >= desired && (num(s['numberAvailable']) ?? 0) >= desired,
  );
}

function replicaSet(obj: Loose): Health {
  if (obj.status === undefined) return 'Unknown';
  if (statusIsStale(obj)) return 'Unhealthy';
  return verdict((num(obj.status['availableReplicas']) ?? 0) >= desiredReplicas(obj));
}

function job(obj: Loose): Health {
  // A running Job is doing what it was asked; only a failed one is unhealthy.
  if (conditionStatus(obj, 'Failed') === 'True' || conditionStatus(obj, 'FailureTarget') === 'True') {
    return 'Unhealthy';
  }
  return 'Healthy';
}

function pod(obj: Loose): Health {
  const phase = obj.status?.['phase'];
  if (phase === 'Succeeded') return 'Healthy';
  if (phase === 'Failed') return 'Unhealthy';
  const ready = conditionStatus(obj, 'Ready');
  if (ready === 'True') return 'Healthy';
  if (ready === undefined && phase === undefined) return 'Unknown';
  return 'Unhealthy';
}

function pvc(obj: Loose): Health {
  const phase = obj.status?.['phase'];
  if (phase === undefined) return 'Unknown';
  return verdict(phase === 'Bound');
}

function service(obj: Loose): Health {
  if (obj.spec?.['type'] !== 'LoadBalancer') return 'Healthy';
  const ingress = (obj.status?.['loadBalancer'] as { ingress?: unknown[] } | undefined)?.ingress;
  return verdict(Array.isArray(ingress) && ingress.length > 0);
}

/** Any other kind: its Ready (else Available) condition if it reports one; else existing is enough. */
function generic(obj: Loose): Health {
  for (const type of ['Ready', 'Available']) {
    const s = conditionStatus(obj, type);
    if (s === undefined) continue;
    if (statusIsStale(obj)) return 'Unknown';
    return s === 'True' ? 'Healthy' : s === 'False' ? 'Unhealthy' : 'Unknown';
  }
  return 'Healthy';
}

const builtins: Readonly<Record<string, (obj: Loose) => Health>> = {
  'apps/Deployment': deployment,
  'apps/StatefulSet': statefulSet,
  'apps/DaemonSet': daemonSet,
  'apps/ReplicaSet': replicaSet,
  'batch/Job': job,
  '/Pod': pod,
  '/PersistentVolumeClaim': pvc,
  '/Service': service,
};

function groupOf(apiVersion: string | undefined): string {
  return apiVersion?.includes('/') ? (apiVersion.split('/')[0] as string) : '';
}

/** The value at `path`, or `undefined` when any step is missing. */
export function valueAt(obj: unknown, path: readonly PathSegment[]): unknown {
  let cur: unknown = obj;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur =
      typeof seg === 'number'
        ? Array.isArray(cur)
          ? cur[seg]
          : undefined
        : (cur as Record<string, unknown>)[seg];
  }
  return cur;
}

function scalar(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null) return 'null';
  return undefined;
}

function operand(obj: unknown, o: FieldOperand): string | undefined {
  return o.type === 'literal' ? o.value : scalar(valueAt(obj, o.path));
}

function clauseHealth(obj: unknown, c: FieldClause): Health {
  const left = scalar(valueAt(obj, c.path));
  const right = operand(obj, c.right);
  if (left === undefined || right === undefined) return 'Unknown';
  return verdict((left === right) === (c.op === '='));
}

/** Unhealthy beats Unknown beats Healthy. */
function worst(a: Health, b: Health): Health {
  if (a === 'Unhealthy' || b === 'Unhealthy') return 'Unhealthy';
  if (a === 'Unknown' || b === 'Unknown') return 'Unknown';
  return 'Healthy';
}

function byRule(obj: Loose, rule: HealthRule): Health {
  let h: Health = 'Healthy';
  if (rule.condition !== undefined) {
    const s = conditionStatus(obj, rule.condition);
    h = worst(h, s === 'True' ? 'Healthy' : s === 'False' ? 'Unhealthy' : 'Unknown');
  }
  for (const c of rule.fields ?? []) h = worst(h, clauseHealth(obj, c));
  return h;
}

/**
 * The health of `obj` (a member object as read from its API server; `undefined` when it does
 * not exist ⇒ `Unknown`). `rule`, when given, replaces the built-in interpretation.
 */
export function interpretHealth(obj: KubeObject | undefined, rule?: HealthRule): Health {
  if (obj === undefined) return 'Unknown';
  const o = obj as Loose;
  if (rule !== undefined && (rule.condition !== undefined || (rule.fields?.length ?? 0) > 0))
    return byRule(o, rule);
  const fn = builtins[`${groupOf(obj.apiVersion)}/${obj.kind ?? ''}`];
  return (fn ?? generic)(o);
}
