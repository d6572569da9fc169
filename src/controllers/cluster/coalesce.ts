import { systemClock, type Clock, type Timer } from '../../kube/clock.ts';

/**
 * Turns bursts of member events into at most one `fire(key)` per key per `minIntervalMs`.
 * The first touch after a quiet period fires at once; touches within the interval fire once,
 * at its end. Bounded: one timer per key with a pending fire.
 */
export class Coalescer<K> {
  readonly #minIntervalMs: number;
  readonly #fire: (key: K) => void;
  readonly #clock: Clock;
  readonly #last = new Map<K, number>();
  readonly #pending = new Map<K, Timer>();

  constructor(minIntervalMs: number, fire: (key: K) => void, clock: Clock = systemClock) {
    this.#minIntervalMs = minIntervalMs;
    this.#fire = fire;
    this.#clock = clock;
  }

  touch(key: K): void {
    if (this.#pending.has(key)) return;
    const now = this.#clock.now();
    const last = this.#last.get(key);
    const wait = last === undefined ? 0 : last + this.#minIntervalMs - now;
    if (wait <= 0) {
      this.#last.set(key, now);
      this.#fire(key);
      return;
    }
    this.#pending.set(
      key,
      this.#clock.setTimer(wait, () => {
        this.#pending.delete(key);
        this.#last.set(key, this.#clock.now());
        this.#fire(key);
      }),
    );
  }

  /** Forgets `key` (cancelling a pending fire). */
  forget(key: K): void {
    this.#pending.get(key)?.cancel();
    this.#pending.delete(key);
    this.#last.delete(key);
  }

  stop(): void {
    for (const t of this.#pending.values()) t.cancel();
    this.#pending.clear();
    this.#last.clear();
  }
}
