import type { Clock } from './clock.ts';

/**
 * A token bucket that hands out reservations: `reserve()` takes a token now and returns the
 * delay until it exists (0 when one was in hand). Callers wait that long themselves, so the
 * bucket holds no queue of its own: its waiters are bounded by whoever calls it.
 */
export class TokenBucket {
  #tokens: number;
  #last: number;
  readonly #qps: number;
  readonly #burst: number;
  readonly #clock: Clock;

  constructor(qps: number, burst: number, clock: Clock) {
    if (!(qps > 0) || !(burst >= 1))
      throw new RangeError(`token bucket needs qps > 0 and burst ≥ 1, got ${qps}/${burst}`);
    this.#qps = qps;
    this.#burst = burst;
    this.#tokens = burst;
    this.#clock = clock;
    this.#last = clock.now();
  }

  reserve(): number {
    const now = this.#clock.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) / 1000) * this.#qps);
    this.#last = now;
    this.#tokens -= 1;
    // Negative tokens are reservations already promised to earlier callers.
    return this.#tokens >= 0 ? 0 : (-this.#tokens / this.#qps) * 1000;
  }
}
