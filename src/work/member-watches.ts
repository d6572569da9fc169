/**
 * Event-driven status and drift: for each (cluster, resource type) a Work applied, a
 * subscription to the member's shared informer of Meridian-managed objects of that type
 * (label selector `app.kubernetes.io/managed-by=meridian`), mapping every change back to the
 * Work named by the object's labels.
 *
 * Bounded: one subscription per (cluster, type) ever requested, i.e. by the kinds the Works
 * use. Subscriptions belong to one `ApplyTarget`: when the registry replaces or drops it,
 * `sync(cluster)` ends them and the next reconcile subscribes on the new connection.
 */
import { clusterNamespace } from '../api/index.ts';
import type { ResourceType } from '../kube/api-client.ts';
import type { Logger } from '../kube/log.ts';
import { objectKey, type ObjectKey } from '../kube/object-key.ts';
import type { StoreChange, StoreReader } from '../kube/store.ts';
import type { KubeObject } from '../kube/wire.ts';
import type { ApplyTarget, ApplyTargets } from './target.ts';
import { MANAGED_SELECTOR, WorkLabels } from './manifest.ts';

interface ClusterWatches {
  readonly conn: ApplyTarget;
  readonly abort: AbortController;
  readonly stores: Map<string, StoreReader<KubeObject>>;
}

/** The Work key an applied member object belongs to, if it is one of `cluster`'s Works. */
export function workKeyOf(obj: KubeObject | undefined, cluster: string): ObjectKey | undefined {
  const labels = obj?.metadata?.labels;
  const ns = labels?.[WorkLabels.workNamespace];
  const name = labels?.[WorkLabels.workName];
  if (ns === undefined || name === undefined || ns !== clusterNamespace(cluster)) return undefined;
  try {
    return objectKey(ns, name);
  } catch {
    return undefined;
  }
}

export class MemberWatches {
  readonly #registry: ApplyTargets;
  readonly #onWork: (key: ObjectKey) => void;
  readonly #signal: AbortSignal;
  readonly #log: Logger;
  readonly #clusters = new Map<string, ClusterWatches>();

  /** `onWork` is called (synchronously, from informer handlers: keep it cheap) per affected Work. */
  constructor(registry: ApplyTargets, onWork: (key: ObjectKey) => void, signal: AbortSignal, log: Logger) {
    this.#registry = registry;
    this.#onWork = onWork;
    this.#signal = signal;
    this.#log = log;
    signal.addEventListener('abort', () => {
      for (const c of this.#clusters.values()) c.abort.abort();
      this.#clusters.clear();
    });
  }

  /**
   * The member store of Meridian-managed objects of type `rt` in `conn`'s cluster, subscribed
   * on first use. The store may not be ready yet.
   */
  store(conn: ApplyTarget, rt: ResourceType): StoreReader<KubeObject> {
    const cluster = conn.cluster;
    let entry = this.#clusters.get(cluster);
    if (entry !== undefined && entry.conn !== conn) {
      entry.abort.abort();
      entry = undefined;
    }
    if (entry === undefined) {
      entry = { conn, abort: new AbortController(), stores: new Map() };
      this.#clusters.set(cluster, entry);
    }
    const id = `${rt.group}/${rt.version}/${rt.resource}`;
    const existing = entry.stores.get(id);
    if (existing !== undefined) return existing;
    const store = conn.informer(rt, { labelSelector: MANAGED_SELECTOR });
    const signal = AbortSignal.any([this.#signal, entry.abort.signal]);
    store.subscribe((change: StoreChange<KubeObject>) => {
      const now = workKeyOf(change.object, cluster);
      if (now !== undefined) this.#onWork(now);
      // Labels changed by someone: the Work they used to name must look too.
      const before = change.type === 'apply' ? workKeyOf(change.old, cluster) : undefined;
      if (before !== undefined && before !== now) this.#onWork(before);
    }, signal);
    entry.stores.set(id, store);
    this.#log.debug({ cluster, resource: rt.resource, group: rt.group }, 'watching applied objects');
    return store;
  }

  /** Drops subscriptions on a connection the registry no longer holds for `cluster`. */
  sync(cluster: string): void {
    const entry = this.#clusters.get(cluster);
    if (entry !== undefined && this.#registry.get(cluster) !== entry.conn) {
      entry.abort.abort();
      this.#clusters.delete(cluster);
    }
  }
}
