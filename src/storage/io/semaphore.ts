/**
 * A counting semaphore with a FIFO wait list. Used to bound in-flight requests and bytes.
 * `acquire(n)` larger than the capacity is clamped so a single oversized request can still
 * run alone instead of deadlocking.
 */
export class Semaphore {
  readonly #capacity: number;
  #available: number;
  readonly #waiters: { n: number; resolve: () => void }[] = [];

  constructor(capacity: number) {
    this.#capacity = capacity;
    this.#available = capacity;
  }

  get available(): number {
    return this.#available;
  }

  /** Takes one unit now if free and nobody waits; no promise on the fast path. */
  tryAcquire(): boolean {
    if (this.#waiters.length > 0 || this.#available < 1) return false;
    this.#available--;
    return true;
  }

  async acquire(n = 1): Promise<number> {
    const want = Math.min(n, this.#capacity);
    if (this.#waiters.length === 0 && this.#available >= want) {
      this.#available -= want;
      return want;
    }
    await new Promise<void>((resolve) => this.#waiters.push({ n: want, resolve }));
    return want;
  }

  /** Returns `n` units (the value `acquire` resolved with). */
  release(n = 1): void {
    this.#available += n;
    for (;;) {
      const head = this.#waiters[0];
      if (head === undefined || head.n > this.#available) return;
      this.#waiters.shift();
      this.#available -= head.n;
      head.resolve();
    }
  }
}
