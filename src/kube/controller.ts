/**
 * The reconciler runner (controller-runtime's `reconcileHandler`, kube-rs' `Controller`).
 *
 * Level-based: stores' changes become keys in one `WorkQueue`; a reconcile gets a key, never
 * the event. Outcomes:
 * - returns `{}`                 ⇒ `forget` (reset backoff);
 * - returns `{ requeueAfterMs }` ⇒ `forget`, then run again after that delay;
 * - throws `TerminalError`      ⇒ `forget`, no requeue; logged and counted;
 * - throws anything else        ⇒ requeue with the key's exponential backoff + token bucket.
 * A key is never reconciled by two workers at once (the queue's guarantee).
 */
import { TerminalError } from './errors.ts';
import { silentLogger, type Logger } from './log.ts';
import { keyOf, objectKey, type ObjectKey } from './object-key.ts';
import type { StoreChange, StoreReader } from './store.ts';
import type { KubeObject } from './wire.ts';
import { WorkQueue, type WorkQueueOptions } from './workqueue.ts';

export type Result = { readonly requeueAfterMs?: number };

export interface ReconcileContext {
  /** Aborted when the controller stops: long calls should pass it on. */
  readonly signal: AbortSignal;
  readonly log: Logger;
  /** Consecutive failures of this key so far (0 on a first or post-success attempt). */
  readonly retries: number;
}

export interface Reconciler {
  readonly name: string;
  reconcile(key: ObjectKey, ctx: ReconcileContext): Promise<Result>;
}

export type ReconcileOutcome = 'success' | 'requeue' | 'error' | 'terminal';

export interface ControllerMetrics {
  reconciled?(controller: string, outcome: ReconcileOutcome, durationMs: number): void;
}

let defaultMetrics: ControllerMetrics | undefined;

/** Sets the process-wide metrics of controllers defined afterwards without their own (src/kube/metrics.ts). */
export function setControllerMetrics(metrics: ControllerMetrics | undefined): void {
  defaultMetrics = metrics;
}

/** The primary kind: its store, and its type so `owns` can match ownerReferences. */
export interface ForSpec {
  readonly store: StoreReader<KubeObject>;
  readonly apiVersion: string;
  readonly kind: string;
  /** Default `Namespaced`; for a cluster-scoped owner the key of an owned object's owner has no namespace. */
  readonly scope?: 'Namespaced' | 'Cluster';
}

/** Any other store whose changes map to primary keys (e.g. a referenced ConfigMap). */
export interface WatchSpec<O extends KubeObject = KubeObject> {
  readonly source: StoreReader<O>;
  readonly map: (obj: O) => Iterable<ObjectKey>;
  /**
   * Coalescing window: a change seen through this watch runs its keys this long after the first
   * change of a burst, so the burst costs one reconcile (e.g. three members reporting status
   * within a second become one binding status write). Default 0: at once.
   */
  readonly coalesceMs?: number;
}

export interface ControllerSpec {
  readonly name: string;
  readonly for: ForSpec;
  /** Stores of objects whose ownerReferences point at the primary kind. */
  readonly owns?: readonly StoreReader<KubeObject>[];
  // `any` element type: each entry pairs a store with a map of the same object type, which an
  // array of `WatchSpec<KubeObject>` cannot express without existential types.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly watches?: readonly WatchSpec<any>[];
  readonly reconciler: Reconciler;
  /** Concurrent reconciles (distinct keys). Default 1. */
  readonly workers?: number;
  readonly queue?: WorkQueueOptions;
  readonly log?: Logger;
  readonly metrics?: ControllerMetrics;
  readonly clock?: { now(): number };
}

export interface Controller {
  readonly name: string;
  readonly queue: WorkQueue<ObjectKey>;
  /**
   * Subscribes to the stores, waits until they are all ready, enqueues every primary object and
   * runs the workers until `signal` aborts; then stops taking keys and resolves once in-flight
   * reconciles have finished. Call once.
   */
  run(signal: AbortSignal): Promise<void>;
}

