/**
 * Watches for the benchmark: an informer (src/kube's list → watch → store) whose changes are
 * handed to a callback with the wall-clock time the event reached this process. Times are
 * `performance.timeOrigin + performance.now()` (sub-millisecond, one clock for every watch).
 */
import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { ApiClient, type ResourceType } from '../../src/kube/api-client.ts';
import { createInformer, type StoreChange, type StoreReader } from '../../src/kube/store.ts';
import type { KubeObject } from '../../src/kube/wire.ts';

export const now = (): number => performance.timeOrigin + performance.now();

export const DEPLOYMENTS: ResourceType = {
  group: 'apps',
  version: 'v1',
  resource: 'deployments',
  scope: 'Namespaced',
  kind: 'Deployment',
};
export const NAMESPACES: ResourceType = {
  group: '',
  version: 'v1',
  resource: 'namespaces',
  scope: 'Cluster',
  kind: 'Namespace',
};

/** A client for an admin kubeconfig file; `connections` above the number of watches it will hold. */
export async function clientFor(kubeconfig: string, userAgent = 'meridian-bench'): Promise<ApiClient> {
  const kc = new KubeConfig();
  kc.loadFromString(readFileSync(kubeconfig, 'utf8'));
  return ApiClient.fromKubeConfig(kc, { userAgent, connections: 128 });
}

export interface Observation<K> {
  readonly reader: StoreReader<K>;
  /** Resolves after the first complete list. */
  readonly ready: Promise<void>;
  stop(): void;
}

/**
 * Starts an informer on `rt` in `scope` and calls `onChange(change, at)` for every change
 * after the first list (the benchmark starts its watches on empty namespaces, so nothing is
 * missed). Watch failures are retried by the watcher and reported through `onError`.
 */
export function observe<K extends KubeObject>(
  client: ApiClient,
  rt: ResourceType,
  scope: { readonly namespace?: string; readonly labelSelector?: string },
  onChange: (change: StoreChange<K>, at: number) => void,
  onError: (err: unknown) => void = () => {},
): Observation<K> {
  const abort = new AbortController();
  const informer = createInformer<K>(client.source<K>(rt, scope), {
    watcher: { onError: (err) => onError(err), initialList: 'consistent' },
  });
  informer.reader.subscribe((c) => onChange(c, now()), abort.signal);
  informer.run(abort.signal).catch((err: unknown) => {
    if (!abort.signal.aborted) onError(err);
  });
  return { reader: informer.reader, ready: informer.reader.ready, stop: () => abort.abort() };
}

/** Resolves when `check()` is true, re-checked on every change of `obs` (and once at the start). */
export function until<K>(
  obs: Observation<K>,
  check: () => boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const stop = new AbortController();
    const finish = (err?: Error): void => {
      stop.abort();
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(
      () => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
    const test = (): void => {
      try {
        if (check()) finish();
      } catch (err) {
        finish(err instanceof Error ? err : new Error(String(err)));
      }
    };
    obs.reader.subscribe(test, stop.signal);
    void obs.ready.then(test);
  });
}
