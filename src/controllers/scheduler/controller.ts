import { sameJson } from '../../kube/canonical-json.ts';
import { Counter, type Registry } from 'prom-client';
import type { Cluster } from '../../api/cluster.ts';
import { API_VERSION, ConditionTypes, Labels, clusterNamespace } from '../../api/constants.ts';
import type { Placement } from '../../api/propagation-policy.ts';
import type { ClusterDecision, GracefulEvictionTask, ResourceBinding } from '../../api/resource-binding.ts';
import type { Work } from '../../api/work.ts';
import { defineController, type Reconciler } from '../../kube/controller.ts';
import { objectKey, parseObjectKey, type ObjectKey } from '../../kube/object-key.ts';
import type { StoreReader } from '../../kube/store.ts';
import type { KubeObject } from '../../kube/wire.ts';
import { changeDetector } from '../change-detector.ts';
import { findCondition, setCondition } from '../conditions.ts';
import type { ControllerContext, StartController } from '../context.ts';
import { workName } from '../binding/render.ts';
import { failoverDecisions, type FailoverDecisions } from '../failover/metrics.ts';
import { HubFieldManagers, Resources } from '../resources.ts';
import {
  DEFAULT_EVICTION_TIMEOUT_MS,
  EvictionReasons,
  nextEvictionTasks,
  runsShare,
  type EvictionEnd,
  type EvictionOutcome,
} from './eviction.ts';
import { schedule } from './schedule.ts';
import type { Plan } from '../rebalancer/plan.ts';
import { stepLimiter, type StepLimiter } from '../rebalancer/limiter.ts';
import { rebalanceStep } from '../rebalancer/step.ts';

/** On a binding: the placement its current `spec.clusters` were computed for (JSON). */
export const SCHEDULED_PLACEMENT_ANNOTATION = 'meridian.dev/scheduled-placement';

/** On a binding: when the scheduler last took a rebalancing step (RFC 3339), for `intervalSeconds`. */
export const LAST_REBALANCE_ANNOTATION = 'meridian.dev/last-rebalance';

/** What about a cluster can change a scheduling decision (capacity alone does not reshuffle). */
function clusterFingerprint(c: Cluster): string {
  const ready = findCondition(c.status?.conditions, ConditionTypes.Ready)?.status ?? 'Unknown';
  const apis = (c.status?.apiEnablements ?? []).map((a) => a.groupVersion).join(',');
  const deleting = c.metadata.deletionTimestamp !== undefined;
  return JSON.stringify([c.metadata.labels ?? {}, c.spec?.taints ?? [], ready, apis, deleting]);
}

function counter<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: L[],
): Counter<L> {
  return (
    (registry.getSingleMetric(name) as Counter<L> | undefined) ??
    new Counter({ name, help, labelNames, registers: [registry] })
  );
}

interface EvictionMetrics {
  readonly evictions: Counter<'cluster' | 'purge_mode'>;
  readonly ends: Counter<'cluster' | 'reason'>;
  readonly decisions: FailoverDecisions;
}

function evictionMetrics(registry: Registry): EvictionMetrics {
  return {
    evictions: counter(
      registry,
      'meridian_cluster_evictions_total',
      'Bindings evicted from a cluster by an untolerated NoExecute taint, by purge mode.',
      ['cluster', 'purge_mode'],
    ),
    ends: counter(
      registry,
      'meridian_graceful_eviction_ends_total',
      "Graceful evictions ended (Healthy, Timeout, Rescheduled, ClusterGone): the evicted cluster's copy removed or kept.",
      ['cluster', 'reason'],
    ),
    decisions: failoverDecisions(registry),
  };
}

const seconds = (s: number | undefined, defaultMs: number) => `${s ?? Math.ceil(defaultMs / 1000)}s`;

/** The binding's Works, by cluster, as the binding controller names them. */
function workOf(works: StoreReader<Work>, b: ResourceBinding, cluster: string): Work | undefined {
  return works.get(objectKey(clusterNamespace(cluster), workName(b)));
}

