/**
 * The minimal Kubernetes wire shapes this layer reads. Objects stay `unknown`-ish beyond
 * `metadata`: callers narrow `K` with their own (schema-derived) types.
 */

export interface OwnerReference {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
  readonly controller?: boolean;
  readonly blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  readonly name?: string;
  readonly generateName?: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly resourceVersion?: string;
  readonly generation?: number;
  readonly creationTimestamp?: string;
  readonly deletionTimestamp?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly finalizers?: readonly string[];
  readonly ownerReferences?: readonly OwnerReference[];
  readonly managedFields?: readonly unknown[];
}

/** Any Kubernetes object: only `metadata` is relied upon. */
export interface KubeObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: ObjectMeta;
}

export interface ListMeta {
  readonly resourceVersion?: string;
  readonly continue?: string;
  readonly remainingItemCount?: number;
}

export interface KubeList<K> {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata: ListMeta;
  readonly items: readonly K[];
}

/** A raw event of the watch wire protocol; `ERROR` carries a `Status` object. */
export type RawWatchEvent<K> =
  | { readonly type: 'ADDED' | 'MODIFIED' | 'DELETED'; readonly object: K }
  | { readonly type: 'BOOKMARK'; readonly object: KubeObject }
  | { readonly type: 'ERROR'; readonly object: unknown };

/** Options of a list call; `resourceVersion` must not be combined with `continue`. */
export interface ListOptions {
  readonly limit?: number;
  readonly continue?: string;
  readonly resourceVersion?: string;
  readonly resourceVersionMatch?: 'NotOlderThan' | 'Exact';
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
}

export interface WatchOptions {
  readonly resourceVersion?: string;
  readonly allowWatchBookmarks?: boolean;
  readonly timeoutSeconds?: number;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** Send initial events as ADDED then a bookmark (WatchList, Kubernetes ≥ 1.32). Not used by `watcher.ts`. */
  readonly sendInitialEvents?: boolean;
  /** Required (`NotOlderThan`) with `sendInitialEvents`. */
  readonly resourceVersionMatch?: 'NotOlderThan';
}

/** RFC 6902 operations. */
export type JsonPatchOp =
  | { readonly op: 'add' | 'replace' | 'test'; readonly path: string; readonly value: unknown }
  | { readonly op: 'remove'; readonly path: string }
  | { readonly op: 'move' | 'copy'; readonly from: string; readonly path: string };

/** Returns `obj` without `metadata.managedFields` (a shallow copy only when there was something to strip). */
export function stripManagedFields<K extends KubeObject>(obj: K): K {
  const meta = obj.metadata;
  if (meta === undefined || meta.managedFields === undefined) return obj;
  const { managedFields: _dropped, ...rest } = meta;
  return { ...obj, metadata: rest };
}
