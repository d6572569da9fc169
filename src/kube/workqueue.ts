/**
 * `WorkQueue`: client-go's rate-limited delaying queue (`util/workqueue`), for keys not events.
 *
 * Guarantees:
 * - `add` dedupes: a key waiting in the queue is held once however often it is added.
 * - A key is handed to at most one worker at a time. A key added while it is being processed is
 *   marked dirty and handed out again only after `done(key)`: nothing is lost, nothing runs twice
 *   concurrently.
 * - `addRateLimited` delays by max(per-key exponential backoff `baseDelayMs·2^n` capped at
 *   `maxDelayMs`, overall token bucket `qps`/`burst`); `forget` resets the key's backoff.
 * - `addAfter` keeps the earliest requested time per key; delays are timer-driven (one timer
 *   for the earliest item), never polled.
 * - Bounded: at most `maxSize` distinct keys are queued or waiting. Past that, `add` of a *new*
 *   key is refused (returns `false`) and reported through `metrics.dropped`; keys already known
 *   are unaffected. Level-based controllers recover dropped keys from their stores on the next
 *   event or resync, so the cap is a safety net against runaway growth, not a flow-control knob.
 * - After `shutDown()`, adds are ignored and `get` resolves `undefined` once the queue is empty
 *   of ready keys (workers drain already-queued keys unless they stop themselves).
 */
import { systemClock, type Clock, type Timer } from './clock.ts';
import { TokenBucket } from './token-bucket.ts';

export interface WorkQueueMetrics {
  /** Queue depth (ready keys) after every change. */
  depth?(depth: number): void;
  /** A key was queued (not counting adds of a key already waiting). */
  added?(key: string): void;
  /** A key was refused because the queue was full. */
  dropped?(key: string): void;
  /** A key was re-added through `addRateLimited`. */
  retried?(key: string, delayMs: number): void;
}

export interface WorkQueueOptions {
  /** Distinct keys queued + waiting. Default 100 000. */
  readonly maxSize?: number;
  /** Per-key backoff. Defaults 5 ms → 1 000 s, as client-go. */
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Overall retry rate limit. Defaults 10 qps, burst 100, as client-go. */
  readonly qps?: number;
  readonly burst?: number;
  readonly clock?: Clock;
  /** Explicit metrics; else, for a named queue, the process's provider's (see `setWorkQueueMetricsProvider`). */
  readonly metrics?: WorkQueueMetrics;
  /** The queue's name in metrics (a controller's queue is named after the controller). */
  readonly name?: string;
}

/** Makes the metrics of a named queue (client-go's `workqueue.SetProvider`). */
export type WorkQueueMetricsProvider = (name: string) => WorkQueueMetrics;
let metricsProvider: WorkQueueMetricsProvider | undefined;

/** Sets the process-wide provider used by named queues created afterwards (src/kube/metrics.ts). */
export function setWorkQueueMetricsProvider(provider: WorkQueueMetricsProvider | undefined): void {
  metricsProvider = provider;
}

interface Waiting<T> {
  readonly key: T;
  readonly at: number;
}

export class WorkQueue<T extends string = string> {
  readonly #maxSize: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #clock: Clock;
  readonly #metrics: WorkQueueMetrics;
  readonly #bucket: TokenBucket;
  /** Ready keys in FIFO order (a Set keeps insertion order). */
  readonly #queue = new Set<T>();
  /** Keys that need processing: queued, or added again while processing. */
  readonly #dirty = new Set<T>();
  readonly #processing = new Set<T>();
  readonly #failures = new Map<T, number>();
  /** Delayed keys → their earliest ready time, plus a min-heap with lazy deletion. */
  readonly #waiting = new Map<T, number>();
  #heap: Waiting<T>[] = [];
  #timer: { readonly at: number; readonly handle: Timer } | undefined;
  readonly #getters: ((key: T | undefined) => void)[] = [];
  #shuttingDown = false;

  constructor(opts: WorkQueueOptions = {}) {
    this.#maxSize = opts.maxSize ?? 100_000;
    this.#baseDelayMs = opts.baseDelayMs ?? 5;
    this.#maxDelayMs = opts.maxDelayMs ?? 1_000_000;
    this.#clock = opts.clock ?? systemClock;
    this.#metrics =
      opts.metrics ?? (opts.name !== undefined && metricsProvider ? metricsProvider(opts.name) : {});
    this.#bucket = new TokenBucket(opts.qps ?? 10, opts.burst ?? 100, this.#clock);
  }

