import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Retries `check` until it stops throwing or `timeoutMs` passes, then rethrows its last
 * error. For end-to-end assertions on eventually-consistent state across several API
 * servers, where no single watch can express the condition. Tests only.
 */
export async function eventually<T>(
  check: () => Promise<T>,
  { timeoutMs = 60_000, intervalMs = 250 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(intervalMs);
    }
  }
}
