/**
 * The push-mode member registry: one `ApiClient` and one member `InformerFactory` per joined
 * Cluster, built from the kubeconfig in the Secret its `spec.secretRef` names.
 *
 * Guarantees:
 * - Event-driven: it follows the hub's Cluster store and, per Cluster, a store of exactly the
 *   referenced Secret (one namespace, one name). Nothing is polled.
 * - Bounded: at most one connection and one Secret watch per Cluster; a Secret watch is stopped
 *   once no Cluster references it.
 * - A connection lives as long as its inputs (endpoint + kubeconfig) are unchanged. When they
 *   change it is replaced: the old member informers' signal aborts, its client closes, and a new
 *   connection is built. When the Cluster disappears (after its finalizers), or is no longer in
 *   Push mode, the connection is removed. Every such change calls the `subscribe` handlers with
 *   the cluster name (connection added, replaced or removed, or its error changed).
 * - A Cluster that is being deleted keeps its connection until the object is gone, so cleanup
 *   of what Meridian put on the member can still reach it.
 * Caveats: a connection proves only that credentials were parsed, not that the member answers;
 * health is the cluster controller's probe. `connectionStatus(name)` says why a Push Cluster has
 * no connection: still `pending` (its Secret is being listed) or `failed` (Secret missing, no
 * `kubeconfig` key, unparsable kubeconfig).
 */
import { createHash } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';
import { GROUP, Kinds, Plurals, VERSION, type Cluster } from '../../api/index.ts';
import { ApiClient, type ApiClientOptions, type ResourceType } from '../../kube/api-client.ts';
import { InformerFactory, type InformerScope } from '../../kube/informer-factory.ts';
import type { Logger } from '../../kube/log.ts';
import { objectKey } from '../../kube/object-key.ts';
import type { StoreReader } from '../../kube/store.ts';
import type { KubeObject } from '../../kube/wire.ts';
import type { MemberConnection, MemberRegistry } from '../context.ts';

export const CLUSTERS: ResourceType = {
  group: GROUP,
  version: VERSION,
  resource: Plurals.Cluster,
  scope: 'Cluster',
  kind: Kinds.Cluster,
};

export const SECRETS: ResourceType = {
  group: '',
  version: 'v1',
  resource: 'secrets',
  scope: 'Namespaced',
  kind: 'Secret',
};

/** The Secret data key holding a member's kubeconfig. */
export const KUBECONFIG_KEY = 'kubeconfig';

export type Secret = KubeObject & {
  readonly type?: string;
  readonly data?: Readonly<Record<string, string>>;
};

/** Where a cluster's connection stands. */
export type ConnectionStatus =
  | { readonly state: 'connected' }
  /** Not decided yet (e.g. its Secret is still being listed): not a failure to report. */
  | { readonly state: 'pending'; readonly message: string }
  | { readonly state: 'failed'; readonly message: string }
  /** Not a Push Cluster known to the hub. */
  | { readonly state: 'none' };

/** A registry that can also say why a cluster has no connection. */
export interface PushMemberRegistry extends MemberRegistry {
  connectionStatus(cluster: string): ConnectionStatus;
}

/** True when `registry` can explain missing connections (the push registry can). */
export function hasConnectionStatus(registry: MemberRegistry): registry is PushMemberRegistry {
  return typeof (registry as Partial<PushMemberRegistry>).connectionStatus === 'function';
}

export interface MemberRegistryOptions {
  /** Hub informers: Clusters and the referenced Secrets are read through them. */
  readonly informers: InformerFactory;
  readonly log: Logger;
  /** Stops every watch and closes every member client. */
  readonly signal: AbortSignal;
  /** Options for each member `ApiClient` (pool size, timeouts). */
  readonly clientOptions?: Omit<ApiClientOptions, 'server' | 'tls' | 'headers'>;
}

/** What a Cluster asks for: no connection (with why), or a connection built from these inputs. */
export type Desired =
  | { readonly kind: 'none' }
  | { readonly kind: 'pending' | 'failed'; readonly message: string }
  | {
      readonly kind: 'connect';
      /** Changes iff the endpoint or the kubeconfig changes. */
      readonly fingerprint: string;
      readonly kubeconfig: string;
      readonly endpoint: string | undefined;
    };

/**
 * Pure: what connection `cluster` should have given its Secret. `secret` is `undefined` when
 * absent from a ready store, `'unknown'` while that store is still listing.
 */
