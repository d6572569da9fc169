/**
 * `ApiClient`: a small typed REST client for the Kubernetes API over `undici` (keep-alive pool,
 * streamed watches). `@kubernetes/client-node` is used only to load kubeconfig credentials.
 *
 * Contracts:
 * - Every non-2xx response is mapped once, in `#send`, through `errors.ts`; transport failures
 *   become `UnavailableError` (cause kept); an aborted `signal` rejects with the abort reason.
 * - Responses are parsed JSON returned as the caller's `K` *unchecked*: validate at the edge
 *   where it matters. Bodies are bounded (`maxResponseBytes`); watch lines are bounded
 *   (`maxWatchLineBytes`, 16 MiB) and an oversize line fails the watch with `ProtocolError`.
 * - HTTP/1.1: each open watch holds one pooled connection; `connections` caps the pool, so
 *   size it above the number of concurrent watches.
 */
import type { RequestOptions as HttpsRequestOptions } from 'node:https';
import { readFileSync } from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import { Agent, errors as undiciErrors, type Dispatcher } from 'undici';
import { fromResponse, KubeError, NotFoundError, ProtocolError, UnavailableError } from './errors.ts';
import { systemClock, type Clock } from './clock.ts';
import type { ObjectRef } from './object-key.ts';
import { TokenBucket } from './token-bucket.ts';
import type { WatchSource } from './watcher.ts';
import type { JsonPatchOp, KubeList, KubeObject, ListOptions, RawWatchEvent, WatchOptions } from './wire.ts';

/** One resource type of the API (a GVR plus its scope). */
export interface ResourceType {
  readonly group: string;
  readonly version: string;
  /** Plural resource name, e.g. `deployments`. */
  readonly resource: string;
  readonly scope: 'Namespaced' | 'Cluster';
  readonly kind?: string;
}

export function apiVersionOf(rt: Pick<ResourceType, 'group' | 'version'>): string {
  return rt.group === '' ? rt.version : `${rt.group}/${rt.version}`;
}

/**
 * The URL path of a resource: a collection (no `name`; all namespaces when a namespaced type
 * has no `namespace`), an object, or an object's subresource.
 */
export function resourcePath(
  rt: ResourceType,
  where: { readonly namespace?: string; readonly name?: string; readonly subresource?: string } = {},
): string {
  const enc = encodeURIComponent;
  let p = rt.group === '' ? `/api/${rt.version}` : `/apis/${rt.group}/${rt.version}`;
  if (rt.scope === 'Namespaced' && where.namespace !== undefined && where.namespace !== '') {
    p += `/namespaces/${enc(where.namespace)}`;
  }
  p += `/${rt.resource}`;
  if (where.name !== undefined) p += `/${enc(where.name)}`;
  else if (where.subresource !== undefined) throw new TypeError('a subresource needs an object name');
  if (where.subresource !== undefined) p += `/${where.subresource}`;
  return p;
}

export type Patch =
  | { readonly type: 'json'; readonly ops: readonly JsonPatchOp[] }
  | { readonly type: 'merge'; readonly patch: unknown }
  | { readonly type: 'strategic'; readonly patch: unknown };

const PATCH_CONTENT_TYPE = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
} as const;

export interface WriteOptions {
  readonly fieldManager?: string;
  readonly dryRun?: 'All';
  readonly subresource?: string;
  readonly signal?: AbortSignal;
}

export interface ApplyOptions extends WriteOptions {
  readonly fieldManager: string;
  /** Take ownership of conflicting fields (controllers should; humans usually should not). */
  readonly force?: boolean;
}

export interface DeleteOptions {
  readonly propagationPolicy?: 'Foreground' | 'Background' | 'Orphan';
  readonly preconditions?: { readonly uid?: string; readonly resourceVersion?: string };
  readonly gracePeriodSeconds?: number;
  readonly dryRun?: 'All';
  readonly signal?: AbortSignal;
}

export interface TlsOptions {
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  readonly rejectUnauthorized?: boolean;
  readonly servername?: string;
}

