import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { splice } from '../tunnel/splice.ts';
import type { TunnelStream } from '../tunnel/stream.ts';
import {
  encodeRequestHead,
  forwardableRequestHeaders,
  forwardableResponseHeaders,
  readResponseHead,
  statusBody,
  type HeaderPairs,
  type Identity,
  type RequestHead,
} from '../tunnel/http.ts';
import type { TunnelSession } from '../tunnel/session.ts';

/** One proxied request, reported when it ends. */
export interface AuditRecord {
  readonly user: string;
  readonly groups: readonly string[];
  readonly uid?: string;
  readonly cluster: string;
  /** The Kubernetes verb the hub authorised (`get`, `create`, … on `clusters/proxy`). */
  readonly verb: string;
  readonly method: string;
  /** Path on the member (without the proxy prefix), with query. */
  readonly path: string;
  /**
   * How the request came: `hub` through the hub kube-apiserver (aggregated API), `direct` with a
   * hub-CA client certificate, `peer` forwarded by another gateway replica.
   */
  readonly via: 'hub' | 'direct' | 'peer';
  /** The `Upgrade` protocol the client asked for (`websocket`, `SPDY/3.1`), for exec/attach/port-forward. */
  readonly upgrade?: string;
  /** Status sent to the client (101 for an upgrade); 0 when the client went away before a response. */
  readonly status: number;
  readonly durationMs: number;
  /** Why the request failed in the proxy, if it did. */
  readonly error?: string;
}

export interface ProxyTarget {
  readonly cluster: string;
  readonly session: TunnelSession;
  /** Path and query on the member API server. */
  readonly path: string;
  readonly identity: Identity;
  /** Request headers (lower-cased names) never forwarded, besides the ones the tunnel drops. */
  readonly dropHeader?: (lowerName: string) => boolean;
}

/** The client's headers to forward: `forwardableRequestHeaders` minus `Expect` and `t.dropHeader`. */
function requestHeaders(req: IncomingMessage, t: ProxyTarget, upgrade: boolean): HeaderPairs {
  const drop = t.dropHeader ?? (() => false);
  return forwardableRequestHeaders(req.rawHeaders, upgrade).filter(([k]) => {
    const lk = k.toLowerCase();
    // 100-continue is this hop's business (answered by the gateway's HTTP server).
    return lk !== 'expect' && !drop(lk);
  });
}

export function sendStatus(res: ServerResponse, code: number, reason: string, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = statusBody(code, reason, message);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

const flat = (pairs: HeaderPairs): string[] => pairs.flatMap(([k, v]) => [k, v]);

/** Whether a request carries a body: only with `Content-Length` above 0 or `Transfer-Encoding`. */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** A tunnel stream carrying `req`'s head to the agent, or why none could be opened. */
function openStream(req: IncomingMessage, t: ProxyTarget, upgrade: boolean): TunnelStream | string {
  const head: RequestHead = {
    kind: 'http',
    method: req.method ?? 'GET',
    path: t.path,
    headers: requestHeaders(req, t, upgrade),
    identity: t.identity,
  };
  try {
    return t.session.open(encodeRequestHead(head));
  } catch (err) {
    return `cluster ${t.cluster}: cannot open a tunnel stream: ${(err as Error).message}`;
  }
}

/**
 * Forwards one HTTP request over a new tunnel stream and streams the answer back. The request
 * body and the response body flow with backpressure end to end (a watch or `logs -f` is just
 * a long response). The client going away resets the stream, which ends the agent's request
 * to its API server; the stream failing after the response started cuts the client's
 * connection, so a truncated body is never mistaken for a whole one.
 */
export async function proxyRequest(
  req: IncomingMessage,
  res: ServerResponse,
  t: ProxyTarget,
): Promise<{ status: number; error?: string }> {
  const opened = openStream(req, t, false);
  if (typeof opened === 'string') {
    sendStatus(res, 503, 'ServiceUnavailable', opened);
    return { status: 503, error: opened };
  }
  const stream = opened;
  let failure: Error | undefined;
  stream.on('error', (err) => {
    failure ??= err;
    if (res.headersSent) res.destroy(err);
  });
  res.on('close', () => {
    if (!res.writableFinished) stream.destroy(new Error('client went away'));
  });
  if (hasBody(req)) req.pipe(stream);
  else {
    // No body (RFC 9112 §6.3): the CLOSE leaves with the OPEN, in one tunnel message.
    stream.end();
    req.resume();
  }
  try {
    const rh = await readResponseHead(stream);
    const headers = flat(forwardableResponseHeaders(flat(rh.headers)));
    if (rh.statusMessage) res.writeHead(rh.status, rh.statusMessage, headers);
    else res.writeHead(rh.status, headers);
    // A watch may not produce a body byte for minutes: its headers go now. A body (or its end)
    // that came with the head goes out with them, in one write.
    if (stream.bufferedIn === 0 && !stream.finReceived) res.flushHeaders();
    stream.pipe(res);
    return { status: rh.status };
  } catch (err) {
    const msg = `cluster ${t.cluster}: the agent did not answer: ${(failure ?? (err as Error)).message}`;
    sendStatus(res, 502, 'BadGateway', msg);
    stream.destroy();
    return { status: 502, error: msg };
  }
}

/**
 * Forwards an HTTP/1.1 `Upgrade` request (exec, attach, port-forward: SPDY/3.1 or WebSocket)
 * and, after the member's `101 Switching Protocols`, splices the client's socket to the
 * stream: raw bytes both ways, half-close passed on. Any other answer is written back as a
 * plain response and the connection is closed.
 */
export async function proxyUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  early: Buffer,
  t: ProxyTarget,
): Promise<{ status: number; error?: string }> {
  const opened = openStream(req, t, true);
  if (typeof opened === 'string') {
    writeRawStatus(socket, 503, 'ServiceUnavailable', opened);
    return { status: 503, error: opened };
  }
  const stream = opened;
  let failure: Error | undefined;
  stream.on('error', (err) => {
    failure ??= err;
    socket.destroy();
  });
  // Until the member answers, the client going away just cancels the request.
  const cancel = (): void => {
    stream.destroy(new Error('client went away'));
  };
  socket.once('close', cancel);
  if (early.length > 0) stream.write(early);
  try {
    const rh = await readResponseHead(stream);
    const upgraded = rh.status === 101;
    const headers = forwardableResponseHeaders(flat(rh.headers), upgraded);
    let text = `HTTP/1.1 ${rh.status} ${rh.statusMessage ?? ''}\r\n`;
    for (const [k, v] of headers) text += `${k}: ${v}\r\n`;
    if (!upgraded) text += 'Connection: close\r\n';
    socket.off('close', cancel);
    socket.write(`${text}\r\n`);
    if (upgraded) splice(stream, socket);
    else {
      stream.end();
      stream.pipe(socket);
      socket.on('close', cancel);
    }
    return { status: rh.status };
  } catch (err) {
    const msg = `cluster ${t.cluster}: the agent did not answer: ${(failure ?? (err as Error)).message}`;
    writeRawStatus(socket, 502, 'BadGateway', msg);
    stream.destroy();
    return { status: 502, error: msg };
  }
}

/** A complete HTTP/1.1 error response on a raw socket, then close. */
export function writeRawStatus(
  socket: Duplex,
  code: number,
  reason: string,
  message: string,
  extraHeaders: Readonly<Record<string, string>> = {},
): void {
  if (socket.destroyed) return;
  const body = statusBody(code, reason, message);
  const extra = Object.entries(extraHeaders)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.end(
    `HTTP/1.1 ${code} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `${extra}Connection: close\r\n\r\n${body}`,
  );
}
