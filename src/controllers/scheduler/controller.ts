import { createHash } from 'node:crypto';
import type { Cluster } from '../../api/cluster.ts';
import { API_VERSION, ConditionTypes } from '../../api/constants.ts';
import type { Placement } from '../../api/propagation-policy.ts';
import type { ResourceBinding } from '../../api/resource-binding.ts';
import { defineController, type Reconciler } from '../../kube/controller.ts';
import { objectKey, parseObjectKey, type ObjectKey } from '../../kube/object-key.ts';
import type { StoreReader } from '../../kube/store.ts';
import type { KubeObject } from '../../kube/wire.ts';
import { findCondition, setCondition } from '../conditions.ts';
import type { ControllerContext, StartController } from '../context.ts';
import { HubFieldManagers, Resources } from '../resources.ts';
import { schedule } from './schedule.ts';

/** On a binding: the placement its current `spec.clusters` were computed for (JSON). */
export const SCHEDULED_PLACEMENT_ANNOTATION = 'meridian.dev/scheduled-placement';

/** What about a cluster can change a scheduling decision (capacity alone does not reshuffle). */
function clusterFingerprint(c: Cluster): string {
  const ready = findCondition(c.status?.conditions, ConditionTypes.Ready)?.status ?? 'Unknown';
  const apis = (c.status?.apiEnablements ?? []).map((a) => a.groupVersion).join(',');
  const deleting = c.metadata.deletionTimestamp !== undefined;
  return JSON.stringify([c.metadata.labels ?? {}, c.spec?.taints ?? [], ready, apis, deleting]);
}

const hash = (x: unknown) => createHash('sha256').update(JSON.stringify(x)).digest('hex').slice(0, 16);

function makeReconciler(
  ctx: ControllerContext,
  bindings: StoreReader<ResourceBinding>,
  clusters: StoreReader<Cluster>,
  scope: 'Namespaced' | 'Cluster',
): Reconciler {
  const rt = scope === 'Namespaced' ? Resources.ResourceBinding : Resources.ClusterResourceBinding;
  return {
    name: `scheduler/${rt.resource}`,
    async reconcile(key: ObjectKey) {
      const b = bindings.get(key);
      if (b === undefined || b.metadata.deletionTimestamp !== undefined) return {};
      const placement: Placement = b.spec.placement ?? {};
      const snapshot = clusters.list().filter((c) => c.metadata.deletionTimestamp === undefined);
      const lastPlacement = b.metadata.annotations?.[SCHEDULED_PLACEMENT_ANNOTATION];
      const previous = b.spec.clusters?.length
        ? {
            clusters: b.spec.clusters,
            ...(lastPlacement && { placement: JSON.parse(lastPlacement) as Placement }),
          }
        : undefined;
      const result = schedule(
        {
          resource: b.spec.resource,
          replicas: b.spec.replicas ?? 0,
          ...(b.spec.replicaRequirements && { replicaRequirements: b.spec.replicaRequirements }),
          placement,
        },
        snapshot,
        previous,
      );
      const { namespace, name } = parseObjectKey(key);
      const ref = {
        apiVersion: API_VERSION,
        kind: b.kind,
        metadata: { name, ...(namespace && { namespace }) },
      };
      const generation = b.metadata.generation ?? 0;

      if (result.ok) {
        const placementJson = JSON.stringify(placement);
        const same =
          JSON.stringify(result.clusters) === JSON.stringify(b.spec.clusters ?? []) &&
          placementJson === lastPlacement;
        if (!same) {
          await ctx.hub.apply(
            rt,
            {
              ...ref,
              metadata: { ...ref.metadata, annotations: { [SCHEDULED_PLACEMENT_ANNOTATION]: placementJson } },
              spec: { clusters: result.clusters },
            } as KubeObject,
            { fieldManager: HubFieldManagers.scheduler, force: true },
          );
          const summary = result.clusters
            .map((c) => (b.spec.replicas === undefined ? c.name : `${c.name}:${c.replicas}`))
            .join(', ');
          ctx.recorder.event(b as KubeObject, 'Normal', 'Scheduled', `placed on ${summary || 'no cluster'}`);
        }
      } else if (findCondition(b.status?.conditions, ConditionTypes.Scheduled)?.status !== 'False') {
        ctx.recorder.event(b as KubeObject, 'Warning', 'ScheduleFailed', result.reasons.join('; '));
      }

      const condition = setCondition(b.status?.conditions, {
        type: ConditionTypes.Scheduled,
        status: result.ok ? 'True' : 'False',
        reason: result.ok ? 'Success' : 'NoClusterFit',
        message: result.ok
          ? `${result.clusters.length} cluster(s) selected${result.affinityName ? ` by affinity term ${result.affinityName}` : ''}`
          : result.reasons.join('; '),
        observedGeneration: generation,
      }).find((c) => c.type === ConditionTypes.Scheduled);
      const status = {
        conditions: [condition],
        schedulerObservedGeneration: generation,
        ...(result.ok && result.affinityName && { schedulerObservedAffinityName: result.affinityName }),
        schedulingDecisions: result.decisions,
      };
      const prior = b.status ?? {};
      const priorStatus = {
        conditions: [findCondition(prior.conditions, ConditionTypes.Scheduled)],
        schedulerObservedGeneration: prior.schedulerObservedGeneration,
        ...(prior.schedulerObservedAffinityName && {
          schedulerObservedAffinityName: prior.schedulerObservedAffinityName,
        }),
        schedulingDecisions: prior.schedulingDecisions,
      };
      if (hash(status) !== hash(priorStatus)) {
        await ctx.hub.applyStatus(rt, { ...ref, status } as KubeObject, {
          fieldManager: HubFieldManagers.scheduler,
          force: true,
        });
      }
      return {};
    },
  };
}