function recordEvictions(
  ctx: ControllerContext,
  b: ResourceBinding,
  outcome: EvictionOutcome,
  defaultMs: number,
  metrics: EvictionMetrics,
): void {
  const grace = (cluster: string) =>
    seconds(outcome.tasks.find((t) => t.fromCluster === cluster)?.gracePeriodSeconds, defaultMs);
  const kindOf = (reason: string) =>
    reason === EvictionReasons.applicationFailure ? ('application' as const) : ('cluster' as const);
  for (const e of outcome.evicted) {
    metrics.evictions.inc({ cluster: e.cluster, purge_mode: e.purgeMode });
    metrics.decisions.inc({ kind: kindOf(e.reason), reason: `Evicted${e.purgeMode}`, cluster: e.cluster });
    const then =
      e.purgeMode === 'Immediately'
        ? 'its copy is removed now (purgeMode Immediately)'
        : e.purgeMode === 'Never'
          ? 'its copy is kept (purgeMode Never)'
          : `its copy stays until the clusters replacing it are healthy, at most ${grace(e.cluster)}`;
    ctx.recorder.event(
      b as KubeObject,
      'Warning',
      'ClusterEvicted',
      `evicted from ${e.cluster} (${e.why}): ${then}`,
    );
  }
  const notes: Record<EvictionEnd, (t: GracefulEvictionTask) => string> = {
    Healthy: (t) => `removing the copy on ${t.fromCluster}: the clusters replacing it are healthy`,
    Timeout: (t) =>
      `removing the copy on ${t.fromCluster}: graceful eviction timed out after ${seconds(t.gracePeriodSeconds, defaultMs)} before the replacement was healthy`,
    Rescheduled: (t) => `${t.fromCluster} is a target again: graceful eviction ended`,
    ClusterGone: (t) => `cluster ${t.fromCluster} is gone: graceful eviction ended`,
  };
  for (const { task, why } of outcome.ended) {
    metrics.ends.inc({ cluster: task.fromCluster, reason: why });
    metrics.decisions.inc({
      kind: kindOf(task.reason),
      reason: `GracefulEvictionEnded${why}`,
      cluster: task.fromCluster,
    });
    ctx.recorder.event(
      b as KubeObject,
      why === 'Timeout' ? 'Warning' : 'Normal',
      'GracefulEvictionEnded',
      notes[why](task),
    );
  }
}

function recordRebalance(
  ctx: ControllerContext,
  b: ResourceBinding,
  plan: Plan,
  metrics: EvictionMetrics,
): void {
  for (const m of plan.moves)
    metrics.decisions.inc({ kind: 'rebalance', reason: 'Rebalanced', cluster: m.to });
  const moves = plan.moves.map((m) => `${m.replicas} from ${m.from} to ${m.to}`).join(', ');
  const spread = plan.next.map((t) => `${t.name}:${t.replicas}`).join(', ');
  ctx.recorder.event(
    b as KubeObject,
    'Normal',
    'Rebalanced',
    `moving ${moves} toward the desired spread (now ${spread}); ${plan.remaining} replica(s) left to move`,
  );
}

