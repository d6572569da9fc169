// Timing helpers the failover benchmarks share: when a condition over watched stores first
// holds (event-driven, no polling), and percentiles of the trials.
import type { StoreReader } from '../../src/kube/store.ts';
import type { KubeObject } from '../../src/kube/wire.ts';

/**
 * `performance.now()` of the first change of `stores` after which `holds` is true (checked at
 * once too); rejects after `timeoutMs`, naming `what`.
 */
export function when(
  what: string,
  stores: ReadonlyArray<StoreReader<KubeObject>>,
  holds: () => boolean,
  timeoutMs: number,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const done = new AbortController();
    const check = (): void => {
      let ok: boolean;
      try {
        ok = stores.every((s) => s.isReady()) && holds();
      } catch {
        ok = false;
      }
      if (!ok) return;
      const t = performance.now();
      done.abort();
      clearTimeout(timer);
      resolve(t);
    };
    const timer = setTimeout(() => {
      done.abort();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`));
    }, timeoutMs);
    for (const s of stores) s.subscribe(check, done.signal);
    void Promise.all(stores.map((s) => s.ready)).then(check);
  });
}

/** The `p`th percentile (nearest rank) of `xs`. */
export const percentile = (xs: readonly number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
};
