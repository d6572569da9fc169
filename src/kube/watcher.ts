/**
 * `watch()`: the list-then-watch state machine of client-go's reflector / kube-rs' watcher, as
 * an async iterable of level events.
 *
 *   init → initApply* → initDone → (apply | delete)*   … and again from `init` after a re-list.
 *
 * Guarantees:
 * - After `initDone`, the objects seen since the matching `init` are the complete set at the
 *   list's resourceVersion; a consumer that swaps its state at `initDone` drops objects
 *   deleted while it was not watching (see `store.ts`).
 * - Never throws for API failures: 410 Gone ⇒ a new `init` cycle (consistent list); any other
 *   error ⇒ retry after exponential backoff with jitter, reported through `onError`.
 * - Bookmarks only advance the resourceVersion; they are not yielded.
 * - `metadata.managedFields` is stripped from every object.
 * - Aborting `signal` ends the iteration without an error. Breaking out of `for await` also
 *   aborts the underlying list/watch request.
 * Caveats: a list page is held in memory (`pageSize` objects); events are yielded one at a time,
 * so a slow consumer applies backpressure to the HTTP stream rather than buffering.
 */
import { backoffDelay, systemClock, type Clock } from './clock.ts';
import { fromStatus, GoneError, KubeError } from './errors.ts';
import type { KubeList, KubeObject, ListOptions, RawWatchEvent, WatchOptions } from './wire.ts';
import { stripManagedFields } from './wire.ts';

export type WatchEvent<K> =
  | { readonly type: 'init' }
  | { readonly type: 'initApply'; readonly object: K }
  | { readonly type: 'initDone' }
  | { readonly type: 'apply'; readonly object: K }
  | { readonly type: 'delete'; readonly object: K };

/**
 * Where a watcher reads from: one resource type, with any namespace/selector already bound.
 * `api-client.ts` implements it over HTTP; tests implement it with arrays and generators.
 */
export interface WatchSource<K> {
  list(opts: ListOptions, signal: AbortSignal): Promise<KubeList<K>>;
  /** Streams raw events until the server ends the watch, `signal` aborts, or an error is thrown. */
  watch(opts: WatchOptions, signal: AbortSignal): AsyncIterable<RawWatchEvent<K>>;
}

/** Which list serves the first `init`: `any` = RV "0" (API server cache), `consistent` = quorum read. */
export type InitialList = 'any' | 'consistent';

export interface WatcherOptions {
  /** Objects per list page (`limit`). Default 500. */
  readonly pageSize?: number;
  /** Default `any`; re-lists after 410 Gone are always `consistent` (never go back in time). */
  readonly initialList?: InitialList;
  /** Watch `timeoutSeconds` is drawn uniformly from this range. Default [300, 600]. */
  readonly timeoutSecondsRange?: readonly [number, number];
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  readonly clock?: Clock;
  /** Source of randomness for jitter; injectable for tests. */
  readonly random?: () => number;
  /** Called for every failure before its backoff; must not throw. */
  readonly onError?: (
    err: unknown,
    info: { readonly phase: 'list' | 'watch'; readonly delayMs: number },
  ) => void;
}

const DEFAULT_BACKOFF = { initialMs: 800, maxMs: 30_000 } as const;

type Phase =
  { readonly kind: 'list'; readonly list: InitialList } | { readonly kind: 'watch'; readonly rv: string };

function rvOf(obj: KubeObject): string | undefined {
  return obj.metadata?.resourceVersion;
}