export function desiredConnection(
  cluster: Cluster | undefined,
  secret: Secret | undefined | 'unknown',
): Desired {
  if (cluster === undefined) return { kind: 'none' };
  if (cluster.spec.syncMode !== 'Push') return { kind: 'none' };
  const ref = cluster.spec.secretRef;
  if (ref === undefined) return { kind: 'failed', message: 'spec.secretRef is not set' };
  const where = `${ref.namespace}/${ref.name}`;
  if (secret === 'unknown') return { kind: 'pending', message: `reading Secret ${where}` };
  if (secret === undefined) return { kind: 'failed', message: `Secret ${where} not found` };
  const b64 = secret.data?.[KUBECONFIG_KEY];
  if (b64 === undefined || b64 === '') {
    return { kind: 'failed', message: `Secret ${where} has no data key "${KUBECONFIG_KEY}"` };
  }
  const kubeconfig = Buffer.from(b64, 'base64').toString('utf8');
  const endpoint = cluster.spec.apiEndpoint;
  const fingerprint = createHash('sha256')
    .update(endpoint ?? '')
    .update('\0')
    .update(kubeconfig)
    .digest('hex');
  return { kind: 'connect', fingerprint, kubeconfig, endpoint };
}

/**
 * Parses a member kubeconfig (current context) and points it at `endpoint` when given: the
 * Cluster's `spec.apiEndpoint` is authoritative, so an admin can move a member by editing it.
 * Throws a `TypeError` saying what is wrong.
 */
