// The page's copy of the fleet: the last snapshot with every change since applied. Each
// update returns a new model (new Map for the touched collection) so Preact re-renders.
import type {
  BindingView,
  Change,
  ClusterView,
  Collection,
  EventView,
  Snapshot,
  WorkView,
} from '../../src/dashboard/wire.ts';

export interface Model {
  readonly user: string;
  readonly clusters: ReadonlyMap<string, ClusterView>;
  readonly bindings: ReadonlyMap<string, BindingView>;
  readonly works: ReadonlyMap<string, WorkView>;
  readonly events: ReadonlyMap<string, EventView>;
}

const byKey = <V extends { key: string }>(list: readonly V[]) => new Map(list.map((v) => [v.key, v]));

export function fromSnapshot(s: Snapshot): Model {
  return {
    user: s.user,
    clusters: byKey(s.clusters),
    bindings: byKey(s.bindings),
    works: byKey(s.works),
    events: byKey(s.events),
  };
}

export function applyChange(m: Model, c: Change): Model {
  const next = new Map(m[c.collection as Collection] as ReadonlyMap<string, { key: string }>);
  if (c.type === 'delete') next.delete(c.key);
  else next.set(c.value.key, c.value);
  return { ...m, [c.collection]: next };
}

/** Works rendered from `b`, by cluster. */
export function worksOf(m: Model, b: BindingView): WorkView[] {
  return [...m.works.values()]
    .filter((w) => w.binding === b.key)
    .sort((x, y) => x.cluster.localeCompare(y.cluster));
}

/** Warning events about `b`, its Works or its template, newest first. */
export function eventsOf(m: Model, b: BindingView): EventView[] {
  const works = new Set(worksOf(m, b).map((w) => w.key));
  const r = b.resource;
  return [...m.events.values()]
    .filter((e) => {
      const g = e.regarding;
      if (g.kind === b.kind && g.namespace === b.namespace && g.name === b.name) return true;
      if (g.kind === 'Work' && works.has(`${g.namespace}/${g.name}`)) return true;
      return g.kind === r.kind && g.namespace === r.namespace && g.name === r.name;
    })
    .sort((x, y) => y.time.localeCompare(x.time));
}