/** Watches `source` until `signal` aborts; see the module doc for the contract. */
export async function* watch<K extends KubeObject>(
  source: WatchSource<K>,
  opts: WatcherOptions,
  signal: AbortSignal,
): AsyncGenerator<WatchEvent<K>, void, undefined> {
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? Math.random;
  const backoff = opts.backoff ?? DEFAULT_BACKOFF;
  const pageSize = opts.pageSize ?? 500;
  const [minTimeout, maxTimeout] = opts.timeoutSecondsRange ?? [300, 600];
  let phase: Phase = { kind: 'list', list: opts.initialList ?? 'any' };
  // Consecutive failures without progress: drives the backoff, reset by any successful step.
  let failures = 0;

  // One controller per request so a `break` by the consumer (generator return) aborts I/O.
  const fail = async (err: unknown, where: 'list' | 'watch'): Promise<void> => {
    const delayMs = backoffDelay(failures, { ...backoff, jitter: 0.5 }, random);
    failures++;
    opts.onError?.(err, { phase: where, delayMs });
    await clock.sleep(delayMs, signal);
  };

  while (!signal.aborted) {
    const request = new AbortController();
    const onAbort = (): void => request.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      if (phase.kind === 'list') {
        yield { type: 'init' };
        let cont: string | undefined;
        let rv: string | undefined;
        do {
          const page: KubeList<K> = await source.list(
            cont !== undefined
              ? { limit: pageSize, continue: cont }
              : phase.list === 'any'
                ? { limit: pageSize, resourceVersion: '0' }
                : { limit: pageSize },
            request.signal,
          );
          // List items carry no apiVersion/kind (the list does); restore them, so every object
          // in a store is self-describing whether it came from a list or a watch event.
          const typeMeta = listItemTypeMeta(page);
          for (const item of page.items) {
            yield { type: 'initApply', object: stripManagedFields(withTypeMeta(item, typeMeta)) };
          }
          rv = page.metadata.resourceVersion;
          cont = page.metadata.continue === '' ? undefined : page.metadata.continue;
        } while (cont !== undefined && !signal.aborted);
        if (signal.aborted) return;
        if (rv === undefined || rv === '')
          throw new KubeError('Protocol', 'list response without resourceVersion');
        yield { type: 'initDone' };
        phase = { kind: 'watch', rv };
      } else {
        const timeoutSeconds = Math.round(minTimeout + random() * (maxTimeout - minTimeout));
        let rv: string = phase.rv;
        try {
          for await (const ev of source.watch(
            { resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds },
            request.signal,
          )) {
            if (ev.type === 'ERROR') throw fromStatus(ev.object);
            const next = rvOf(ev.object);
            if (next !== undefined && next !== '') rv = next;
            failures = 0;
            if (ev.type === 'BOOKMARK') continue;
            const object = stripManagedFields(ev.object);
            yield ev.type === 'DELETED' ? { type: 'delete', object } : { type: 'apply', object };
          }
          // The server closed the watch (timeoutSeconds): resume from the last seen RV.
          failures = 0;
        } finally {
          phase = { kind: 'watch', rv };
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof GoneError) {
        // Our RV (or continue token) was compacted: re-list from a quorum read. Only back off
        // when Gone repeats without progress, so a normal compaction costs no delay.
        phase = { kind: 'list', list: 'consistent' };
        if (failures > 0) await fail(err, 'watch');
        else {
          failures++;
          opts.onError?.(err, { phase: 'watch', delayMs: 0 });
        }
      } else {
        // A failed list restarts the list (its partial pages are superseded by the next `init`).
        await fail(err, phase.kind);
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      request.abort();
    }
  }
}

/** The apiVersion/kind of a list's items: the list's apiVersion, its kind minus `List`. */
function listItemTypeMeta(list: { apiVersion?: string; kind?: string }): {
  apiVersion?: string;
  kind?: string;
} {
  const kind = list.kind?.endsWith('List') ? list.kind.slice(0, -'List'.length) : undefined;
  return { ...(list.apiVersion && { apiVersion: list.apiVersion }), ...(kind && { kind }) };
}

function withTypeMeta<K extends KubeObject>(item: K, typeMeta: { apiVersion?: string; kind?: string }): K {
  if (item.apiVersion !== undefined && item.kind !== undefined) return item;
  return { ...typeMeta, ...item };
}
