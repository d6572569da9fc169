/**
 * `createStore()`: the informer cache, split into a writer (fed by one watcher) and readers.
 *
 * Guarantees:
 * - `initApply` events are buffered and swapped in atomically at `initDone`: readers never see a
 *   half-listed state, and objects that vanished while not watching are dropped, with a
 *   synthetic `delete` notification to subscribers.
 * - Subscribers are called synchronously, in event order, after the store has changed; a
 *   throwing subscriber is isolated (reported via `onHandlerError`) and never stops the
 *   writer. Handlers must be cheap (enqueue a key): this is what keeps the watcher unblocked.
 * - `ready` resolves after the first `initDone` and never rejects.
 * Caveats: eventually consistent, like every informer; memory is bounded by the watched
 * scope (namespace/selectors), which is the caller's choice.
 */
import { keyOf, type ObjectKey } from './object-key.ts';
import { watch, type WatcherOptions, type WatchEvent, type WatchSource } from './watcher.ts';
import type { KubeObject } from './wire.ts';

export type StoreChange<K> =
  | { readonly type: 'apply'; readonly key: ObjectKey; readonly object: K; readonly old: K | undefined }
  | { readonly type: 'delete'; readonly key: ObjectKey; readonly object: K };

export type StoreHandler<K> = (change: StoreChange<K>) => void;

export interface StoreReader<K> {
  get(key: ObjectKey): K | undefined;
  /** A snapshot array; later changes do not affect it. */
  list(): K[];
  readonly size: number;
  /** Resolves once the first complete list has been swapped in. */
  readonly ready: Promise<void>;
  isReady(): boolean;
  /**
   * Calls `handler` for every later change until the returned function is called or `signal`
   * aborts. It does not replay current contents: read `list()` after subscribing.
   */
  subscribe(handler: StoreHandler<K>, signal?: AbortSignal): () => void;
}

export interface StoreWriter<K> {
  apply(event: WatchEvent<K>): void;
}

export interface StoreOptions<K> {
  readonly keyOf?: (obj: K) => ObjectKey;
  readonly onHandlerError?: (err: unknown) => void;
}

export function createStore<K extends KubeObject>(
  opts: StoreOptions<K> = {},
): { readonly reader: StoreReader<K>; readonly writer: StoreWriter<K> } {
  const keyFn = opts.keyOf ?? keyOf;
  let objects = new Map<ObjectKey, K>();
  let buffer: Map<ObjectKey, K> | undefined;
  let readyFlag = false;
  let resolveReady: () => void = () => {};
  const ready = new Promise<void>((r) => (resolveReady = r));
  const handlers = new Set<StoreHandler<K>>();

  const emit = (change: StoreChange<K>): void => {
    for (const h of handlers) {
      try {
        h(change);
      } catch (err) {
        opts.onHandlerError?.(err);
      }
    }
  };

  const writer: StoreWriter<K> = {
    apply(event) {
      switch (event.type) {
        case 'init':
          buffer = new Map();
          return;
        case 'initApply':
          // Outside an init cycle (should not happen) the event is treated as a plain apply.
          if (buffer !== undefined) {
            buffer.set(keyFn(event.object), event.object);
            return;
          }
          writer.apply({ type: 'apply', object: event.object });
          return;
        case 'initDone': {
          const next = buffer ?? new Map<ObjectKey, K>();
          const prev = objects;
          objects = next;
          buffer = undefined;
          if (!readyFlag) {
            readyFlag = true;
            resolveReady();
          }
          for (const [key, object] of prev) if (!next.has(key)) emit({ type: 'delete', key, object });
          for (const [key, object] of next) {
            const old = prev.get(key);
            // Unchanged objects are not re-announced: consumers are level-based.
            if (old === undefined || old.metadata?.resourceVersion !== object.metadata?.resourceVersion) {
              emit({ type: 'apply', key, object, old });
            }
          }
          return;
        }
        case 'apply': {
          const key = keyFn(event.object);
          const old = objects.get(key);
          objects.set(key, event.object);
          emit({ type: 'apply', key, object: event.object, old });
          return;
        }
        case 'delete': {
          const key = keyFn(event.object);
          objects.delete(key);
          emit({ type: 'delete', key, object: event.object });
          return;
        }
      }
    },
  };

  const reader: StoreReader<K> = {
    get: (key) => objects.get(key),
    list: () => [...objects.values()],
    get size() {
      return objects.size;
    },
    ready,
    isReady: () => readyFlag,
    subscribe(handler, signal) {
      // Wrap so the same function can subscribe twice and unsubscribe independently.
      const h: StoreHandler<K> = (c) => handler(c);
      handlers.add(h);
      const off = (): void => {
        handlers.delete(h);
        signal?.removeEventListener('abort', off);
      };
      signal?.addEventListener('abort', off, { once: true });
      if (signal?.aborted) off();
      return off;
    },
  };
  return { reader, writer };
}

/** Drives `writer` from `events` until they end (i.e. until the watcher's signal aborts). */
export async function reflector<K>(
  events: AsyncIterable<WatchEvent<K>>,
  writer: StoreWriter<K>,
): Promise<void> {
  for await (const event of events) writer.apply(event);
}

export interface Informer<K> {
  readonly reader: StoreReader<K>;
  /** Lists, watches and fills the store until `signal` aborts. Call once. */
  run(signal: AbortSignal): Promise<void>;
}

/** Source + watcher + store for one resource type (bind namespace/selectors in the source). */
export function createInformer<K extends KubeObject>(
  source: WatchSource<K>,
  opts: { readonly watcher?: WatcherOptions; readonly store?: StoreOptions<K> } = {},
): Informer<K> {
  const { reader, writer } = createStore<K>(opts.store);
  let started = false;
  return {
    reader,
    run(signal) {
      if (started) throw new Error('informer already running');
      started = true;
      return reflector(watch(source, opts.watcher ?? {}, signal), writer);
    },
  };
}
