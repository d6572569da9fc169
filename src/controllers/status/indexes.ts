/**
 * In-memory indexes over shared informer stores, so a reconcile finds a binding's Works and
 * an event on a template finds its binding without scanning every object. Both are kept
 * current by store subscriptions (cheap, synchronous) and seeded from the store's contents,
 * so they are as eventually consistent as the stores themselves. Memory: one entry per
 * indexed object.
 */
import { createHash } from 'node:crypto';
import { Labels } from '../../api/constants.ts';
import type { ResourceBinding } from '../../api/resource-binding.ts';
import type { Work } from '../../api/work.ts';
import { keyOf, objectKey, type ObjectKey } from '../../kube/object-key.ts';
import type { StoreChange, StoreReader } from '../../kube/store.ts';

/**
 * The value of the `meridian.dev/binding-name` label for a binding name: the name itself, or
 * when longer than a label allows, a 52-character prefix plus a hash. Must match what the
 * binding controller writes on Works (`bindingLabels` in `../binding/render.ts`).
 */
export function bindingLabelValue(name: string): string {
  if (name.length <= 63) return name;
  return `${name.slice(0, 52)}-${createHash('sha256').update(name).digest('hex').slice(0, 10)}`;
}

/** The (namespace, name-label) pair a Work's labels point at, or `undefined` if unlabelled. */
function workOwner(w: Work): string | undefined {
  const name = w.metadata.labels?.[Labels.bindingName];
  if (name === undefined || name === '') return undefined;
  return `${w.metadata.labels?.[Labels.bindingNamespace] ?? ''}/${name}`;
}

const bindingOwner = (b: { metadata: { namespace?: string; name?: string } }): string =>
  `${b.metadata.namespace ?? ''}/${bindingLabelValue(b.metadata.name ?? '')}`;

class MultiMap<V> {
  readonly #m = new Map<string, Set<V>>();
  add(k: string, v: V): void {
    let s = this.#m.get(k);
    if (s === undefined) this.#m.set(k, (s = new Set()));
    s.add(v);
  }
  delete(k: string, v: V): void {
    const s = this.#m.get(k);
    if (s === undefined) return;
    s.delete(v);
    if (s.size === 0) this.#m.delete(k);
  }
  get(k: string): ReadonlySet<V> {
    return this.#m.get(k) ?? new Set();
  }
}

/** Follows a store: `keysOf` says under which index keys an object is filed. */
function follow<O>(
  store: StoreReader<O>,
  index: MultiMap<ObjectKey>,
  keysOf: (o: O) => readonly string[],
  idOf: (o: O) => ObjectKey,
  signal: AbortSignal,
): void {
  const on = (c: StoreChange<O>): void => {
    if (c.type === 'apply' && c.old !== undefined) for (const k of keysOf(c.old)) index.delete(k, c.key);
    if (c.type === 'delete') for (const k of keysOf(c.object)) index.delete(k, c.key);
    else for (const k of keysOf(c.object)) index.add(k, c.key);
  };
  store.subscribe(on, signal);
  // Subscribing does not replay: file what the store already holds (re-adding is harmless).
  for (const o of store.list()) for (const k of keysOf(o)) index.add(k, idOf(o));
}

/** A binding's Works, found through the labels the binding controller puts on them. */
export class WorkIndex {
  readonly #works: StoreReader<Work>;
  readonly #byOwner = new MultiMap<ObjectKey>();

  constructor(works: StoreReader<Work>, signal: AbortSignal) {
    this.#works = works;
    follow(
      works,
      this.#byOwner,
      (w) => {
        const o = workOwner(w);
        return o === undefined ? [] : [o];
      },
      (w) => keyOf(w),
      signal,
    );
  }

  /** The Works labelled for `binding`, from the store (possibly including ones being deleted). */
  worksOf(binding: { metadata: { namespace?: string; name?: string } }): Work[] {
    const out: Work[] = [];
    for (const k of this.#byOwner.get(bindingOwner(binding))) {
      const w = this.#works.get(k);
      if (w !== undefined) out.push(w);
    }
    return out;
  }

  /**
   * Keys of the bindings (of one scope) a Work belongs to. Usually read straight off its labels;
   * a hashed (long) binding name is looked up among `bindings`.
   */
  static bindingKeys(
    w: Work,
    scope: 'Namespaced' | 'Cluster',
    bindings: StoreReader<ResourceBinding>,
  ): ObjectKey[] {
    const name = w.metadata.labels?.[Labels.bindingName];
    const ns = w.metadata.labels?.[Labels.bindingNamespace];
    if (name === undefined || name === '') return [];
    if ((scope === 'Namespaced') !== (ns !== undefined && ns !== '')) return [];
    if (name.length < 63) return [objectKey(ns, name)];
    return bindings
      .list()
      .filter(
        (b) =>
          (b.metadata.namespace ?? '') === (ns ?? '') && bindingLabelValue(b.metadata.name ?? '') === name,
      )
      .map((b) => keyOf(b));
  }
}

/** Bindings by the template they are about (`spec.resource`), for template → binding events. */
export class TemplateIndex {
  readonly #byResource = new MultiMap<ObjectKey>();

  constructor(bindings: StoreReader<ResourceBinding>, signal: AbortSignal) {
    follow(
      bindings,
      this.#byResource,
      (b) => [TemplateIndex.#id(b.spec.resource)],
      (b) => keyOf(b),
      signal,
    );
  }

  /** Keys of the bindings whose `spec.resource` is this object of type `group`/`kind`. */
  bindingsOf(group: string, kind: string, namespace: string | undefined, name: string): ObjectKey[] {
    return [...this.#byResource.get(`${group}|${kind}|${namespace ?? ''}|${name}`)];
  }

  static #id(r: ResourceBinding['spec']['resource'] | undefined): string {
    if (r === undefined) return '';
    const group = r.apiVersion.includes('/') ? (r.apiVersion.split('/')[0] ?? '') : '';
    return `${group}|${r.kind}|${r.namespace ?? ''}|${r.name}`;
  }
}