export interface ApiClientOptions {
  /** `https://host:port` (a path prefix is kept). */
  readonly server: string;
  readonly tls?: TlsOptions;
  /** Per-request headers (credentials); called for every request, so cache inside if costly. */
  readonly headers?: () => Promise<Readonly<Record<string, string>>> | Readonly<Record<string, string>>;
  readonly userAgent?: string;
  /** Pool size (≥ concurrent watches + a few). Default 256. */
  readonly connections?: number;
  /** Timeout for non-watch requests (headers and idle body). Default 60 s. */
  readonly requestTimeoutMs?: number;
  /** Default 128 MiB. */
  readonly maxResponseBytes?: number;
  /** Default 16 MiB. */
  readonly maxWatchLineBytes?: number;
  /**
   * Client-side rate limit on non-watch requests (client-go's QPS/Burst): at most `qps` per
   * second on average, `burst` at once. Default: none. Watches are long-lived and not limited.
   */
  readonly qps?: number;
  readonly burst?: number;
  /** Time for the rate limit (tests). Default the system clock. */
  readonly clock?: Clock;
}

export interface APIResource {
  readonly name: string;
  readonly singularName?: string;
  readonly namespaced: boolean;
  readonly kind: string;
  readonly verbs: readonly string[];
  readonly shortNames?: readonly string[];
}

export interface APIGroup {
  readonly name: string;
  readonly versions: readonly { readonly groupVersion: string; readonly version: string }[];
  readonly preferredVersion?: { readonly groupVersion: string; readonly version: string };
}

interface SendOptions {
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  readonly body?: unknown;
  readonly contentType?: string;
  readonly signal?: AbortSignal | undefined;
}

const MiB = 1024 * 1024;
const DISCOVERY_CACHE_MAX = 512;

export class ApiClient {
  readonly #origin: string;
  readonly #prefix: string;
  readonly #agent: Agent;
  readonly #headers: ApiClientOptions['headers'];
  readonly #userAgent: string;
  readonly #timeoutMs: number;
  readonly #maxResponse: number;
  readonly #maxLine: number;
  readonly #resources = new Map<string, Promise<readonly APIResource[]>>();
  readonly #limit: TokenBucket | undefined;
  readonly #opts: ApiClientOptions;
  readonly #clock: Clock;

