/**
 * The push-mode health probe and discovery of a member's APIs, over its `ApiClient`.
 */
import type { APIEnablement } from '../../api/index.ts';
import type { ApiClient } from '../../kube/api-client.ts';
import { KubeError, ProtocolError } from '../../kube/errors.ts';
import type { ProbeOutcome } from './conditions.ts';

/** Per-request timeout of a probe: a member that takes longer is as good as down. */
export const PROBE_TIMEOUT_MS = 5_000;

const timeout = (signal: AbortSignal, ms: number): AbortSignal =>
  AbortSignal.any([signal, AbortSignal.timeout(ms)]);

/**
 * `request` under `signal`, settled no later than `signal` aborts. The HTTP client passes the
 * signal on, but an abort during the TLS handshake only takes effect at its own connect
 * timeout (10 s): a frozen API server accepts TCP connections and never completes the
 * handshake. The abandoned request's eventual outcome is ignored.
 */
export function bounded<T>(request: (signal: AbortSignal) => Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  const pending = request(signal);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    pending.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}

/**
 * GET `/readyz` then `/version`. Rejects only when `signal` aborts; every other failure is an
 * outcome. `/readyz` answers plain text, which `ApiClient.request` reports as a
 * `ProtocolError` (it is a JSON client) only after a 2xx status: that is a pass.
 */
export async function probe(
  client: ApiClient,
  signal: AbortSignal,
  timeoutMs = PROBE_TIMEOUT_MS,
): Promise<ProbeOutcome> {
  try {
    try {
      await bounded((s) => client.request('GET', '/readyz', { signal: s }), timeout(signal, timeoutMs));
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
    }
    const v = (await bounded(
      (s) => client.request('GET', '/version', { signal: s }),
      timeout(signal, timeoutMs),
    )) as { gitVersion?: unknown };
    if (typeof v?.gitVersion !== 'string') {
      return { ok: false, reason: 'ProbeFailed', message: '/version answered without gitVersion' };
    }
    return { ok: true, version: v.gitVersion };
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    return failure(err, timeoutMs);
  }
}

function failure(err: unknown, timeoutMs: number): Extract<ProbeOutcome, { ok: false }> {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof KubeError) {
    if (err.code === 'Unauthorized' || err.code === 'Forbidden') {
      return { ok: false, reason: 'Unauthorized', message: `credentials refused: ${message}` };
    }
    if (err.httpStatus !== undefined) {
      return {
        ok: false,
        reason: 'NotReady',
        message: `/readyz failed (HTTP ${err.httpStatus}): ${message}`,
      };
    }
  }
  // No HTTP answer: connection refused, TLS failure, timeout.
  const detail =
    err instanceof Error && err.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : message;
  return { ok: false, reason: 'Unreachable', message: `API server unreachable: ${detail}` };
}

/** Every group version the member serves (`/api` + `/apis`), sorted: cheap, two requests. */
export async function groupVersions(
  client: ApiClient,
  signal: AbortSignal,
  timeoutMs = PROBE_TIMEOUT_MS,
): Promise<string[]> {
  const s = timeout(signal, timeoutMs);
  const [core, groups] = await Promise.all([
    bounded((x) => client.coreVersions(x), s),
    bounded((x) => client.groups(x), s),
  ]);
  const out = new Set<string>(core);
  for (const g of groups) for (const v of g.versions) out.add(v.groupVersion);
  return [...out].sort();
}

export interface Discovery {
  /** Sorted by group version; resources sorted by name. */
  readonly enablements: APIEnablement[];
  /** Group versions whose resources could not be read (e.g. an aggregated API that is down). */
  readonly failed: string[];
}

/** The resources of each of `gvs` (served through the client's bounded discovery cache). */
export async function discover(
  client: ApiClient,
  gvs: readonly string[],
  signal: AbortSignal,
  timeoutMs = PROBE_TIMEOUT_MS,
): Promise<Discovery> {
  const enablements: APIEnablement[] = [];
  const failed: string[] = [];
  const results = await Promise.allSettled(
    gvs.map((gv) => bounded((x) => client.resources(gv, x), timeout(signal, timeoutMs))),
  );
  if (signal.aborted) throw signal.reason;
  results.forEach((r, i) => {
    const groupVersion = gvs[i] as string;
    if (r.status === 'rejected') {
      failed.push(groupVersion);
      return;
    }
    const resources = r.value
      .map((res) => ({ name: res.name, kind: res.kind }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    enablements.push({ groupVersion, resources });
  });
  return { enablements, failed };
}
