/**
 * The dashboard's live model of the fleet: hub informers (clusters, bindings, Works, Warning
 * events) projected into views (project.ts), kept per collection and key. Every change whose
 * view differs from the last one sent goes to the listeners — a Cluster heartbeat that only
 * moves a timestamp still counts, a resync that changes nothing does not.
 *
 * Memory is bounded by what the informers hold (the hub's objects of four kinds) plus one
 * projected view per object; events are capped at `maxEvents`, oldest dropped first.
 */
import { API_VERSION, GROUP, Kinds, Plurals, VERSION } from '../api/constants.ts';
import type { Cluster, ResourceBinding, Work } from '../api/index.ts';
import type { ResourceType } from '../kube/api-client.ts';
import type { InformerFactory } from '../kube/informer-factory.ts';
import type { StoreReader } from '../kube/store.ts';
import type { KubeObject } from '../kube/wire.ts';
import { bindingView, clusterView, eventView, workView } from './project.ts';
import type { Change, Collection, Snapshot } from './wire.ts';

const meridian = (kind: keyof typeof Plurals, scope: ResourceType['scope']): ResourceType => ({
  group: GROUP,
  version: VERSION,
  resource: Plurals[kind],
  scope,
  kind: Kinds[kind],
});

/** What the dashboard watches on the hub. */
export const WatchedResources = {
  Cluster: meridian('Cluster', 'Cluster'),
  ResourceBinding: meridian('ResourceBinding', 'Namespaced'),
  ClusterResourceBinding: meridian('ClusterResourceBinding', 'Cluster'),
  Work: meridian('Work', 'Namespaced'),
  Event: { group: 'events.k8s.io', version: 'v1', resource: 'events', scope: 'Namespaced', kind: 'Event' },
} as const satisfies Record<string, ResourceType>;

/** Only Warning events, and of those only Meridian's (drift reverted, override failed, …). */
const EVENT_SCOPE = { fieldSelector: 'type=Warning' };
const isMeridianEvent = (e: KubeObject): boolean =>
  String((e as { reportingController?: unknown }).reportingController ?? '').startsWith('meridian') ||
  (e as { regarding?: { apiVersion?: string } }).regarding?.apiVersion === API_VERSION;

type View = Snapshot[Collection][number];
type Listener = (change: Change) => void;

export class FleetState {
  readonly #views: Record<Collection, Map<string, { json: string; value: View }>> = {
    clusters: new Map(),
    bindings: new Map(),
    works: new Map(),
    events: new Map(),
  };
  readonly #listeners = new Set<Listener>();
  readonly #maxEvents: number;
  /** Resolves once every informer has listed (the first snapshot is complete). */
  readonly ready: Promise<void>;

  constructor(informers: InformerFactory, signal: AbortSignal, opts: { maxEvents?: number } = {}) {
    this.#maxEvents = opts.maxEvents ?? 500;
    const stores: Promise<void>[] = [];
    const follow = <K extends KubeObject>(
      collection: Collection,
      store: StoreReader<K>,
      project: (o: K) => View | undefined,
    ): void => {
      store.subscribe((c) => {
        if (c.type === 'delete') this.#delete(collection, c.object, project);
        else this.#upsert(collection, project(c.object));
      }, signal);
      // A shared informer may already be running: take what it holds (re-sends nothing unchanged).
      for (const o of store.list()) this.#upsert(collection, project(o));
      stores.push(store.ready);
    };
    follow('clusters', informers.informer<Cluster>(WatchedResources.Cluster), clusterView);
    follow('bindings', informers.informer<ResourceBinding>(WatchedResources.ResourceBinding), bindingView);
    follow(
      'bindings',
      informers.informer<ResourceBinding>(WatchedResources.ClusterResourceBinding),
      bindingView,
    );
    follow('works', informers.informer<Work>(WatchedResources.Work), workView);
    follow('events', informers.informer(WatchedResources.Event, EVENT_SCOPE), (e) =>
      isMeridianEvent(e) ? eventView(e) : undefined,
    );
    this.ready = Promise.all(stores).then(() => {});
  }

  snapshot(user: string): Snapshot {
    const values = <V>(c: Collection) => [...this.#views[c].values()].map((v) => v.value as V);
    return {
      user,
      clusters: values('clusters'),
      bindings: values('bindings'),
      works: values('works'),
      events: values('events'),
    };
  }

  /** Calls `listener` for every later change, synchronously; it must be cheap (queue, write). */
  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(change: Change): void {
    for (const l of this.#listeners) l(change);
  }

  #upsert(collection: Collection, value: View | undefined): void {
    if (value === undefined) return;
    const map = this.#views[collection];
    const json = JSON.stringify(value);
    if (map.get(value.key)?.json === json) return;
    map.delete(value.key); // re-insert: map order is recency, which the event cap relies on
    map.set(value.key, { json, value });
    this.#emit({ type: 'upsert', collection, value } as Change);
    if (collection === 'events' && map.size > this.#maxEvents) {
      const oldest = map.keys().next().value as string;
      map.delete(oldest);
      this.#emit({ type: 'delete', collection, key: oldest });
    }
  }

  #delete<K>(collection: Collection, object: K, project: (o: K) => View | undefined): void {
    const key = project(object)?.key;
    if (key === undefined || !this.#views[collection].delete(key)) return;
    this.#emit({ type: 'delete', collection, key });
  }
}
