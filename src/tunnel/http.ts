/**
 * HTTP over tunnel streams: how the gateway asks an agent to issue one request to its
 * member API server, and how the answer comes back.
 *
 * - The stream's OPEN header is a `RequestHead` as JSON: method, path (with query), the
 *   client's headers, and the caller's identity as the gateway authenticated it.
 * - The request body follows as stream data; the gateway's CLOSE ends it.
 * - The agent answers with a `ResponseHead` — a `u32` length and JSON — as the first bytes
 *   on its direction, then the response body; its CLOSE ends the body. For an upgraded
 *   request (status 101) the bytes after the head are the raw upgraded connection, both ways.
 * - A failure before the head is sent is answered with a head carrying a Kubernetes
 *   `Status` body (see `statusResponse`); after it, by resetting the stream.
 */
import type { Readable, Writable } from 'node:stream';
import { TunnelError } from './errors.ts';
import { MAX_FRAME_PAYLOAD } from './frame.ts';

/** The authenticated caller a request is made for. */
export interface Identity {
  readonly user: string;
  readonly groups: readonly string[];
  readonly uid?: string;
  readonly extra?: Readonly<Record<string, readonly string[]>>;
}

/** Header name/value pairs in wire order (duplicates kept). */
export type HeaderPairs = readonly (readonly [string, string])[];

export interface RequestHead {
  readonly kind: 'http';
  readonly method: string;
  /** Path and query on the member API server, e.g. `/api/v1/pods?watch=1`. */
  readonly path: string;
  readonly headers: HeaderPairs;
  readonly identity: Identity;
}

export interface ResponseHead {
  readonly status: number;
  readonly statusMessage?: string;
  readonly headers: HeaderPairs;
}

/** Bound on an encoded head (a request head must also fit in one OPEN frame). */
export const MAX_HEAD_BYTES = MAX_FRAME_PAYLOAD;

export function encodeRequestHead(head: RequestHead): Buffer {
  const b = Buffer.from(JSON.stringify(head), 'utf8');
  if (b.length > MAX_HEAD_BYTES)
    throw new RangeError(`request head of ${b.length} bytes exceeds ${MAX_HEAD_BYTES}`);
  return b;
}

/** Parses and checks an OPEN header; throws `Protocol` on anything that is not a request head. */
export function decodeRequestHead(b: Buffer): RequestHead {
  let v: unknown;
  try {
    v = JSON.parse(b.toString('utf8'));
  } catch (err) {
    throw new TunnelError('Protocol', 'request head is not JSON', { cause: err });
  }
  const h = v as Partial<RequestHead> | null;
  const id = h?.identity as Partial<Identity> | undefined;
  if (
    h === null ||
    typeof h !== 'object' ||
    h.kind !== 'http' ||
    typeof h.method !== 'string' ||
    !/^[A-Z]+$/.test(h.method) ||
    typeof h.path !== 'string' ||
    !h.path.startsWith('/') ||
    !isHeaderPairs(h.headers) ||
    id === undefined ||
    typeof id.user !== 'string' ||
    !Array.isArray(id.groups) ||
    !id.groups.every((g) => typeof g === 'string')
  )
    throw new TunnelError('Protocol', 'malformed request head');
  return h as RequestHead;
}

function isHeaderPairs(v: unknown): v is HeaderPairs {
  return (
    Array.isArray(v) &&
    v.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' && typeof p[1] === 'string')
  );
}

/** Writes the response head as the first bytes of `w`. */
export function writeResponseHead(w: Writable, head: ResponseHead): void {
  const json = Buffer.from(JSON.stringify(head), 'utf8');
  if (json.length > MAX_HEAD_BYTES)
    throw new RangeError(`response head of ${json.length} bytes exceeds ${MAX_HEAD_BYTES}`);
  const len = Buffer.allocUnsafe(4);
  len.writeUInt32BE(json.length, 0);
  w.write(Buffer.concat([len, json]));
}

/**
 * Reads the response head from the start of `r`; bytes after it are put back (`unshift`) for
 * the body. Rejects with `Protocol` on a malformed or oversized head, or with the stream's
 * error, or with `Protocol` when the stream ends first.
 */
