import type { IncomingMessage } from 'node:http';
import { request } from 'node:https';
import type { Socket } from 'node:net';
import type { Logger } from '../kube/log.ts';
import {
  decodeRequestHead,
  forwardableRequestHeaders,
  forwardableResponseHeaders,
  impersonationHeaders,
  statusResponse,
  writeResponseHead,
  type RequestHead,
} from '../tunnel/http.ts';
import { splice } from '../tunnel/splice.ts';
import type { TunnelStream } from '../tunnel/stream.ts';
import type { MemberTarget } from './member.ts';

const flat = (pairs: readonly (readonly [string, string])[]): string[] => pairs.flatMap(([k, v]) => [k, v]);

/**
 * Serves one tunnel stream opened by the gateway: re-issues its HTTP request to the member
 * API server with the agent's own credentials plus `Impersonate-*` headers of the caller
 * named in the request head, and streams the answer back (see `src/tunnel/http.ts`).
 *
 * - Whatever `Authorization` and `Impersonate-*` headers the client sent are dropped here too
 *   (the gateway already drops them; the agent does not rely on it).
 * - Bodies flow with backpressure both ways; the stream being reset (client gone) aborts the
 *   upstream request, and the upstream response failing resets the stream.
 * - Upgrade requests (exec/attach/port-forward) are spliced after the member's 101.
 * - A failure before the member answered is sent back as a 502 `Status`.
 */
export function serveStream(stream: TunnelStream, member: MemberTarget, log: Logger): void {
  stream.on('error', () => {});
  let head: RequestHead;
  try {
    head = decodeRequestHead(stream.header);
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'bad request head from gateway');
    stream.destroy(err as Error);
    return;
  }
  void member.credentials().then(
    (creds) => issue(stream, head, member, creds, log),
    (err: unknown) => fail(stream, `agent credentials: ${(err as Error).message}`),
  );
}

function issue(
  stream: TunnelStream,
  head: RequestHead,
  member: MemberTarget,
  creds: Readonly<Record<string, string>>,
  log: Logger,
): void {
  const upgrade = head.headers.some(([k]) => k.toLowerCase() === 'upgrade');
  const headers: Record<string, string | string[]> = {};
  const add = (k: string, v: string): void => {
    const lk = k.toLowerCase();
    const cur = headers[lk];
    headers[lk] = cur === undefined ? v : Array.isArray(cur) ? [...cur, v] : [cur, v];
  };
  for (const [k, v] of forwardableRequestHeaders(flat(head.headers), upgrade)) add(k, v);
  for (const [k, v] of Object.entries(creds)) headers[k.toLowerCase()] = v;
  for (const [k, v] of impersonationHeaders(head.identity)) add(k, v);

  const prefix = member.server.pathname.replace(/\/+$/, '');
  const req = request({
    agent: member.agent,
    protocol: 'https:',
    hostname: member.server.hostname,
    port: member.server.port === '' ? 443 : Number(member.server.port),
    method: head.method,
    path: prefix + head.path,
    headers,
  });
  let answered = false;
  stream.on('error', () => req.destroy());
  stream.on('close', () => {
    if (!stream.writableFinished) req.destroy();
  });
  req.on('response', (res: IncomingMessage) => {
    answered = true;
    writeResponseHead(stream, {
      status: res.statusCode ?? 502,
      ...(res.statusMessage ? { statusMessage: res.statusMessage } : {}),
      headers: forwardableResponseHeaders(res.rawHeaders),
    });
    res.on('error', (err) => stream.destroy(err));
    res.on('aborted', () => stream.destroy(new Error('member API server aborted the response')));
    res.pipe(stream);
    if (upgrade) stream.resume(); // not upgraded after all: nothing more will be read
  });
  req.on('upgrade', (res: IncomingMessage, socket: Socket, early: Buffer) => {
    answered = true;
    writeResponseHead(stream, {
      status: 101,
      ...(res.statusMessage ? { statusMessage: res.statusMessage } : {}),
      headers: forwardableResponseHeaders(res.rawHeaders, true),
    });
    if (early.length > 0) stream.write(early);
    splice(stream, socket);
  });
  req.on('error', (err) => {
    if (answered) stream.destroy(err);
    else {
      log.warn({ err: err.message, path: head.path }, 'member request failed');
      fail(stream, `member API server: ${err.message}`);
    }
  });
  if (upgrade) req.end();
  else stream.pipe(req);
}

function fail(stream: TunnelStream, message: string): void {
  if (stream.destroyed) return;
  const { head, body } = statusResponse(502, 'BadGateway', message);
  writeResponseHead(stream, head);
  stream.end(body);
  stream.resume(); // discard any request body, so the stream can finish
}
