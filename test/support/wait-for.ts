import type { objectKey } from '../../src/kube/object-key.ts';
import type { StoreReader } from '../../src/kube/store.ts';
import { logJson } from './log.ts';

/**
 * Resolves once `predicate` holds for the watched store's object under `key`, re-checked on each
 * of its changes (a watch, not polling); rejects after `timeoutMs` naming `what` and the object
 * as last seen.
 */
export function waitForObject<K>(
  store: StoreReader<K>,
  key: ReturnType<typeof objectKey>,
  what: string,
  predicate: (obj: K | undefined) => boolean,
  timeoutMs: number,
): Promise<K | undefined> {
  return new Promise((resolve, reject) => {
    const done = new AbortController();
    const check = (): void => {
      if (!store.isReady() || !predicate(store.get(key))) return;
      done.abort();
      clearTimeout(timer);
      resolve(store.get(key));
    };
    const timer = setTimeout(() => {
      done.abort();
      reject(new Error(`timed out waiting for ${key}: ${what}; last seen ${logJson(store.get(key))}`));
    }, timeoutMs);
    store.subscribe((c) => {
      if (c.key === key) check();
    }, done.signal);
    void store.ready.then(check);
  });
}
