import { sameJson } from '../../kube/canonical-json.ts';
import { changeDetector } from '../change-detector.ts';
import type { Cluster } from '../../api/cluster.ts';
import { API_VERSION, Annotations, ConditionTypes, Finalizers, Kinds, Labels } from '../../api/constants.ts';
import type { ResourceBinding } from '../../api/resource-binding.ts';
import type { Work } from '../../api/work.ts';
import { defineController, type Reconciler } from '../../kube/controller.ts';
import { NotFoundError } from '../../kube/errors.ts';
import { withFinalizer } from '../../kube/finalizer.ts';
import { objectKey, parseObjectKey, type ObjectKey } from '../../kube/object-key.ts';
import type { StoreReader } from '../../kube/store.ts';
import type { KubeObject } from '../../kube/wire.ts';
import { setCondition, findCondition } from '../conditions.ts';
import type { ControllerContext, StartController } from '../context.ts';
import { OverrideError, type AnyOverridePolicy } from '../override/apply-overrides.ts';
import { HubFieldManagers, Resources } from '../resources.ts';
import { bindingLabels, overridesFor, renderFor, workFor, workName } from './render.ts';

/** Condition on a binding when an override cannot apply for some cluster. */
const OVERRIDES_APPLIED = 'OverridesApplied';

function bindingKeyOfWork(w: Work): ObjectKey | undefined {
  const name = w.metadata.labels?.[Labels.bindingName];
  if (name === undefined) return undefined;
  return objectKey(w.metadata.labels?.[Labels.bindingNamespace], name);
}

interface Stores {
  readonly bindings: StoreReader<ResourceBinding>;
  readonly works: StoreReader<Work>;
  readonly clusters: StoreReader<Cluster>;
  readonly op: StoreReader<AnyOverridePolicy>;
  readonly cop: StoreReader<AnyOverridePolicy>;
}

function worksOf(stores: Stores, b: ResourceBinding): Work[] {
  const labels = bindingLabels(b);
  return stores.works
    .list()
    .filter(
      (w) =>
        w.metadata.labels?.[Labels.bindingName] === labels[Labels.bindingName] &&
        w.metadata.labels?.[Labels.bindingNamespace] === labels[Labels.bindingNamespace],
    );
}

async function deleteWork(ctx: ControllerContext, w: Work): Promise<void> {
  await ctx.hub
    .delete(Resources.Work, { namespace: w.metadata.namespace ?? '', name: w.metadata.name ?? '' })
    .catch((err: unknown) => {
      if (!(err instanceof NotFoundError)) throw err;
    });
}

function makeReconciler(ctx: ControllerContext, stores: Stores, scope: 'Namespaced' | 'Cluster'): Reconciler {
  const rt = scope === 'Namespaced' ? Resources.ResourceBinding : Resources.ClusterResourceBinding;
  return {
    name: `binding/${rt.resource}`,
    async reconcile(key) {
      const b = stores.bindings.get(key);
      if (b === undefined) return {};
      const { namespace, name } = parseObjectKey(key);
      const ref = { ...(namespace && { namespace }), name };
      let wait = false;
      await withFinalizer(
        b as KubeObject,
        Finalizers.binding,
        {
          apply: async () => {
            await syncWorks(ctx, stores, b, ref);
            return {};
          },
          cleanup: async () => {
            // Deleting the binding deletes its Works; each Work's own finalizer removes the
            // objects from its member before the Work goes. Hold until they are gone.
            const works = worksOf(stores, b);
            await Promise.all(
              works.filter((w) => w.metadata.deletionTimestamp === undefined).map((w) => deleteWork(ctx, w)),
            );
            if (works.length > 0) {
              wait = true;
              throw new Error(`waiting for ${works.length} Work(s) of ${key} to be deleted`);
            }
            return {};
          },
        },
        (ops) => ctx.hub.patch(rt, ref, { type: 'json', ops }),
      ).catch((err: unknown) => {
        if (!wait) throw err;
      });
      // Works going away emit events that requeue this key; the delay is only a safety net.
      return wait ? { requeueAfterMs: 5000 } : {};
    },
  };
}