  /** Ready keys (not counting those being processed or delayed). */
  get len(): number {
    return this.#queue.size;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /** Queues `key` unless it is already waiting to run. Returns false if refused (full or shut down). */
  add(key: T): boolean {
    if (this.#shuttingDown) return false;
    if (this.#dirty.has(key)) return true;
    if (this.#dirty.size + this.#waiting.size >= this.#maxSize && !this.#waiting.has(key)) {
      this.#metrics.dropped?.(key);
      return false;
    }
    this.#dirty.add(key);
    this.#metrics.added?.(key);
    if (this.#processing.has(key)) return true;
    this.#queue.add(key);
    this.#dispatch();
    return true;
  }

  /**
   * The next key, waiting until one is ready. Resolves `undefined` when the queue shuts down
   * or `signal` aborts. The caller must call `done(key)` when finished with it.
   */
  get(signal?: AbortSignal): Promise<T | undefined> {
    const key = this.#pop();
    if (key !== undefined) return Promise.resolve(key);
    if (this.#shuttingDown || signal?.aborted) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const getter = (k: T | undefined): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve(k);
      };
      const onAbort = (): void => {
        const i = this.#getters.indexOf(getter);
        if (i >= 0) this.#getters.splice(i, 1);
        resolve(undefined);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#getters.push(getter);
    });
  }

  /** Marks `key` finished; if it was added meanwhile it becomes ready again. */
  done(key: T): void {
    this.#processing.delete(key);
    if (this.#dirty.has(key)) {
      this.#queue.add(key);
      this.#dispatch();
    }
  }

  /** Re-adds `key` after its backoff (see the class doc). */
  addRateLimited(key: T): void {
    if (this.#shuttingDown) return;
    const n = this.#failures.get(key) ?? 0;
    if (this.#failures.size < this.#maxSize || this.#failures.has(key)) this.#failures.set(key, n + 1);
    const perItem = Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** n);
    const delay = Math.max(perItem, this.#bucket.reserve());
    this.#metrics.retried?.(key, delay);
    this.addAfter(key, delay);
  }

  /** Clears `key`'s failure count (call after a successful reconcile). */
  forget(key: T): void {
    this.#failures.delete(key);
  }

  /** Failures recorded for `key` since the last `forget`. */
  numRequeues(key: T): number {
    return this.#failures.get(key) ?? 0;
  }

  /** Adds `key` after `delayMs` (immediately if ≤ 0); an earlier pending time wins. */
  addAfter(key: T, delayMs: number): void {
    if (this.#shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const at = this.#clock.now() + delayMs;
    const current = this.#waiting.get(key);
    if (current !== undefined && current <= at) return;
    if (current === undefined && this.#dirty.size + this.#waiting.size >= this.#maxSize) {
      this.#metrics.dropped?.(key);
      return;
    }
    this.#waiting.set(key, at);
    this.#heapPush({ key, at });
    if (this.#heap.length > 2 * this.#waiting.size + 64) this.#rebuildHeap();
    this.#armTimer();
  }

  /** Stops accepting keys, cancels delayed ones, and releases blocked `get` callers. */
  shutDown(): void {
    this.#shuttingDown = true;
    this.#timer?.handle.cancel();
    this.#timer = undefined;
    this.#waiting.clear();
    this.#heap = [];
    for (const g of this.#getters.splice(0)) g(undefined);
  }

  #pop(): T | undefined {
    const first = this.#queue.values().next();
    if (first.done) return undefined;
    const key = first.value;
    this.#queue.delete(key);
    this.#dirty.delete(key);
    this.#processing.add(key);
    this.#metrics.depth?.(this.#queue.size);
    return key;
  }

  #dispatch(): void {
    while (this.#getters.length > 0 && this.#queue.size > 0) {
      const getter = this.#getters.shift() as (key: T | undefined) => void;
      getter(this.#pop());
    }
    this.#metrics.depth?.(this.#queue.size);
  }

  #armTimer(): void {
    const next = this.#peekValid();
    if (next === undefined) return;
    if (this.#timer !== undefined && this.#timer.at <= next.at) return;
    this.#timer?.handle.cancel();
    const handle = this.#clock.setTimer(next.at - this.#clock.now(), () => this.#onTimer());
    this.#timer = { at: next.at, handle };
  }

  #onTimer(): void {
    this.#timer = undefined;
    const now = this.#clock.now();
    for (let next = this.#peekValid(); next !== undefined && next.at <= now; next = this.#peekValid()) {
      this.#heapPop();
      this.#waiting.delete(next.key);
      this.add(next.key);
    }
    this.#armTimer();
  }

  /** The earliest heap entry still current in `#waiting` (stale entries are discarded). */
  #peekValid(): Waiting<T> | undefined {
    for (;;) {
      const top = this.#heap[0];
      if (top === undefined || this.#waiting.get(top.key) === top.at) return top;
      this.#heapPop();
    }
  }

  #rebuildHeap(): void {
    this.#heap = [];
    for (const [key, at] of this.#waiting) this.#heapPush({ key, at });
  }

  #heapPush(item: Waiting<T>): void {
    const h = this.#heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if ((h[p] as Waiting<T>).at <= item.at) break;
      h[i] = h[p] as Waiting<T>;
      i = p;
    }
    h[i] = item;
  }

  #heapPop(): void {
    const h = this.#heap;
    const last = h.pop();
    if (last === undefined || h.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      let best = last.at;
      if (l < h.length && (h[l] as Waiting<T>).at < best) {
        m = l;
        best = (h[l] as Waiting<T>).at;
      }
      if (r < h.length && (h[r] as Waiting<T>).at < best) m = r;
      if (m === i) break;
      h[i] = h[m] as Waiting<T>;
      i = m;
    }
    h[i] = last;
  }
}
