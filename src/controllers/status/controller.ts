/**
 * The status controller: two controllers (ResourceBindings, ClusterResourceBindings), keyed
 * by binding. A binding is reconciled when it changes, when one of its Works changes (mapped
 * through the Work's `meridian.dev/binding-*` labels), and — for namespaced bindings — when
 * its template changes (a Deployment, StatefulSet, DaemonSet, Job or Service on the hub, so a
 * new generation or a clobbered status is noticed). Work changes are coalesced for a second
 * per binding. Retries are the runner's: per-key
 * exponential backoff plus a token bucket. See `reconcile.ts` for what is written.
 */
import { API_VERSION, Kinds } from '../../api/constants.ts';
import type { ResourceBinding } from '../../api/resource-binding.ts';
import type { Work } from '../../api/work.ts';
import type { ResourceType } from '../../kube/api-client.ts';
import { defineController, type WatchSpec } from '../../kube/controller.ts';
import type { StoreReader } from '../../kube/store.ts';
import type { KubeObject } from '../../kube/wire.ts';
import type { StartController } from '../context.ts';
import { Resources } from '../resources.ts';
import { AggregatedKinds } from './aggregate.ts';
import { TemplateIndex, WorkIndex } from './indexes.ts';
import { makeStatusReconciler } from './reconcile.ts';

/**
 * Members report a rollout in steps (replicas, then updated, then ready, per cluster), each a
 * Work status change: one reconcile a second per binding folds them into one status write
 * instead of one per step (about 8 per binding at 1,000 Deployments, bench/RESULTS.md).
 */
const WORK_STATUS_COALESCE_MS = 1_000;

/**
 * Starts the status controllers and runs them until `ctx.signal` aborts. Writes binding
 * status and template status with field manager `meridian-status` only, never touching
 * another manager's fields. Never touches member clusters: everything it reads comes from
 * Works on the hub.
 */
export const startStatusController: StartController = async (ctx) => {
  const works = ctx.informers.informer<Work>(Resources.Work);
  const stores = {
    Namespaced: ctx.informers.informer<ResourceBinding>(Resources.ResourceBinding),
    Cluster: ctx.informers.informer<ResourceBinding>(Resources.ClusterResourceBinding),
  } as const;
  const workIndex = new WorkIndex(works, ctx.signal);
  // The aggregated kinds are all namespaced, so only namespaced bindings have templates to watch.
  const templates = new TemplateIndex(stores.Namespaced, ctx.signal);
  const templateWatches: WatchSpec<KubeObject>[] = Object.values(AggregatedKinds).map((k) => {
    const rt: ResourceType = { ...k, scope: 'Namespaced' };
    return {
      source: ctx.informers.informer(rt),
      map: (t: KubeObject) =>
        templates.bindingsOf(k.group, k.kind, t.metadata?.namespace, t.metadata?.name ?? ''),
    };
  });

  const controllers = (['Namespaced', 'Cluster'] as const).map((scope) => {
    const bindings = stores[scope];
    return defineController({
      name: `status-${scope === 'Namespaced' ? 'rb' : 'crb'}`,
      for: {
        store: bindings as StoreReader<KubeObject>,
        apiVersion: API_VERSION,
        kind: scope === 'Namespaced' ? Kinds.ResourceBinding : Kinds.ClusterResourceBinding,
        scope,
      },
      watches: [
        {
          source: works,
          map: (w: Work) => WorkIndex.bindingKeys(w, scope, bindings),
          coalesceMs: WORK_STATUS_COALESCE_MS,
        },
        ...(scope === 'Namespaced' ? templateWatches : []),
      ],
      reconciler: makeStatusReconciler({
        hub: ctx.hub,
        informers: ctx.informers,
        bindings,
        works: workIndex,
        scope,
      }),
      workers: 4,
      log: ctx.log,
    });
  });
  await Promise.all(controllers.map((c) => c.run(ctx.signal)));
};