/**
 * The scheduler controller: turns each binding's placement into `spec.clusters` (and a
 * per-cluster explanation in `status.schedulingDecisions`) with the pure `schedule()`.
 * Reschedules when a binding changes or when a cluster changes in a way that can alter a
 * decision (labels, taints, readiness, served APIs) — not on every capacity update, so
 * placements stay put.
 */
export const startScheduler: StartController = async (ctx) => {
  const rb = ctx.informers.informer<ResourceBinding>(Resources.ResourceBinding);
  const crb = ctx.informers.informer<ResourceBinding>(Resources.ClusterResourceBinding);
  const clusters = ctx.informers.informer<Cluster>(Resources.Cluster);
  // One fingerprint map per controller: each must see every relevant cluster change.
  const changeDetector = () => {
    const fingerprints = new Map<string, string>();
    return (c: Cluster): boolean => {
      const name = c.metadata.name ?? '';
      const fp = clusterFingerprint(c);
      if (fingerprints.get(name) === fp) return false;
      fingerprints.set(name, fp);
      return true;
    };
  };
  const controllers = (
    [
      [rb, 'Namespaced'],
      [crb, 'Cluster'],
    ] as const
  ).map(([store, scope]) => {
    const clusterChanged = changeDetector();
    return defineController({
      name: `scheduler-${scope === 'Namespaced' ? 'rb' : 'crb'}`,
      for: {
        store: store as StoreReader<KubeObject>,
        apiVersion: API_VERSION,
        kind: scope === 'Namespaced' ? 'ResourceBinding' : 'ClusterResourceBinding',
        scope,
      },
      watches: [
        {
          source: clusters,
          map: (c: Cluster) =>
            clusterChanged(c)
              ? store.list().map((b) => objectKey(b.metadata.namespace, b.metadata.name ?? ''))
              : [],
        },
      ],
      reconciler: makeReconciler(ctx, store, clusters, scope),
      workers: 4,
      log: ctx.log,
    });
  });
  await Promise.all(controllers.map((c) => c.run(ctx.signal)));
};