export function memberKubeConfig(text: string, endpoint: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  try {
    kc.loadFromString(text);
  } catch (err) {
    throw new TypeError(`kubeconfig does not parse: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  const current = kc.getCurrentCluster();
  if (current === null) throw new TypeError('kubeconfig has no current context with a cluster');
  if (endpoint === undefined || endpoint === current.server) return kc;
  const out = new KubeConfig();
  out.loadFromOptions({
    clusters: kc.clusters.map((c) => (c.name === current.name ? { ...c, server: endpoint } : c)),
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.currentContext,
  });
  return out;
}

interface Live {
  readonly fingerprint: string;
  readonly connection: MemberConnection;
  readonly abort: AbortController;
}

interface SecretWatch {
  readonly scope: InformerScope;
  readonly store: StoreReader<Secret>;
  readonly users: Set<string>;
  readonly off: () => void;
}

/** Starts the push-mode registry; see the module doc for its contract. */
export function createMemberRegistry(opts: MemberRegistryOptions): PushMemberRegistry {
  const { informers, log, signal } = opts;
  const clusters = informers.informer<Cluster>(CLUSTERS);
  const live = new Map<string, Live>();
  /** Pending or failed clusters (connected ones are in `live`). */
  const states = new Map<string, Extract<ConnectionStatus, { message: string }>>();
  const secretWatches = new Map<string, SecretWatch>();
  /** cluster → id of the Secret watch it uses. */
  const usesSecret = new Map<string, string>();
  const handlers = new Set<(cluster: string) => void>();

  const notify = (cluster: string): void => {
    for (const h of handlers) {
      try {
        h(cluster);
      } catch (err) {
        log.error({ err, cluster }, 'member registry subscriber failed');
      }
    }
  };

  /** Records a pending/failed state (`undefined` clears it); true when it changed. */
  const setState = (
    cluster: string,
    next: Extract<ConnectionStatus, { message: string }> | undefined,
  ): boolean => {
    const prev = states.get(cluster);
    if (prev?.state === next?.state && prev?.message === next?.message) return false;
    if (next === undefined) states.delete(cluster);
    else states.set(cluster, next);
    return true;
  };

  const disconnect = (cluster: string): boolean => {
    const current = live.get(cluster);
    if (current === undefined) return false;
    live.delete(cluster);
    current.abort.abort();
    current.connection.client.close().catch((err: unknown) => log.debug({ err, cluster }, 'close failed'));
    log.info({ cluster }, 'member disconnected');
    return true;
  };

  /** Follows the Secret `cluster` references, stopping watches nobody uses any more. */
  const trackSecret = (
    cluster: string,
    ref: { namespace: string; name: string } | undefined,
  ): SecretWatch | undefined => {
    const id = ref === undefined ? undefined : `${ref.namespace}/${ref.name}`;
    const previous = usesSecret.get(cluster);
    if (previous !== id && previous !== undefined) {
      const w = secretWatches.get(previous);
      w?.users.delete(cluster);
      if (w !== undefined && w.users.size === 0) {
        w.off();
        informers.stop(SECRETS, w.scope);
        secretWatches.delete(previous);
      }
      usesSecret.delete(cluster);
    }
    if (ref === undefined || id === undefined) return undefined;
    let w = secretWatches.get(id);
    if (w === undefined) {
      const scope: InformerScope = { namespace: ref.namespace, fieldSelector: `metadata.name=${ref.name}` };
      const store = informers.informer<Secret>(SECRETS, scope);
      const users = new Set<string>();
      const resyncUsers = (): void => {
        for (const c of [...users]) resync(c);
      };
      const off = store.subscribe(resyncUsers, signal);
      // A Secret that does not exist produces no event: look again once the list is complete.
      void store.ready.then(resyncUsers);
      w = { scope, store, users, off };
      secretWatches.set(id, w);
    }
    w.users.add(cluster);
    usesSecret.set(cluster, id);
    return w;
  };

  // One resync per cluster at a time (connecting awaits); events during one coalesce into a
  // single rerun, so a burst of changes costs at most two passes.
  const running = new Map<string, { rerun: boolean }>();
  const resync = (cluster: string): void => {
    const r = running.get(cluster);
    if (r !== undefined) {
      r.rerun = true;
      return;
    }
    const state = { rerun: false };
    running.set(cluster, state);
    void (async () => {
      try {
        do {
          state.rerun = false;
          await resyncNow(cluster);
        } while (state.rerun && !signal.aborted);
      } catch (err) {
        log.error({ err, cluster }, 'member registry resync failed');
      } finally {
        running.delete(cluster);
      }
    })();
  };

  const resyncNow = async (cluster: string): Promise<void> => {
    if (signal.aborted) return;
    const obj = clusters.get(objectKey(undefined, cluster));
    const ref = obj?.spec.syncMode === 'Push' ? obj.spec.secretRef : undefined;
    const watch = trackSecret(cluster, ref);
    const secret =
      watch === undefined || ref === undefined
        ? undefined
        : watch.store.isReady()
          ? watch.store.get(objectKey(ref.namespace, ref.name))
          : 'unknown';
    const desired = desiredConnection(obj, secret);
    const current = live.get(cluster);
    if (desired.kind !== 'connect') {
      const changed = disconnect(cluster);
      const next = desired.kind === 'none' ? undefined : { state: desired.kind, message: desired.message };
      if (setState(cluster, next) || changed) notify(cluster);
      return;
    }
    if (current?.fingerprint === desired.fingerprint) {
      if (setState(cluster, undefined)) notify(cluster);
      return;
    }
    disconnect(cluster);
    let connection: Live;
    try {
      connection = await connect(cluster, desired);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      log.warn({ cluster, err }, 'cannot connect to member');
      setState(cluster, {
        state: 'failed',
        message: `credentials in Secret ${ref?.namespace}/${ref?.name}: ${why}`,
      });
      notify(cluster);
      return;
    }
    if (signal.aborted) {
      connection.abort.abort();
      await connection.connection.client.close();
      return;
    }
    live.set(cluster, connection);
    setState(cluster, undefined);
    log.info(
      { cluster, server: desired.endpoint },
      current === undefined ? 'member connected' : 'member credentials changed; reconnected',
    );
    notify(cluster);
  };

  const connect = async (cluster: string, desired: Extract<Desired, { kind: 'connect' }>): Promise<Live> => {
    const kc = memberKubeConfig(desired.kubeconfig, desired.endpoint);
    const client = await ApiClient.fromKubeConfig(kc, {
      userAgent: 'meridian-controllers',
      ...opts.clientOptions,
    });
    const abort = new AbortController();
    const memberSignal = AbortSignal.any([signal, abort.signal]);
    const factory = new InformerFactory(client, memberSignal, log);
    return {
      fingerprint: desired.fingerprint,
      abort,
      connection: {
        cluster,
        client,
        informer: <K extends KubeObject = KubeObject>(rt: ResourceType, scope?: InformerScope) =>
          factory.informer<K>(rt, scope),
      },
    };
  };

  clusters.subscribe((change) => {
    const name = change.object.metadata?.name;
    if (name !== undefined) resync(name);
  }, signal);
  void clusters.ready.then(() => {
    for (const c of clusters.list()) if (c.metadata?.name !== undefined) resync(c.metadata.name);
  });

  signal.addEventListener(
    'abort',
    () => {
      for (const name of [...live.keys()]) disconnect(name);
      handlers.clear();
    },
    { once: true },
  );

  return {
    get: (cluster) => live.get(cluster)?.connection,
    names: () => [...live.keys()].sort(),
    connectionStatus(cluster): ConnectionStatus {
      if (live.has(cluster)) return { state: 'connected' };
      const known = states.get(cluster);
      if (known !== undefined) return known;
      // Not processed yet (resyncs are asynchronous): a Push Cluster is pending until it is.
      const obj = clusters.get(objectKey(undefined, cluster));
      return obj?.spec.syncMode === 'Push' && !signal.aborted
        ? { state: 'pending', message: 'not processed yet' }
        : { state: 'none' };
    },
    subscribe(handler, sub) {
      const h = (c: string): void => handler(c);
      handlers.add(h);
      const off = (): void => {
        handlers.delete(h);
        sub?.removeEventListener('abort', off);
      };
      sub?.addEventListener('abort', off, { once: true });
      if (sub?.aborted) off();
      return off;
    },
  };
}
