/**
 * The application-failover controller: for each binding whose policy sets
 * `failover.application`, watches its Works' `Available` condition and, when the workload
 * stays unhealthy in one cluster for longer than `tolerationSeconds`, records the verdict in
 * the binding's `spec.evictedClusters` (see `decide.ts`). The scheduler does the moving: it
 * filters evicted clusters out and evicts the binding from them per
 * `failover.application.purgeMode` (a graceful eviction task, or none for `Immediately`).
 *
 * Event-driven: a binding is reconciled when it, one of its Works, or a Cluster changes, and
 * once more at the toleration deadline (a delayed requeue on the rate-limited work queue), never
 * by polling. Each decision is an Event on the binding, a `meridian_failover_decisions_total`
 * increment and the binding's `ApplicationFailover` condition.
 */
import {
  API_VERSION,
  Labels,
  clusterNamespace,
  type Cluster,
  type ClusterEviction,
  type ResourceBinding,
  type Work,
} from '../../api/index.ts';
import { defineController, type Reconciler } from '../../kube/controller.ts';
import { NotFoundError } from '../../kube/errors.ts';
import { objectKey, parseObjectKey, type ObjectKey } from '../../kube/object-key.ts';
import type { StoreReader } from '../../kube/store.ts';
import type { KubeObject } from '../../kube/wire.ts';
import { workName } from '../binding/render.ts';
import { changeDetector } from '../change-detector.ts';
import { findCondition, setCondition } from '../conditions.ts';
import type { ControllerContext, StartController } from '../context.ts';
import { Resources } from '../resources.ts';
import { decide, type Decision, type LiftReason } from './decide.ts';
import { failoverDecisions, type FailoverDecisions } from './metrics.ts';

/** Field manager of `spec.evictedClusters` and the `ApplicationFailover` condition. */
export const FAILOVER_FIELD_MANAGER = 'meridian-failover';

/** Binding condition: what application failover did or is waiting for. */
export const APPLICATION_FAILOVER_CONDITION = 'ApplicationFailover';

/** Past a deadline by this much, so the pass that runs then finds it due (second-precision stamps). */
const DEADLINE_SLACK_MS = 1_000;

const liftNotes: Record<LiftReason, string> = {
  ClusterGone: 'the cluster is gone',
  FailoverDisabled: 'the policy no longer sets failover.application',
  TemplateChanged: "the resource template's spec changed since",
};

/** The binding's `ApplicationFailover` condition for `d` (undefined: nothing to say). */
function conditionFor(d: Decision) {
  const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
  if (d.evicted.length > 0) {
    return {
      type: APPLICATION_FAILOVER_CONDITION,
      status: 'True' as const,
      reason: 'Evicted',
      message: d.evicted
        .map((e) => `moved off ${e.name} at ${e.evictionTime}: ${e.message ?? e.reason}`)
        .join('; '),
    };
  }
  if (d.held.length > 0) {
    return {
      type: APPLICATION_FAILOVER_CONDITION,
      status: 'False' as const,
      reason: 'UnhealthyEverywhere',
      message: `not moved: ${d.held.map((h) => h.cluster).join(', ')} unhealthy past tolerationSeconds, and no target cluster runs it healthily`,
    };
  }
  if (d.tolerated.length > 0) {
    return {
      type: APPLICATION_FAILOVER_CONDITION,
      status: 'False' as const,
      reason: 'Tolerating',
      message: d.tolerated
        .map(
          (t) =>
            `unhealthy in ${t.cluster} since ${iso(t.sinceMs)}; moved at ${iso(t.deadlineMs)} if still unhealthy`,
        )
        .join('; '),
    };
  }
  return {
    type: APPLICATION_FAILOVER_CONDITION,
    status: 'False' as const,
    reason: 'Healthy',
    message: 'no target cluster has been unhealthy past tolerationSeconds',
  };
}

