/**
 * The status reconciler: for one binding, reads its Works from the store and writes
 *
 * 1. the binding's `status.aggregatedStatus` (one item per target cluster, in `spec.clusters`
 *    order) and its `FullyApplied` condition, with field manager `meridian-status` — only
 *    those fields, so the scheduler's fields (written by `meridian-scheduler`) survive;
 * 2. the hub template's `.status`, for the kinds `aggregateStatus` knows.
 *
 * Each write happens only when its content changed, so the watch events of our own writes
 * end in a no-op reconcile rather than a loop.
 */
import { API_VERSION, clusterFromNamespace, ConditionTypes, Kinds, Labels } from '../../api/constants.ts';
import type { AggregatedStatusItem, ResourceBinding } from '../../api/resource-binding.ts';
import type { ManifestStatus, Work } from '../../api/work.ts';
import type { ApiClient } from '../../kube/api-client.ts';
import { canonicalJson } from '../../kube/canonical-json.ts';
import type { Reconciler } from '../../kube/controller.ts';
import { NotFoundError } from '../../kube/errors.ts';
import type { InformerFactory } from '../../kube/informer-factory.ts';
import { objectKey, type ObjectKey } from '../../kube/object-key.ts';
import type { StoreReader } from '../../kube/store.ts';
import type { KubeObject } from '../../kube/wire.ts';
import { findCondition, setCondition, type ConditionInput } from '../conditions.ts';
import { HubFieldManagers, Resources } from '../resources.ts';
import { aggregateStatus, isAggregated, type ClusterStatus } from './aggregate.ts';
import type { WorkIndex } from './indexes.ts';

/**
 * On a Work (optional): the template `metadata.generation` its manifest was rendered from.
 * When present, a template's `observedGeneration` advances only once every Work carries the
 * template's current generation; without it Meridian cannot tell a not-yet-re-rendered Work
 * from a current one (see docs/propagation.md, Status and health).
 */
export const TEMPLATE_GENERATION_ANNOTATION = 'meridian.dev/template-generation';

/** One target cluster's report, plus whether it runs the latest rendering. */
export interface ClusterReport {
  readonly item: AggregatedStatusItem;
  /** Applied from the Work's latest generation, and the member's controller has observed it. */
  readonly current: boolean;
  /** The Work's {@link TEMPLATE_GENERATION_ANNOTATION}, when set. */
  readonly templateGeneration: number | undefined;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** The manifest status of the template itself (ordinal 0; dependencies have their own bindings). */
function manifestStatus(work: Work): ManifestStatus | undefined {
  const all = work.status?.manifestStatuses ?? [];
  return all.find((m) => m.identifier.ordinal === 0) ?? all[0];
}

/** What one cluster's Work says; `work` undefined means the binding controller has not made it yet. */
export function clusterReport(clusterName: string, work: Work | undefined): ClusterReport {
  if (work === undefined) {
    return {
      item: {
        clusterName,
        applied: false,
        appliedMessage: 'no Work for this cluster yet',
        health: 'Unknown',
      },
      current: false,
      templateGeneration: undefined,
    };
  }
  const ms = manifestStatus(work);
  const cond = findCondition(work.status?.conditions, ConditionTypes.Applied);
  const generation = work.metadata.generation;
  const stale =
    generation !== undefined && ms?.observedGeneration !== undefined && ms.observedGeneration < generation;
  let why: string | undefined;
  if (work.metadata.deletionTimestamp !== undefined) why = 'its Work is being deleted';
  else if (cond === undefined) why = ms?.message ?? 'not applied yet (no Applied condition on its Work)';
  else if (cond.status !== 'True') why = ms?.message || `${cond.reason}: ${cond.message}`;
  else if (ms?.applied === false) why = ms.message ?? 'manifest not applied';
  else if (stale)
    why = `applying the Work's generation ${generation} (last applied ${ms?.observedGeneration})`;
  const applied = why === undefined;
  const memberObserved = num(ms?.status?.['observedGeneration']);
  const caughtUp =
    ms?.appliedGeneration === undefined ||
    memberObserved === undefined ||
    memberObserved >= ms.appliedGeneration;
  const annotated = Number(work.metadata.annotations?.[TEMPLATE_GENERATION_ANNOTATION]);
  return {
    item: {
      clusterName,
      applied,
      ...(why !== undefined && { appliedMessage: why.slice(0, 1024) }),
      health: ms?.health ?? 'Unknown',
      ...(ms?.status !== undefined && { status: ms.status }),
    },
    current: applied && caughtUp,
    templateGeneration: Number.isInteger(annotated) && annotated > 0 ? annotated : undefined,
  };
}

/** The binding's `FullyApplied` condition for these reports. */
export function fullyApplied(
  reports: readonly ClusterReport[],
  generation: number | undefined,
): ConditionInput {
  const gen = generation === undefined ? {} : { observedGeneration: generation };
  if (reports.length === 0) {
    return {
      type: ConditionTypes.FullyApplied,
      status: 'False',
      reason: 'NoTargetClusters',
      message: 'the binding has no target clusters (not scheduled yet)',
      ...gen,
    };
  }
  const missing = reports.filter((r) => r.item.applied !== true);
  if (missing.length === 0) {
    return {
      type: ConditionTypes.FullyApplied,
      status: 'True',
      reason: 'FullyApplied',
      message: `applied to all ${reports.length} target cluster(s)`,
      ...gen,
    };
  }
  const detail = missing
    .map((r) => `${r.item.clusterName}: ${r.item.appliedMessage ?? 'not applied'}`)
    .join('; ');
  return {
    type: ConditionTypes.FullyApplied,
    status: 'False',
    reason: 'NotFullyApplied',
    message: `not applied to ${missing.length} of ${reports.length} cluster(s): ${detail}`,
    ...gen,
  };
}

/** Drops zero numbers, empty strings/objects/arrays: the API server omits them (`omitempty`). */
function prune(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(prune);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const p = prune(x);
      if (p === undefined || p === 0 || p === '') continue;
      if (Array.isArray(p) && p.length === 0) continue;
      if (p !== null && typeof p === 'object' && Object.keys(p).length === 0) continue;
      out[k] = p;
    }
    return out;
  }
  return v;
}