  constructor(opts: ApiClientOptions) {
    this.#opts = opts;
    this.#clock = opts.clock ?? systemClock;
    this.#limit =
      opts.qps === undefined
        ? undefined
        : new TokenBucket(opts.qps, opts.burst ?? Math.ceil(opts.qps), this.#clock);
    const url = new URL(opts.server);
    this.#origin = url.origin;
    this.#prefix = url.pathname.replace(/\/+$/, '');
    this.#headers = opts.headers;
    this.#userAgent = opts.userAgent ?? 'meridian';
    this.#timeoutMs = opts.requestTimeoutMs ?? 60_000;
    this.#maxResponse = opts.maxResponseBytes ?? 128 * MiB;
    this.#maxLine = opts.maxWatchLineBytes ?? 16 * MiB;
    const tls = opts.tls ?? {};
    this.#agent = new Agent({
      connections: opts.connections ?? 256,
      keepAliveTimeout: 30_000,
      // HTTP/1.1: undici 8 negotiates HTTP/2 by default, and destroying an h2 session whose
      // aborted watch streams have lost their error listener throws an uncaught
      // ClientDestroyedError. HTTP/1.1 also gives each watch its own connection and flow control.
      allowH2: false,
      connect: {
        ...(tls.ca === undefined ? {} : { ca: tls.ca as string | Buffer | (string | Buffer)[] }),
        ...(tls.cert === undefined ? {} : { cert: tls.cert }),
        ...(tls.key === undefined ? {} : { key: tls.key }),
        ...(tls.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: tls.rejectUnauthorized }),
        ...(tls.servername === undefined ? {} : { servername: tls.servername }),
      },
    });
  }

  /**
   * A client for the kubeconfig's current context. TLS material (CA, client cert/key,
   * `tls-server-name`, `insecure-skip-tls-verify`) is read once; a static token, basic auth and
   * `as` (impersonation) become headers; exec/auth-provider credentials go through the
   * library's authenticators (HTTPS only), refreshed at most every 30 s.
   */
  static async fromKubeConfig(
    kc: KubeConfig,
    opts: Omit<ApiClientOptions, 'server' | 'tls' | 'headers'> = {},
  ): Promise<ApiClient> {
    const cluster = kc.getCurrentCluster();
    if (cluster === null) throw new TypeError('kubeconfig has no current cluster');
    const user = kc.getCurrentUser();
    const ca = fileOrData(cluster.caFile, cluster.caData);
    const cert = fileOrData(user?.certFile, user?.certData);
    const key = fileOrData(user?.keyFile, user?.keyData);
    const fixed: Record<string, string> = {};
    if (user?.token !== undefined) fixed['authorization'] = `Bearer ${user.token}`;
    else if (user?.username !== undefined) {
      fixed['authorization'] =
        `Basic ${Buffer.from(`${user.username}:${user.password ?? ''}`).toString('base64')}`;
    }
    if (user?.impersonateUser !== undefined) fixed['impersonate-user'] = user.impersonateUser;
    const plugin = user?.exec !== undefined || user?.authProvider !== undefined;
    let cached: { readonly at: number; readonly headers: Record<string, string> } | undefined;
    const headers = async (): Promise<Record<string, string>> => {
      if (!plugin) return fixed;
      if (cached !== undefined && Date.now() - cached.at < 30_000) return cached.headers;
      const o: HttpsRequestOptions = {};
      await kc.applyToHTTPSOptions(o);
      const h: Record<string, string> = { ...fixed };
      for (const [k, v] of Object.entries(o.headers ?? {}))
        if (v !== undefined) h[k.toLowerCase()] = String(v);
      cached = { at: Date.now(), headers: h };
      return h;
    };
    return new ApiClient({
      ...opts,
      server: cluster.server,
      headers,
      tls: {
        ...(ca === undefined ? {} : { ca }),
        ...(cert === undefined ? {} : { cert }),
        ...(key === undefined ? {} : { key }),
        ...(cluster.skipTLSVerify ? { rejectUnauthorized: false } : {}),
        ...(cluster.tlsServerName === undefined ? {} : { servername: cluster.tlsServerName }),
      },
    });
  }

  /**
   * A client for the same server and credentials with its own small connection pool and no
   * rate limit, for requests that must never queue behind this client's traffic: the
   * leader-election Lease, whose renewal has a deadline (a controller that misses it exits).
   */
  dedicated(opts: { readonly userAgent?: string; readonly connections?: number } = {}): ApiClient {
    const { qps: _qps, burst: _burst, ...rest } = this.#opts;
    return new ApiClient({
      ...rest,
      connections: opts.connections ?? 4,
      ...(opts.userAgent && { userAgent: opts.userAgent }),
    });
  }

  /** Closes pooled connections; open watches are destroyed. */
  async close(): Promise<void> {
    await this.#agent.destroy();
  }

  // ---- discovery ----------------------------------------------------------------------

  /** Versions of the core group (`/api`). */
  async coreVersions(signal?: AbortSignal): Promise<readonly string[]> {
    const body = (await this.request('GET', '/api', { signal })) as { versions?: string[] };
    return body.versions ?? [];
  }

  /** API groups (`/apis`, legacy discovery). */
  async groups(signal?: AbortSignal): Promise<readonly APIGroup[]> {
    const body = (await this.request('GET', '/apis', { signal })) as { groups?: APIGroup[] };
    return body.groups ?? [];
  }

  /** Resources of one group version (subresources excluded); cached, bounded. */
  resources(groupVersion: string, signal?: AbortSignal): Promise<readonly APIResource[]> {
    const hit = this.#resources.get(groupVersion);
    if (hit !== undefined) return hit;
    const path = groupVersion.includes('/') ? `/apis/${groupVersion}` : `/api/${groupVersion}`;
    const p = this.request('GET', path, { signal }).then((b) =>
      ((b as { resources?: APIResource[] }).resources ?? []).filter((r) => !r.name.includes('/')),
    );
    // Failed lookups are not cached; the oldest entry goes when full.
    p.catch(() => this.#resources.delete(groupVersion));
    if (this.#resources.size >= DISCOVERY_CACHE_MAX) {
      const oldest = this.#resources.keys().next();
      if (!oldest.done) this.#resources.delete(oldest.value);
    }
    this.#resources.set(groupVersion, p);
    return p;
  }

  /** Forgets cached discovery (e.g. after CRDs change). */
  invalidateDiscovery(): void {
    this.#resources.clear();
  }

  /** The resource type serving `kind` in `apiVersion`; throws `NotFoundError` if none. */
  async resolve(apiVersion: string, kind: string, signal?: AbortSignal): Promise<ResourceType> {
    const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
    const found = (await this.resources(apiVersion, signal)).find((r) => r.kind === kind);
    if (found === undefined) {
      throw new NotFoundError(`no resource for kind ${kind} in ${apiVersion}`);
    }
    return {
      group: group as string,
      version: version as string,
      resource: found.name,
      scope: found.namespaced ? 'Namespaced' : 'Cluster',
      kind,
    };
  }

  // ---- verbs ----------------------------------------------------------------------------

  async get<K extends KubeObject = KubeObject>(
    rt: ResourceType,
    ref: ObjectRef,
    opts: { readonly subresource?: string; readonly signal?: AbortSignal } = {},
  ): Promise<K> {
    return (await this.request('GET', resourcePath(rt, { ...ref, ...opts }), { signal: opts.signal })) as K;
  }

  /** One page; follow `metadata.continue` (without `resourceVersion`) for the next. */
  async list<K extends KubeObject = KubeObject>(
    rt: ResourceType,
    opts: ListOptions & { readonly namespace?: string } = {},
    signal?: AbortSignal,
  ): Promise<KubeList<K>> {
    const { namespace, ...query } = opts;
    const body = (await this.request('GET', resourcePath(rt, { ...(namespace ? { namespace } : {}) }), {
      query,
      signal,
    })) as Partial<KubeList<K>>;
    return { ...body, metadata: body.metadata ?? {}, items: body.items ?? [] };
  }

  /** Creates `obj` in its `metadata.namespace`. */
  async create<K extends KubeObject>(rt: ResourceType, obj: K, opts: WriteOptions = {}): Promise<K> {
    return (await this.request('POST', resourcePath(rt, { ...nsOf(obj) }), {
      body: obj,
      query: writeQuery(opts),
      signal: opts.signal,
    })) as K;
  }

  /** PUT: fails with `ConflictError` when `metadata.resourceVersion` is stale. */
  async replace<K extends KubeObject>(rt: ResourceType, obj: K, opts: WriteOptions = {}): Promise<K> {
    return (await this.request('PUT', resourcePath(rt, { ...nsOf(obj), name: nameOf(obj), ...subOf(opts) }), {
      body: obj,
      query: writeQuery(opts),
      signal: opts.signal,
    })) as K;
  }

  /** PUT to the `status` subresource. */
  replaceStatus<K extends KubeObject>(rt: ResourceType, obj: K, opts: WriteOptions = {}): Promise<K> {
    return this.replace(rt, obj, { ...opts, subresource: 'status' });
  }

  /** Returns the server's answer: the object (when finalizers delay deletion) or a `Status`. */
  async delete(rt: ResourceType, ref: ObjectRef, opts: DeleteOptions = {}): Promise<unknown> {
    const { signal, ...rest } = opts;
    const body = { apiVersion: 'v1', kind: 'DeleteOptions', ...rest };
    return await this.request('DELETE', resourcePath(rt, ref), { body, signal });
  }

  async patch<K extends KubeObject = KubeObject>(
    rt: ResourceType,
    ref: ObjectRef,
    patch: Patch,
    opts: WriteOptions = {},
  ): Promise<K> {
    return (await this.request('PATCH', resourcePath(rt, { ...ref, ...subOf(opts) }), {
      body: patch.type === 'json' ? patch.ops : patch.patch,
      contentType: PATCH_CONTENT_TYPE[patch.type],
      query: writeQuery(opts),
      signal: opts.signal,
    })) as K;
  }

  /**
   * Server-side apply of `obj` (a partial object naming only the fields this manager owns;
   * `apiVersion`, `kind` and `metadata.name` required). Conflicts with other managers fail
   * with `ConflictError` unless `force`.
   */
  async apply<K extends KubeObject = KubeObject>(
    rt: ResourceType,
    obj: KubeObject,
    opts: ApplyOptions,
  ): Promise<K> {
    return (await this.request(
      'PATCH',
      resourcePath(rt, { ...nsOf(obj), name: nameOf(obj), ...subOf(opts) }),
      {
        // JSON is YAML: the apply-patch content type accepts it as is.
        body: obj,
        contentType: 'application/apply-patch+yaml',
        query: { ...writeQuery(opts), ...(opts.force === undefined ? {} : { force: opts.force }) },
        signal: opts.signal,
      },
    )) as K;
  }

  /** Server-side apply to the `status` subresource. */
  applyStatus<K extends KubeObject = KubeObject>(
    rt: ResourceType,
    obj: KubeObject,
    opts: ApplyOptions,
  ): Promise<K> {
    return this.apply<K>(rt, obj, { ...opts, subresource: 'status' });
  }

  /**
   * Streams watch events until the server closes the watch (e.g. `timeoutSeconds`), `signal`
   * aborts (the iteration then throws the abort reason), or the stream fails. `ERROR` events
   * are passed through (`watcher.ts` maps them); non-2xx answers throw mapped errors.
   */
  async *watch<K extends KubeObject = KubeObject>(
    rt: ResourceType,
    opts: WatchOptions & { readonly namespace?: string },
    signal: AbortSignal,
  ): AsyncGenerator<RawWatchEvent<K>, void, undefined> {
    const { namespace, ...query } = opts;
    const idleMs = ((opts.timeoutSeconds ?? 1800) + 60) * 1000;
    const res = await this.#send('GET', resourcePath(rt, { ...(namespace ? { namespace } : {}) }), {
      query: { ...query, watch: true },
      signal,
      bodyTimeoutMs: idleMs,
    });
    try {
      for await (const line of ndjsonLines(res.body, this.#maxLine)) {
        let ev: unknown;
        try {
          ev = JSON.parse(line);
        } catch (err) {
          throw new ProtocolError('watch event is not JSON', { cause: err });
        }
        if (typeof ev !== 'object' || ev === null || typeof (ev as { type?: unknown }).type !== 'string') {
          throw new ProtocolError('watch event without a type');
        }
        yield ev as RawWatchEvent<K>;
      }
    } catch (err) {
      throw this.#transportError(err, signal);
    } finally {
      // Ends the request if the consumer stopped early; a no-op when fully read.
      res.body.destroy();
    }
  }

  /** A `WatchSource` for `watcher.ts`, bound to one namespace (or all) and selectors. */
  source<K extends KubeObject = KubeObject>(
    rt: ResourceType,
    scope: {
      readonly namespace?: string;
      readonly labelSelector?: string;
      readonly fieldSelector?: string;
    } = {},
  ): WatchSource<K> {
    const { namespace, ...selectors } = scope;
    const ns = namespace === undefined ? {} : { namespace };
    return {
      list: (opts, signal) => this.list<K>(rt, { ...opts, ...selectors, ...ns }, signal),
      watch: (opts, signal) => this.watch<K>(rt, { ...opts, ...selectors, ...ns }, signal),
    };
  }

  // ---- transport ------------------------------------------------------------------------

  /** Sends a request and returns the parsed JSON body (or undefined when empty). */
  async request(method: Dispatcher.HttpMethod, path: string, opts: SendOptions = {}): Promise<unknown> {
    const wait = this.#limit?.reserve() ?? 0;
    if (wait > 0) {
      await this.#clock.sleep(wait, opts.signal);
      opts.signal?.throwIfAborted();
    }
    const res = await this.#send(method, path, { ...opts, bodyTimeoutMs: this.#timeoutMs });
    let text: string;
    try {
      text = await readBounded(res.body, this.#maxResponse);
    } catch (err) {
      throw this.#transportError(err, opts.signal);
    }
    if (text === '') return undefined;
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new ProtocolError(`${method} ${path}: response is not JSON`, { cause: err });
    }
  }

  /** The one place requests go out and non-2xx answers are mapped to errors. */
  async #send(
    method: Dispatcher.HttpMethod,
    path: string,
    opts: SendOptions & { readonly bodyTimeoutMs: number },
  ): Promise<Dispatcher.ResponseData> {
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': this.#userAgent,
      ...(await this.#headers?.()),
    };
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] = opts.contentType ?? 'application/json';
    }
    let res: Dispatcher.ResponseData;
    try {
      res = await this.#agent.request({
        origin: this.#origin,
        path: this.#prefix + path + queryString(opts.query),
        method,
        headers,
        body,
        signal: opts.signal ?? null,
        headersTimeout: this.#timeoutMs,
        bodyTimeout: opts.bodyTimeoutMs,
      });
    } catch (err) {
      throw this.#transportError(err, opts.signal);
    }
    if (res.statusCode >= 200 && res.statusCode < 300) return res;
    let text = '';
    try {
      text = await readBounded(res.body, MiB);
    } catch {
      res.body.destroy();
    }
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: keep the text as the message
    }
    const retryAfter = res.headers['retry-after'];
    throw fromResponse(res.statusCode, parsed, Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
  }

  #transportError(err: unknown, signal: AbortSignal | undefined): unknown {
    if (signal?.aborted) return signal.reason ?? err;
    if (err instanceof KubeError) return err;
    if (err instanceof undiciErrors.RequestAbortedError) return err;
    const message = err instanceof Error ? err.message : String(err);
    return new UnavailableError(`transport: ${message}`, { cause: err });
  }
}