/** Keys of the primary objects that own `obj` (kube-rs `trigger_owners`). */
export function ownerKeys(obj: KubeObject, owner: ForSpec): ObjectKey[] {
  const group = (apiVersion: string): string =>
    (apiVersion.includes('/') ? apiVersion.split('/')[0] : '') as string;
  const wanted = group(owner.apiVersion);
  const keys: ObjectKey[] = [];
  for (const ref of obj.metadata?.ownerReferences ?? []) {
    if (ref.kind !== owner.kind || group(ref.apiVersion) !== wanted) continue;
    keys.push(objectKey(owner.scope === 'Cluster' ? undefined : obj.metadata?.namespace, ref.name));
  }
  return keys;
}

export function defineController(spec: ControllerSpec): Controller {
  const log = spec.log ?? silentLogger;
  const now = spec.clock?.now ?? Date.now;
  const queue = new WorkQueue<ObjectKey>({ name: spec.name, ...spec.queue });
  const metrics = spec.metrics ?? defaultMetrics;
  let started = false;

  const process = async (key: ObjectKey, signal: AbortSignal): Promise<void> => {
    const t0 = now();
    const retries = queue.numRequeues(key);
    let outcome: ReconcileOutcome;
    try {
      const result = await spec.reconciler.reconcile(key, { signal, log, retries });
      queue.forget(key);
      if (result.requeueAfterMs !== undefined) {
        outcome = 'requeue';
        queue.addAfter(key, result.requeueAfterMs);
      } else outcome = 'success';
    } catch (err) {
      if (err instanceof TerminalError) {
        outcome = 'terminal';
        queue.forget(key);
        log.error({ controller: spec.name, key, err }, 'reconcile failed terminally; not requeued');
      } else {
        outcome = 'error';
        if (!signal.aborted) queue.addRateLimited(key);
        log.warn(
          { controller: spec.name, key, err, retries: retries + 1 },
          'reconcile failed; requeued with backoff',
        );
      }
    } finally {
      queue.done(key);
    }
    metrics?.reconciled?.(spec.name, outcome, now() - t0);
  };

  return {
    name: spec.name,
    queue,
    async run(signal) {
      if (started) throw new Error(`controller ${spec.name} already ran`);
      started = true;
      const enqueue = (keys: Iterable<ObjectKey>, delayMs = 0): void => {
        for (const k of keys) queue.addAfter(k, delayMs);
      };
      // Subscriptions must not outlive the run.
      const subs = new AbortController();
      signal.addEventListener('abort', () => subs.abort(), { once: true });
      const guarded =
        <O>(fn: (o: O) => Iterable<ObjectKey>, delayMs = 0) =>
        (change: StoreChange<O>): void => {
          try {
            enqueue(fn(change.object), delayMs);
          } catch (err) {
            log.error({ controller: spec.name, err }, 'event mapping failed');
          }
        };
      spec.for.store.subscribe(
        guarded((o: KubeObject) => [keyOf(o)]),
        subs.signal,
      );
      for (const store of spec.owns ?? []) {
        store.subscribe(
          guarded((o: KubeObject) => ownerKeys(o, spec.for)),
          subs.signal,
        );
      }
      for (const w of spec.watches ?? []) w.source.subscribe(guarded(w.map, w.coalesceMs), subs.signal);

      const stores = [spec.for.store, ...(spec.owns ?? []), ...(spec.watches ?? []).map((w) => w.source)];
      const aborted = new Promise<void>((r) => {
        if (signal.aborted) r();
        signal.addEventListener('abort', () => r(), { once: true });
      });
      await Promise.race([Promise.all(stores.map((s) => s.ready)), aborted]);
      if (signal.aborted) {
        queue.shutDown();
        return;
      }
      enqueue(spec.for.store.list().map((o) => keyOf(o)));
      log.info({ controller: spec.name, workers: spec.workers ?? 1 }, 'caches synced; starting workers');

      const worker = async (): Promise<void> => {
        for (;;) {
          const key = await queue.get(signal);
          if (key === undefined) return;
          if (signal.aborted) {
            queue.done(key);
            return;
          }
          await process(key, signal);
        }
      };
      const workers = Array.from({ length: Math.max(1, spec.workers ?? 1) }, worker);
      await aborted;
      queue.shutDown();
      await Promise.all(workers);
      subs.abort();
      log.info({ controller: spec.name }, 'stopped');
    },
  };
}