/** Equal as stored: key order, and zero versus absent, do not count as a change. */
export function sameStatus(a: unknown, b: unknown): boolean {
  return canonicalJson(prune(a ?? {})) === canonicalJson(prune(b ?? {}));
}

export interface StatusReconcilerDeps {
  readonly hub: ApiClient;
  readonly informers: InformerFactory;
  readonly bindings: StoreReader<ResourceBinding>;
  readonly works: WorkIndex;
  readonly scope: 'Namespaced' | 'Cluster';
  readonly now?: () => Date;
}

type Template = KubeObject & { readonly status?: Record<string, unknown> };

export function makeStatusReconciler(deps: StatusReconcilerDeps): Reconciler {
  const rt = deps.scope === 'Namespaced' ? Resources.ResourceBinding : Resources.ClusterResourceBinding;
  const kind = deps.scope === 'Namespaced' ? Kinds.ResourceBinding : Kinds.ClusterResourceBinding;
  const now = deps.now ?? (() => new Date());
  return {
    name: `status/${rt.resource}`,
    async reconcile(key: ObjectKey, { signal }) {
      const b = deps.bindings.get(key);
      if (b === undefined || b.metadata.deletionTimestamp !== undefined) return {};

      const byCluster = new Map<string, Work>();
      for (const w of deps.works.worksOf(b)) {
        const cluster =
          w.metadata.labels?.[Labels.cluster] ?? clusterFromNamespace(w.metadata.namespace ?? '');
        if (cluster === undefined) continue;
        // A live Work wins over one being deleted (e.g. after a quick remove/re-add).
        const prior = byCluster.get(cluster);
        if (prior === undefined || prior.metadata.deletionTimestamp !== undefined) byCluster.set(cluster, w);
      }
      const reports = (b.spec.clusters ?? []).map((t) => clusterReport(t.name, byCluster.get(t.name)));

      // 1. The binding: only our fields, only when changed.
      const aggregated = reports.map((r) => r.item);
      const priorCondition = findCondition(b.status?.conditions, ConditionTypes.FullyApplied);
      const condition = setCondition(
        priorCondition === undefined ? [] : [priorCondition],
        fullyApplied(reports, b.metadata.generation),
        now(),
      )[0];
      if (!sameStatus(aggregated, b.status?.aggregatedStatus) || !sameStatus(condition, priorCondition)) {
        await deps.hub.applyStatus(
          rt,
          {
            apiVersion: API_VERSION,
            kind,
            metadata: {
              name: b.metadata.name,
              ...(b.metadata.namespace && { namespace: b.metadata.namespace }),
            },
            status: { aggregatedStatus: aggregated, conditions: [condition] },
          } as KubeObject,
          { fieldManager: HubFieldManagers.status, force: true, signal },
        );
      }

      // 2. The template, for the kinds with aggregation semantics.
      const ref = b.spec.resource;
      if (ref === undefined || !isAggregated(ref.apiVersion, ref.kind)) return {};
      let templateType;
      try {
        templateType = await deps.hub.resolve(ref.apiVersion, ref.kind, signal);
      } catch (err) {
        if (err instanceof NotFoundError) return {}; // the hub does not serve this version
        throw err;
      }
      const templates = deps.informers.informer<Template>(templateType);
      if (!templates.isReady()) await untilReady(templates, signal);
      const template = templates.get(objectKey(ref.namespace, ref.name));
      if (template === undefined || template.metadata?.deletionTimestamp !== undefined) return {};
      // A template recreated under the same name is a different object: wait for its binding.
      if (ref.uid !== undefined && template.metadata?.uid !== ref.uid) return {};
      const generation = template.metadata?.generation;
      const current =
        reports.length > 0 &&
        reports.every(
          (r) => r.current && (r.templateGeneration === undefined || r.templateGeneration === generation),
        );
      const items: ClusterStatus[] = reports.map((r) => ({
        clusterName: r.item.clusterName,
        status: r.item.status,
        health: r.item.health,
        applied: r.item.applied === true,
      }));
      // Objects from a list carry no apiVersion/kind: take them from the binding.
      const status = aggregateStatus({ ...template, apiVersion: ref.apiVersion, kind: ref.kind }, items, {
        current,
        now: now(),
      });
      if (status === undefined || sameStatus(status, template.status)) return {};
      await deps.hub.applyStatus(
        templateType,
        {
          apiVersion: ref.apiVersion,
          kind: ref.kind,
          // The uid makes the write fail rather than land on a recreated object.
          metadata: {
            name: ref.name,
            ...(ref.namespace && { namespace: ref.namespace }),
            ...(template.metadata?.uid && { uid: template.metadata.uid }),
          },
          status,
        } as KubeObject,
        { fieldManager: HubFieldManagers.status, force: true, signal },
      );
      return {};
    },
  };
}

/** Waits for a store's first list, or rejects when `signal` aborts (without leaking a listener). */
async function untilReady(store: StoreReader<unknown>, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  let onAbort = (): void => {};
  try {
    await Promise.race([
      store.ready,
      new Promise<never>((_, reject) => {
        onAbort = () => reject(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