async function syncWorks(
  ctx: ControllerContext,
  stores: Stores,
  b: ResourceBinding,
  ref: { namespace?: string; name: string },
): Promise<void> {
  const existing = worksOf(stores, b);
  const targets = new Map((b.spec.clusters ?? []).map((c) => [c.name, c.replicas]));
  // Clusters being evicted gracefully keep their Work as it is until the scheduler ends the task.
  const evicting = new Set((b.spec.gracefulEvictionTasks ?? []).map((t) => t.fromCluster));
  // Clusters no longer targeted lose their Work (and so the object), whatever else happens.
  await Promise.all(
    existing
      .filter((w) => {
        const cluster = w.metadata.labels?.[Labels.cluster] ?? '';
        return !targets.has(cluster) && !evicting.has(cluster) && w.metadata.deletionTimestamp === undefined;
      })
      .map((w) => deleteWork(ctx, w)),
  );
  if (b.spec.suspension?.dispatching) return;
  const suspended = new Set(b.spec.suspension?.dispatchingOnClusters?.clusterNames ?? []);

  const r = b.spec.resource;
  const rt = await ctx.hub.resolve(r.apiVersion, r.kind, ctx.signal);
  const templates = ctx.informers.informer(rt);
  await templates.ready;
  const template = templates.get(objectKey(r.namespace, r.name));
  if (template === undefined) return; // The detector removes bindings of vanished templates.

  const policies = overridesFor(template, [...stores.op.list(), ...stores.cop.list()]);
  const failures: string[] = [];
  await Promise.all(
    [...targets].map(async ([clusterName, replicas]) => {
      if (suspended.has(clusterName)) return;
      const cluster = stores.clusters.get(objectKey(undefined, clusterName));
      if (cluster === undefined) return;
      let work;
      try {
        work = workFor(b, clusterName, renderFor(template, b, cluster, replicas, policies), replicas);
      } catch (err) {
        if (!(err instanceof OverrideError)) throw err;
        failures.push(`${clusterName}: ${err.message}`);
        return;
      }
      const current = existing.find(
        (w) => w.metadata.name === workName(b) && w.metadata.labels?.[Labels.cluster] === clusterName,
      );
      if (
        current &&
        // The server returns the Work with sorted keys: compare up to key order, or every
        // reconcile would re-apply every Work.
        sameJson(current.spec, work.spec) &&
        sameLabels(current, work) &&
        current.metadata.annotations?.[Annotations.scheduledReplicas] ===
          work.metadata?.annotations?.[Annotations.scheduledReplicas]
      )
        return;
      await ctx.hub.apply(Resources.Work, work, { fieldManager: HubFieldManagers.binding, force: true });
    }),
  );

  const prior = findCondition(b.status?.conditions, OVERRIDES_APPLIED);
  const status = failures.length === 0 ? 'True' : 'False';
  if (prior?.status !== status || (failures.length > 0 && prior.message !== failures.join('; '))) {
    const condition = setCondition(b.status?.conditions, {
      type: OVERRIDES_APPLIED,
      status,
      reason: failures.length === 0 ? 'Rendered' : 'OverrideFailed',
      message: failures.length === 0 ? 'every target cluster rendered' : failures.join('; '),
    }).find((c) => c.type === OVERRIDES_APPLIED);
    const rtB =
      (b.kind as string) === Kinds.ClusterResourceBinding
        ? Resources.ClusterResourceBinding
        : Resources.ResourceBinding;
    await ctx.hub.applyStatus(
      rtB,
      {
        apiVersion: API_VERSION,
        kind: b.kind,
        metadata: ref,
        status: { conditions: [condition] },
      } as KubeObject,
      { fieldManager: HubFieldManagers.binding, force: true },
    );
    if (failures.length > 0)
      ctx.recorder.event(b as KubeObject, 'Warning', 'OverrideFailed', failures.join('; '));
  }
  if (failures.length > 0) ctx.log.warn({ binding: ref, failures }, 'overrides could not apply');
  void ConditionTypes;
}

function sameLabels(a: KubeObject, b: KubeObject): boolean {
  const la = a.metadata?.labels ?? {};
  return Object.entries(b.metadata?.labels ?? {}).every(([k, v]) => la[k] === v);
}

/**
 * The binding controller: for each scheduled binding, renders the template per target
 * cluster (replicas divided, overrides applied) and keeps exactly one Work per target
 * cluster in that cluster's execution namespace; deletes Works of clusters no longer
 * targeted, except those in graceful eviction (`spec.gracefulEvictionTasks`), whose Works are
 * kept untouched until the scheduler ends the task; on binding deletion, deletes its Works and holds the binding (finalizer) until
 * they — and so the member objects — are gone.
 */
export const startBindingController: StartController = async (ctx) => {
  const works = ctx.informers.informer<Work>(Resources.Work);
  const clusters = ctx.informers.informer<Cluster>(Resources.Cluster);
  const op = ctx.informers.informer<AnyOverridePolicy>(Resources.OverridePolicy);
  const cop = ctx.informers.informer<AnyOverridePolicy>(Resources.ClusterOverridePolicy);
  const run = (scope: 'Namespaced' | 'Cluster') => {
    const bindings = ctx.informers.informer<ResourceBinding>(
      scope === 'Namespaced' ? Resources.ResourceBinding : Resources.ClusterResourceBinding,
    );
    const stores: Stores = { bindings, works, clusters, op, cop };
    const all = () => bindings.list().map((b) => objectKey(b.metadata.namespace, b.metadata.name ?? ''));
    // Overrides select clusters by name or labels: only a label change can re-render.
    const labelsChanged = changeDetector((c: Cluster) => JSON.stringify(c.metadata.labels ?? {}));
    return defineController({
      name: `binding-${scope === 'Namespaced' ? 'rb' : 'crb'}`,
      for: {
        store: bindings as StoreReader<KubeObject>,
        apiVersion: API_VERSION,
        kind: scope === 'Namespaced' ? Kinds.ResourceBinding : Kinds.ClusterResourceBinding,
        scope,
      },
      watches: [
        {
          source: works,
          map: (w: Work) => {
            const k = bindingKeyOfWork(w);
            const isMine =
              scope === 'Namespaced'
                ? w.metadata.labels?.[Labels.bindingNamespace] !== undefined
                : w.metadata.labels?.[Labels.bindingNamespace] === undefined;
            return k && isMine ? [k] : [];
          },
        },
        { source: op, map: all },
        { source: cop, map: all },
        {
          // Overrides can target clusters by label: re-render when a cluster's labels change.
          source: clusters,
          map: (c: Cluster) => (labelsChanged(c) ? all() : []),
        },
      ],
      reconciler: makeReconciler(ctx, stores, scope),
      workers: 4,
      log: ctx.log,
    });
  };
  await Promise.all([run('Namespaced'), run('Cluster')].map((c) => c.run(ctx.signal)));
};