function makeReconciler(
  ctx: ControllerContext,
  bindings: StoreReader<ResourceBinding>,
  clusters: StoreReader<Cluster>,
  works: StoreReader<Work>,
  scope: 'Namespaced' | 'Cluster',
  metrics: EvictionMetrics,
  limiter: StepLimiter,
): Reconciler {
  const defaultTimeoutMs = ctx.settings?.evictionTimeoutMs ?? DEFAULT_EVICTION_TIMEOUT_MS;
  const rt = scope === 'Namespaced' ? Resources.ResourceBinding : Resources.ClusterResourceBinding;
  return {
    name: `scheduler/${rt.resource}`,
    async reconcile(key: ObjectKey) {
      const b = bindings.get(key);
      if (b === undefined || b.metadata.deletionTimestamp !== undefined) return {};
      const placement: Placement = b.spec.placement ?? {};
      const snapshot = clusters.list().filter((c) => c.metadata.deletionTimestamp === undefined);
      const lastPlacement = b.metadata.annotations?.[SCHEDULED_PLACEMENT_ANNOTATION];
      // Application failover's verdicts (written by the failover controller): never a candidate.
      const evictedClusters = new Map(
        (b.spec.evictedClusters ?? []).map((e) => [
          e.name,
          `${e.reason}${e.message ? `: ${e.message}` : ''}`,
        ]),
      );
      const previous = b.spec.clusters?.length
        ? {
            clusters: b.spec.clusters,
            ...(lastPlacement && { placement: JSON.parse(lastPlacement) as Placement }),
          }
        : undefined;
      const unit = {
        resource: b.spec.resource,
        replicas: b.spec.replicas ?? 0,
        ...(b.spec.replicaRequirements && { replicaRequirements: b.spec.replicaRequirements }),
        placement,
        ...(evictedClusters.size > 0 && { evictedClusters }),
      };
      const result = schedule(unit, snapshot, previous);
      const { namespace, name } = parseObjectKey(key);
      const ref = {
        apiVersion: API_VERSION,
        kind: b.kind,
        metadata: { name, ...(namespace && { namespace }) },
      };
      let generation = b.metadata.generation ?? 0;

      // Graceful eviction: clusters dropped for an untolerated NoExecute taint keep their copy
      // (a task) until the targets run their shares healthily, or the grace period ends.
      const current = b.spec.clusters ?? [];
      const nowMs = Date.now();
      let next = result.ok ? result.clusters : current;
      const tasksBefore = b.spec.gracefulEvictionTasks ?? [];
      const targetsChanged = !sameJson(next, current);
      const eviction = nextEvictionTasks({
        previous: current,
        next,
        tasks: tasksBefore,
        clusters: new Map(snapshot.map((c) => [c.metadata.name ?? '', c])),
        placement,
        failover: b.spec.failover,
        nowMs,
        defaultTimeoutMs,
        evictedClusters,
        replacementHealthy:
          tasksBefore.length > 0 &&
          !targetsChanged &&
          next.every((t) => runsShare(workOf(works, b, t.name), t.replicas)),
      });
      const tasksChanged = !sameJson(eviction.tasks, tasksBefore);
      // Past the deadline by a second, so the timeout is due when the pass runs.
      let requeueAfterMs =
        eviction.recheckAfterMs === undefined ? undefined : eviction.recheckAfterMs + 1_000;

      // Rebalancing (replicaScheduling.rebalance): divided replicas that drifted from the fresh
      // division move back one bounded step at a time, only once the binding is settled.
      let lastRebalance = b.metadata.annotations?.[LAST_REBALANCE_ANNOTATION];
      let step: Plan | undefined;
      const rebalance = placement.replicaScheduling?.rebalance;
      if (rebalance !== undefined && result.ok && unit.replicas > 0) {
        const fresh = schedule(unit, snapshot, { clusters: next, fresh: true });
        const decision = !fresh.ok
          ? ({ kind: 'balanced' } as const)
          : rebalanceStep({
              rebalance,
              current: next,
              desired: fresh.clusters,
              failingOver: targetsChanged || tasksBefore.length > 0 || eviction.tasks.length > 0,
              // Settled: every target runs its share healthily, and no old copy is still being
              // removed from a cluster replicas would move to (one just back from a failover).
              settled:
                next.every((t) => runsShare(workOf(works, b, t.name), t.replicas)) &&
                !fresh.clusters.some(
                  (t) => workOf(works, b, t.name)?.metadata.deletionTimestamp !== undefined,
                ),
              lastStepMs: lastRebalance === undefined ? undefined : Date.parse(lastRebalance),
              nowMs,
            });
        const later = (ms: number) => (requeueAfterMs = Math.min(requeueAfterMs ?? Infinity, ms));
        if (decision.kind === 'wait' && decision.why === 'Interval') later(decision.afterMs);
        if (decision.kind === 'step') {
          const wait = limiter.take(nowMs);
          if (wait > 0) later(wait);
          else {
            step = decision.plan;
            next = step.next;
            lastRebalance = new Date(nowMs).toISOString();
          }
        }
      }
      const targetsMoved = targetsChanged || step !== undefined;

      const placementJson = JSON.stringify(placement);
      const placementStale = result.ok && placementJson !== lastPlacement;
      const annotation = result.ok ? placementJson : lastPlacement;
      if (targetsMoved || tasksChanged || placementStale) {
        const annotations = {
          ...(annotation !== undefined && { [SCHEDULED_PLACEMENT_ANNOTATION]: annotation }),
          ...(lastRebalance !== undefined && { [LAST_REBALANCE_ANNOTATION]: lastRebalance }),
        };
        // Our own spec write bumps the generation; what it wrote is this pass's result, so the
        // status observes the new generation (not one more pass and status write later).
        const written = await ctx.hub.apply(
          rt,
          {
            ...ref,
            metadata: { ...ref.metadata, ...(Object.keys(annotations).length > 0 && { annotations }) },
            spec: {
              clusters: next,
              ...(eviction.tasks.length > 0 && { gracefulEvictionTasks: eviction.tasks }),
            },
          } as KubeObject,
          { fieldManager: HubFieldManagers.scheduler, force: true },
        );
        generation = written.metadata?.generation ?? generation;
        recordEvictions(ctx, b, eviction, defaultTimeoutMs, metrics);
        if (step !== undefined) recordRebalance(ctx, b, step, metrics);
        if (targetsMoved || placementStale) {
          const summary = next
            .map((c) => (b.spec.replicas === undefined ? c.name : `${c.name}:${c.replicas}`))
            .join(', ');
          ctx.recorder.event(b as KubeObject, 'Normal', 'Scheduled', `placed on ${summary || 'no cluster'}`);
        }
      }
      if (!result.ok && findCondition(b.status?.conditions, ConditionTypes.Scheduled)?.status !== 'False') {
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
      // Written when the outcome changes, not when only scores and their reasons drift with
      // the clusters' capacity (that rewrote it on every binding event, several times per
      // binding): the decisions explain the placement as of its last change. Compared up to
      // key order: the hub returns the status with sorted keys.
      if (!sameJson(decisive(status), decisive(priorStatus))) {
        await ctx.hub.applyStatus(rt, { ...ref, status } as KubeObject, {
          fieldManager: HubFieldManagers.scheduler,
          force: true,
        });
      }
      return requeueAfterMs === undefined ? {} : { requeueAfterMs };
    },
  };
}

/** What a scheduling status says, without the scores and reasons that drift with capacity. */
function decisive(status: {
  readonly schedulingDecisions?: readonly ClusterDecision[] | undefined;
  readonly [k: string]: unknown;
}): unknown {
  return {
    ...status,
    schedulingDecisions: status.schedulingDecisions?.map((d) =>
      d.outcome === 'Filtered' ? d : { clusterName: d.clusterName, outcome: d.outcome, replicas: d.replicas },
    ),
  };
}

/**
 * The scheduler controller: turns each binding's placement into `spec.clusters` (and a
 * per-cluster explanation in `status.schedulingDecisions`) with the pure `schedule()`.
 * Reschedules when a binding changes or when a cluster changes in a way that can alter a
 * decision (labels, taints, readiness, served APIs) — not on every capacity update, so
 * placements stay put. Owns `spec.gracefulEvictionTasks` too (see `eviction.ts`): a binding
 * evicted from a tainted cluster is re-checked as its Works report and at the task deadline.
 */
export const startScheduler: StartController = async (ctx) => {
  const rb = ctx.informers.informer<ResourceBinding>(Resources.ResourceBinding);
  const crb = ctx.informers.informer<ResourceBinding>(Resources.ClusterResourceBinding);
  const clusters = ctx.informers.informer<Cluster>(Resources.Cluster);
  const works = ctx.informers.informer<Work>(Resources.Work);
  const metrics = evictionMetrics(ctx.metrics);
  // Fleet-wide bound on rebalancing steps, shared by both binding kinds.
  const limiter = stepLimiter();
  const controllers = (
    [
      [rb, 'Namespaced'],
      [crb, 'Cluster'],
    ] as const
  ).map(([store, scope]) => {
    // One detector per controller: each must see every relevant cluster change.
    const clusterChanged = changeDetector(clusterFingerprint);
    // Capacity changes reshuffle nothing, but may move a rebalancing binding's desired spread.
    const capacityChanged = changeDetector((c: Cluster) =>
      JSON.stringify(c.status?.resourceSummary?.available ?? {}),
    );
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
              ? (capacityChanged(c),
                store.list().map((b) => objectKey(b.metadata.namespace, b.metadata.name ?? '')))
              : capacityChanged(c)
                ? store
                    .list()
                    .filter((b) => b.spec.placement?.replicaScheduling?.rebalance !== undefined)
                    .map((b) => objectKey(b.metadata.namespace, b.metadata.name ?? ''))
                : [],
        },
        {
          // A binding in graceful eviction waits for its Works to run their shares healthily.
          source: works,
          map: (w: Work) => {
            const name = w.metadata.labels?.[Labels.bindingName];
            const ns = w.metadata.labels?.[Labels.bindingNamespace];
            if (name === undefined || (scope === 'Namespaced') !== (ns !== undefined)) return [];
            const key = objectKey(ns, name);
            const b = store.get(key);
            // Rebalancing too waits for the targets to run their shares healthily.
            return b?.spec.gracefulEvictionTasks?.length || b?.spec.placement?.replicaScheduling?.rebalance
              ? [key]
              : [];
          },
        },
      ],
      reconciler: makeReconciler(ctx, store, clusters, works, scope, metrics, limiter),
      workers: 4,
      log: ctx.log,
    });
  });
  await Promise.all(controllers.map((c) => c.run(ctx.signal)));
};
