import type { ApiClient, ResourceType } from './api-client.ts';
import type { Logger } from './log.ts';
import { createInformer, type StoreReader } from './store.ts';
import type { KubeObject } from './wire.ts';

export interface InformerScope {
  readonly namespace?: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
}

/**
 * Shared informers for one API server (client-go's SharedInformerFactory): each distinct
 * (resource type, scope) is listed and watched once, however many controllers read it.
 * An informer starts on first request and runs until the factory's signal aborts; its
 * store's `ready` resolves after the first complete list.
 *
 * Bounded by the number of distinct (type, scope) pairs requested, which callers control;
 * `stop(rt, scope)` ends one (e.g. when a CRD is deleted).
 */
export class InformerFactory {
  readonly #client: ApiClient;
  readonly #signal: AbortSignal;
  readonly #log: Logger;
  readonly #informers = new Map<string, { reader: StoreReader<KubeObject>; abort: AbortController }>();

  constructor(client: ApiClient, signal: AbortSignal, log: Logger) {
    this.#client = client;
    this.#signal = signal;
    this.#log = log;
  }

  get client(): ApiClient {
    return this.#client;
  }

  /** The shared store for `rt` within `scope`, started on first use. */
  informer<K extends KubeObject = KubeObject>(rt: ResourceType, scope: InformerScope = {}): StoreReader<K> {
    const id = InformerFactory.#id(rt, scope);
    const existing = this.#informers.get(id);
    if (existing) return existing.reader as unknown as StoreReader<K>;
    const abort = new AbortController();
    const signal = AbortSignal.any([this.#signal, abort.signal]);
    const informer = createInformer<KubeObject>(
      this.#client.source(rt, {
        ...(scope.namespace !== undefined && { namespace: scope.namespace }),
        ...(scope.labelSelector !== undefined && { labelSelector: scope.labelSelector }),
        ...(scope.fieldSelector !== undefined && { fieldSelector: scope.fieldSelector }),
      }),
      {
        watcher: {
          onError: (err: unknown) =>
            this.#log.warn({ err, resource: rt.resource, group: rt.group }, 'watch failed; retrying'),
        },
      },
    );
    this.#informers.set(id, { reader: informer.reader, abort });
    informer.run(signal).catch((err: unknown) => {
      if (!signal.aborted) this.#log.error({ err, resource: rt.resource }, 'informer stopped');
    });
    return informer.reader as unknown as StoreReader<K>;
  }

  /** Stops and forgets one informer; a later `informer()` call starts a fresh one. */
  stop(rt: ResourceType, scope: InformerScope = {}): void {
    const id = InformerFactory.#id(rt, scope);
    this.#informers.get(id)?.abort.abort();
    this.#informers.delete(id);
  }

  static #id(rt: ResourceType, scope: InformerScope): string {
    return [
      rt.group,
      rt.version,
      rt.resource,
      scope.namespace ?? '',
      scope.labelSelector ?? '',
      scope.fieldSelector ?? '',
    ].join('|');
  }
}
