/**
 * Wiring of the execution controller (push mode; pull-mode clusters' Works are applied by
 * their agents): hub Works are the primary kind; a Work is also
 * requeued when
 * - a Meridian-managed object it applied changes or disappears in its member (drift, status),
 *   through the member's shared informers (see `member-watches.ts`);
 * - the member registry reports its cluster connected, reconnected or dropped;
 * - its Cluster starts being deleted or is gone (so a pending cleanup can release);
 * - its Cluster turns Ready again (so what waited on an unreachable member runs at once).
 * Eight workers reconcile distinct Works concurrently.
 */
import { Counter, type Registry } from 'prom-client';
import { API_VERSION, ConditionTypes, Kinds, clusterNamespace, type Cluster } from '../../api/index.ts';
import { defineController } from '../../kube/controller.ts';
import type { Logger } from '../../kube/log.ts';
import { keyOf, type ObjectKey } from '../../kube/object-key.ts';
import type { StoreReader } from '../../kube/store.ts';
import type { KubeObject } from '../../kube/wire.ts';
import { CRDS } from '../bootstrap/install-crds.ts';
import type { StartController } from '../context.ts';
import { healthRuleFromCrd, type HealthRule } from '../../work/health/index.ts';
import { MemberWatches } from '../../work/member-watches.ts';
import { WORKS, type DriftCounter } from '../../work/applier.ts';
import { CLUSTERS } from '../members/registry.ts';
import { ExecutionReconciler } from './reconcile.ts';

export const CONTROLLER_NAME = 'execution';
export const WORKERS = 8;
export const DRIFT_METRIC = 'meridian_drift_reverted_total';

/** The drift counter on `registry`, created once (a restarted controller reuses it). */
export function driftCounter(registry: Registry): Counter<'cluster' | 'kind'> {
  const existing = registry.getSingleMetric(DRIFT_METRIC);
  if (existing !== undefined) return existing as Counter<'cluster' | 'kind'>;
  return new Counter({
    name: DRIFT_METRIC,
    help: 'Changes to objects Meridian applied in member clusters, made by someone else and reverted.',
    labelNames: ['cluster', 'kind'] as const,
    registers: [registry],
  });
}

/**
 * Health rules declared on hub CRDs (`meridian.dev/health-condition`, `meridian.dev/health-fields`),
 * indexed by group and kind and kept current from the CRD store. A rule that does not parse is
 * logged and ignored (the built-in interpretation applies).
 */
export function crdHealthRules(
  crds: StoreReader<KubeObject>,
  signal: AbortSignal,
  log: Logger,
): (group: string, kind: string) => HealthRule | undefined {
  const rules = new Map<string, HealthRule>();
  const byCrd = new Map<string, string>();
  const update = (crd: KubeObject, deleted: boolean): void => {
    const name = crd.metadata?.name ?? '';
    const previous = byCrd.get(name);
    if (previous !== undefined) rules.delete(previous);
    byCrd.delete(name);
    if (deleted) return;
    const r = healthRuleFromCrd(crd as Parameters<typeof healthRuleFromCrd>[0]);
    if (r === undefined) return;
    if (!r.result.ok) {
      log.warn({ crd: name, error: r.result.error }, 'ignoring invalid health rule on CRD');
      return;
    }
    if (r.result.rule === undefined) return;
    const id = `${r.group}/${r.kind}`;
    rules.set(id, r.result.rule);
    byCrd.set(name, id);
  };
  crds.subscribe((c) => update(c.object, c.type === 'delete'), signal);
  void crds.ready.then(() => {
    for (const crd of crds.list()) update(crd, false);
  });
  return (group, kind) => rules.get(`${group}/${kind}`);
}

const isReady = (c: KubeObject): boolean =>
  (c as { status?: { conditions?: Array<{ type?: string; status?: string }> } }).status?.conditions?.some(
    (x) => x.type === ConditionTypes.Ready && x.status === 'True',
  ) ?? false;

/** Starts the execution controller; resolves when `ctx.signal` aborts and in-flight reconciles end. */
export const startExecutionController: StartController = async (ctx) => {
  const log = ctx.log;
  const works = ctx.informers.informer(WORKS);
  const clusters = ctx.informers.informer<Cluster>(CLUSTERS);
  const crds = ctx.informers.informer(CRDS);
  const enqueue = (key: ObjectKey): void => {
    controller.queue.add(key);
  };
  const watches = new MemberWatches(ctx.members, enqueue, ctx.signal, log);
  const reconciler = new ExecutionReconciler({
    hub: ctx.hub,
    works,
    clusters,
    members: ctx.members,
    watches,
    recorder: ctx.recorder,
    drift: driftCounter(ctx.metrics) satisfies DriftCounter,
    healthRule: crdHealthRules(crds, ctx.signal, log),
  });
  const controller = defineController({
    name: CONTROLLER_NAME,
    for: { store: works, apiVersion: API_VERSION, kind: Kinds.Work },
    // Mapped below with more context than a store change gives; listed so the runner waits for them.
    watches: [
      { source: clusters, map: () => [] },
      { source: crds, map: () => [] },
    ],
    reconciler,
    workers: WORKERS,
    log,
  });

  const worksOf = (cluster: string): ObjectKey[] => {
    const ns = clusterNamespace(cluster);
    return works
      .list()
      .filter((w) => w.metadata?.namespace === ns)
      .map((w) => keyOf(w));
  };
  ctx.members.subscribe((cluster) => {
    watches.sync(cluster);
    for (const k of worksOf(cluster)) enqueue(k);
  }, ctx.signal);
  clusters.subscribe((change) => {
    const name = change.object.metadata?.name;
    if (name === undefined) return;
    const leaving =
      change.type === 'delete' ||
      (change.object.metadata?.deletionTimestamp !== undefined &&
        change.old?.metadata?.deletionTimestamp === undefined);
    // Back to Ready after an outage: retry what waited on it now (a Work deleted while the
    // member was down removes its objects there), not when its backoff happens to expire.
    const back =
      change.type !== 'delete' && isReady(change.object) && change.old !== undefined && !isReady(change.old);
    if (leaving || back) for (const k of worksOf(name)) enqueue(k);
  }, ctx.signal);

  await controller.run(ctx.signal);
};