export function readResponseHead(r: Readable): Promise<ResponseHead> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const cleanup = (): void => {
      r.off('readable', onReadable);
      r.off('error', onError);
      r.off('end', onEnd);
    };
    const fail = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onError = (err: Error): void => fail(err);
    const onEnd = (): void => fail(new TunnelError('Protocol', 'stream ended before the response head'));
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while ((chunk = r.read() as Buffer | null) !== null) {
        buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
        if (buf.length < 4) continue;
        const n = buf.readUInt32BE(0);
        if (n > MAX_HEAD_BYTES) return fail(new TunnelError('Protocol', `response head of ${n} bytes`));
        if (buf.length < 4 + n) continue;
        let head: ResponseHead;
        try {
          head = JSON.parse(buf.subarray(4, 4 + n).toString('utf8')) as ResponseHead;
        } catch (err) {
          return fail(new TunnelError('Protocol', 'response head is not JSON', { cause: err }));
        }
        if (typeof head.status !== 'number' || !isHeaderPairs(head.headers))
          return fail(new TunnelError('Protocol', 'malformed response head'));
        cleanup();
        const rest = buf.subarray(4 + n);
        if (rest.length > 0) r.unshift(rest);
        resolve(head);
        return;
      }
    };
    r.on('readable', onReadable);
    r.once('error', onError);
    r.once('end', onEnd);
  });
}

// ---- headers ------------------------------------------------------------------------------

/** Hop-by-hop headers (RFC 9110 §7.6.1): never forwarded by a proxy. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);

/**
 * The client's headers a proxy may pass on: without hop-by-hop headers (and those the
 * `Connection` header names), without `Authorization` (the caller's credential for the hub,
 * never the member's) and without any `Impersonate-*` header (the caller may not choose who
 * it is). With `keepUpgrade`, `Connection: Upgrade` and `Upgrade` are kept for 101 requests.
 */
export function forwardableRequestHeaders(raw: readonly string[], keepUpgrade = false): [string, string][] {
  const named = connectionTokens(raw);
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = raw[i] as string;
    const v = raw[i + 1] as string;
    const lk = k.toLowerCase();
    if (lk === 'authorization' || lk.startsWith('impersonate-')) continue;
    if (keepUpgrade && lk === 'upgrade') {
      out.push([k, v]);
      continue;
    }
    if (HOP_BY_HOP.has(lk) || named.has(lk)) continue;
    out.push([k, v]);
  }
  if (keepUpgrade) out.push(['Connection', 'Upgrade']);
  return out;
}

/** Response headers a proxy may pass on (hop-by-hop removed; kept for a 101 when `keepUpgrade`). */
export function forwardableResponseHeaders(raw: readonly string[], keepUpgrade = false): [string, string][] {
  const named = connectionTokens(raw);
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = raw[i] as string;
    const v = raw[i + 1] as string;
    const lk = k.toLowerCase();
    if (keepUpgrade && (lk === 'upgrade' || lk === 'connection')) {
      out.push([k, v]);
      continue;
    }
    if (HOP_BY_HOP.has(lk) || named.has(lk)) continue;
    out.push([k, v]);
  }
  return out;
}

function connectionTokens(raw: readonly string[]): Set<string> {
  const s = new Set<string>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() !== 'connection') continue;
    for (const t of (raw[i + 1] as string).split(',')) {
      const tok = t.trim().toLowerCase();
      if (tok !== '' && tok !== 'upgrade') s.add(tok);
    }
  }
  return s;
}

/**
 * The `Impersonate-*` headers that make the member API server treat a request as `id`'s:
 * `Impersonate-User`, one `Impersonate-Group` per group, `Impersonate-Uid`, and
 * `Impersonate-Extra-<key>` per extra value (keys percent-encoded as Kubernetes requires).
 */
export function impersonationHeaders(id: Identity): [string, string][] {
  const h: [string, string][] = [['Impersonate-User', id.user]];
  for (const g of id.groups) h.push(['Impersonate-Group', g]);
  if (id.uid !== undefined && id.uid !== '') h.push(['Impersonate-Uid', id.uid]);
  for (const [k, vs] of Object.entries(id.extra ?? {})) {
    for (const v of vs) h.push([`Impersonate-Extra-${encodeURIComponent(k)}`, v]);
  }
  return h;
}

/** A Kubernetes `Status` failure body (what kubectl prints as the error). */
export function statusBody(code: number, reason: string, message: string): string {
  return JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
  });
}

/** A `Status` failure as a response head and body, for errors the proxy itself answers. */
export function statusResponse(
  code: number,
  reason: string,
  message: string,
): { head: ResponseHead; body: Buffer } {
  const body = Buffer.from(statusBody(code, reason, message));
  return {
    head: {
      status: code,
      headers: [
        ['Content-Type', 'application/json'],
        ['Content-Length', String(body.length)],
      ],
    },
    body,
  };
}