function makeReconciler(
  ctx: ControllerContext,
  bindings: StoreReader<ResourceBinding>,
  clusters: StoreReader<Cluster>,
  works: StoreReader<Work>,
  scope: 'Namespaced' | 'Cluster',
  decisions: FailoverDecisions,
): Reconciler {
  const rt = scope === 'Namespaced' ? Resources.ResourceBinding : Resources.ClusterResourceBinding;
  // What this controller last wrote, per binding, until the store shows a newer binding: a reconcile
  // that runs before the watch delivers our own write must not decide the same eviction twice.
  // Bounded by the bindings in flight (an entry goes once the store catches up or the binding goes).
  const written = new Map<
    ObjectKey,
    { readonly staleVersion: string | undefined; readonly evicted: ClusterEviction[] }
  >();

  /** The template's generation, from a shared informer of its type (undefined: unknown). */
  const templateGeneration = async (b: ResourceBinding): Promise<number | undefined> => {
    const r = b.spec.resource;
    try {
      const type = await ctx.hub.resolve(r.apiVersion, r.kind, ctx.signal);
      const store = ctx.informers.informer(type);
      await store.ready;
      return store.get(objectKey(r.namespace, r.name))?.metadata?.generation;
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  };

  return {
    name: `failover/${rt.resource}`,
    async reconcile(key: ObjectKey) {
      const b = bindings.get(key);
      if (b === undefined || b.metadata.deletionTimestamp !== undefined) {
        written.delete(key);
        return {};
      }
      const application = b.spec.failover?.application;
      const mine = written.get(key);
      if (mine !== undefined && mine.staleVersion !== b.metadata.resourceVersion) written.delete(key);
      const caughtUp = mine === undefined || mine.staleVersion !== b.metadata.resourceVersion;
      const before = caughtUp ? (b.spec.evictedClusters ?? []) : mine.evicted;
      const hadCondition = findCondition(b.status?.conditions, APPLICATION_FAILOVER_CONDITION);
      if (application === undefined && before.length === 0 && hadCondition === undefined) return {};

      const nowMs = Date.now();
      const targets = b.spec.clusters ?? [];
      const byCluster = new Map<string, Work>();
      for (const t of targets) {
        const w = works.get(objectKey(clusterNamespace(t.name), workName(b)));
        if (w !== undefined) byCluster.set(t.name, w);
      }
      const d = decide({
        targets,
        evicted: before,
        application,
        works: byCluster,
        clusters: new Map(
          clusters
            .list()
            .filter((c) => c.metadata.deletionTimestamp === undefined)
            .map((c) => [c.metadata.name ?? '', c]),
        ),
        templateGeneration: application === undefined ? undefined : await templateGeneration(b),
        nowMs,
      });

      const { namespace, name } = parseObjectKey(key);
      const ref = {
        apiVersion: API_VERSION,
        kind: b.kind,
        metadata: { name, ...(namespace && { namespace }) },
      };
      if (d.added.length > 0 || d.lifted.length > 0) {
        const evictedClusters: ClusterEviction[] = d.evicted;
        await ctx.hub.apply(rt, { ...ref, spec: { evictedClusters } } as KubeObject, {
          fieldManager: FAILOVER_FIELD_MANAGER,
          force: true,
        });
        written.set(key, { staleVersion: b.metadata.resourceVersion, evicted: evictedClusters });
        const purge = application?.purgeMode ?? 'Graciously';
        for (const e of d.added) {
          decisions.inc({ kind: 'application', reason: 'ApplicationUnhealthy', cluster: e.name });
          ctx.recorder.event(
            b as KubeObject,
            'Warning',
            'ApplicationFailover',
            `moving the workload off ${e.name}: ${e.message ?? e.reason}; its copy there: ${
              purge === 'Immediately'
                ? 'removed now (purgeMode Immediately)'
                : purge === 'Never'
                  ? 'kept (purgeMode Never)'
                  : 'removed once the replacement is healthy (purgeMode Graciously)'
            }`,
          );
        }
        for (const { eviction, why } of d.lifted) {
          decisions.inc({ kind: 'application', reason: `EvictionLifted${why}`, cluster: eviction.name });
          ctx.recorder.event(
            b as KubeObject,
            'Normal',
            'EvictionLifted',
            `${eviction.name} may host the workload again: ${liftNotes[why]}`,
          );
        }
      }
      // The condition, only when application failover applies (or to retract an old one).
      const next = application === undefined && d.evicted.length === 0 ? undefined : conditionFor(d);
      const generation = b.metadata.generation ?? 0;
      if (next === undefined) {
        if (hadCondition !== undefined) {
          // Own no condition any more: applying none drops ours.
          await ctx.hub.applyStatus(rt, { ...ref, status: {} } as KubeObject, {
            fieldManager: FAILOVER_FIELD_MANAGER,
            force: true,
          });
        }
      } else if (
        hadCondition?.status !== next.status ||
        hadCondition.reason !== next.reason ||
        hadCondition.message !== next.message
      ) {
        for (const h of d.held) {
          ctx.recorder.event(
            b as KubeObject,
            'Warning',
            'ApplicationFailoverHeld',
            `not moving the workload off ${h.cluster}: ${h.why}`,
          );
        }
        const condition = setCondition(b.status?.conditions, {
          ...next,
          observedGeneration: generation,
        }).find((c) => c.type === APPLICATION_FAILOVER_CONDITION);
        await ctx.hub.applyStatus(rt, { ...ref, status: { conditions: [condition] } } as KubeObject, {
          fieldManager: FAILOVER_FIELD_MANAGER,
          force: true,
        });
      }
      return d.recheckAfterMs === undefined ? {} : { requeueAfterMs: d.recheckAfterMs + DEADLINE_SLACK_MS };
    },
  };
}

/** Keys of the bindings of `store` that application failover may concern. */
function concerned(store: StoreReader<ResourceBinding>): ObjectKey[] {
  return store
    .list()
    .filter((b) => b.spec.failover?.application !== undefined || (b.spec.evictedClusters?.length ?? 0) > 0)
    .map((b) => objectKey(b.metadata.namespace, b.metadata.name ?? ''));
}

export const startFailoverController: StartController = async (ctx) => {
  const rb = ctx.informers.informer<ResourceBinding>(Resources.ResourceBinding);
  const crb = ctx.informers.informer<ResourceBinding>(Resources.ClusterResourceBinding);
  const clusters = ctx.informers.informer<Cluster>(Resources.Cluster);
  const works = ctx.informers.informer<Work>(Resources.Work);
  const decisions = failoverDecisions(ctx.metrics);
  const controllers = (
    [
      [rb, 'Namespaced'],
      [crb, 'Cluster'],
    ] as const
  ).map(([store, scope]) => {
    // Readiness or existence of a cluster changes what may be decided; capacity does not.
    const clusterChanged = changeDetector(
      (c: Cluster) =>
        `${findCondition(c.status?.conditions, 'Ready')?.status ?? 'Unknown'}/${c.metadata.deletionTimestamp !== undefined}`,
    );
    return defineController({
      name: `failover-${scope === 'Namespaced' ? 'rb' : 'crb'}`,
      for: {
        store: store as StoreReader<KubeObject>,
        apiVersion: API_VERSION,
        kind: scope === 'Namespaced' ? 'ResourceBinding' : 'ClusterResourceBinding',
        scope,
      },
      watches: [
        { source: clusters, map: (c: Cluster) => (clusterChanged(c) ? concerned(store) : []) },
        {
          source: works,
          map: (w: Work) => {
            const name = w.metadata.labels?.[Labels.bindingName];
            const ns = w.metadata.labels?.[Labels.bindingNamespace];
            if (name === undefined || (scope === 'Namespaced') !== (ns !== undefined)) return [];
            const key = objectKey(ns, name);
            const b = store.get(key);
            return b?.spec.failover?.application !== undefined ? [key] : [];
          },
        },
      ],
      reconciler: makeReconciler(ctx, store, clusters, works, scope, decisions),
      workers: 2,
      log: ctx.log,
    });
  });
  await Promise.all(controllers.map((c) => c.run(ctx.signal)));
};