/** kubeconfig's `*-data` fields are base64; `*-file` fields are paths. */
function fileOrData(file: string | undefined, data: string | undefined): Buffer | undefined {
  if (file !== undefined && file !== '') return readFileSync(file);
  if (data !== undefined && data !== '') return Buffer.from(data, 'base64');
  return undefined;
}

function nsOf(obj: KubeObject): { namespace?: string } {
  const ns = obj.metadata?.namespace;
  return ns === undefined ? {} : { namespace: ns };
}

function nameOf(obj: KubeObject): string {
  const name = obj.metadata?.name;
  if (name === undefined || name === '') throw new TypeError('object has no metadata.name');
  return name;
}

function subOf(opts: WriteOptions): { subresource?: string } {
  return opts.subresource === undefined ? {} : { subresource: opts.subresource };
}

function writeQuery(opts: WriteOptions): Record<string, string | undefined> {
  return { fieldManager: opts.fieldManager, dryRun: opts.dryRun };
}

function queryString(query: SendOptions['query']): string {
  if (query === undefined) return '';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') params.set(k, String(v));
  const s = params.toString();
  return s === '' ? '' : `?${s}`;
}

async function readBounded(body: AsyncIterable<Buffer> & { destroy(): void }, max: number): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > max) {
      body.destroy();
      throw new ProtocolError(`response body exceeds ${max} bytes`);
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts, size).toString('utf8');
}

/**
 * Splits a byte stream into newline-delimited lines, holding at most `maxLine` bytes of an
 * unfinished line. Empty lines are skipped; a final unterminated line is yielded.
 */
export async function* ndjsonLines(body: AsyncIterable<Buffer>, maxLine: number): AsyncGenerator<string> {
  let parts: Buffer[] = [];
  let size = 0;
  const tooLong = (): ProtocolError =>
    new ProtocolError(`watch event line exceeds ${maxLine} bytes; refusing to buffer it`);
  for await (const chunk of body) {
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl >= 0; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      if (size + piece.length > maxLine) throw tooLong();
      const line = size === 0 ? piece : Buffer.concat([...parts, piece], size + piece.length);
      parts = [];
      size = 0;
      start = nl + 1;
      const text = line.toString('utf8').trim();
      if (text !== '') yield text;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      if (size + rest.length > maxLine) throw tooLong();
      parts.push(rest);
      size += rest.length;
    }
  }
  const last = Buffer.concat(parts, size).toString('utf8').trim();
  if (last !== '') yield last;
}
