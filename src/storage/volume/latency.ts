/**
 * Live latency estimate for one replica: an EWMA (reacts within a few samples) and a
 * tail percentile over the last `window` samples (a bounded ring, sorted on demand).
 */
export class LatencyEstimate {
  readonly #alpha: number;
  readonly #samples: Float64Array;
  #count = 0;
  #ewma: number | undefined;

  constructor(opts: { alpha?: number; window?: number } = {}) {
    this.#alpha = opts.alpha ?? 0.2;
    this.#samples = new Float64Array(opts.window ?? 128);
  }

  record(ms: number): void {
    this.#ewma = this.#ewma === undefined ? ms : this.#ewma + this.#alpha * (ms - this.#ewma);
    this.#samples[this.#count % this.#samples.length] = ms;
    this.#count++;
  }

  /** EWMA in ms; undefined before the first sample. */
  get ewmaMs(): number | undefined {
    return this.#ewma;
  }

  get samples(): number {
    return this.#count;
  }

  /** The `p`-th percentile (0–100) of the recent window; undefined without samples. */
  percentile(p: number): number | undefined {
    const n = Math.min(this.#count, this.#samples.length);
    if (n === 0) return undefined;
    const sorted = this.#samples.slice(0, n).sort();
    return sorted[Math.min(n - 1, Math.ceil((p / 100) * n) - 1)];
  }
}
