/**
 * The fleet-wide bound on rebalancing: a token bucket of steps, shared by every binding the
 * scheduler rebalances, so a fleet change (a cluster back after an outage, a new cluster) moves
 * at most `burst` bindings at once and then `perMinute` a minute, whatever the number of bindings.
 * Per-binding pacing (`rebalance.intervalSeconds`, `maxReplicasPerStep`) comes on top.
 */
export interface StepLimiter {
  /** Takes one step's token: `0` when granted, else how long until one is available (ms). */
  take(nowMs: number): number;
}

/** Defaults: 10 bindings at once, then 20 a minute. */
export const DEFAULT_STEP_BURST = 10;
export const DEFAULT_STEPS_PER_MINUTE = 20;

export function stepLimiter(burst = DEFAULT_STEP_BURST, perMinute = DEFAULT_STEPS_PER_MINUTE): StepLimiter {
  if (!(burst >= 1) || !(perMinute > 0)) throw new Error('stepLimiter: burst must be ≥ 1 and perMinute > 0');
  const msPerToken = 60_000 / perMinute;
  let tokens = burst;
  let last: number | undefined;
  return {
    take(nowMs) {
      if (last !== undefined && nowMs > last) tokens = Math.min(burst, tokens + (nowMs - last) / msPerToken);
      last = Math.max(last ?? nowMs, nowMs);
      if (tokens >= 1) {
        tokens -= 1;
        return 0;
      }
      return Math.ceil((1 - tokens) * msPerToken);
    },
  };
}
