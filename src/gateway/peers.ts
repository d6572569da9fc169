import type { IncomingMessage, ServerResponse } from 'node:http';
import { Agent, request, type RequestOptions } from 'node:https';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { forwardableRequestHeaders, forwardableResponseHeaders, type Identity } from '../tunnel/http.ts';
import { identityFromCertificate } from './identity.ts';
import { sendStatus, writeRawStatus } from './proxy.ts';

/** Where one replica sends another a request for a cluster whose agent it does not hold. */
export const PEER_PATH_PREFIX = '/peer/v1/clusters/';
/** Set on a 503 when the answering replica holds no agent of the cluster (so try another replica). */
export const NO_AGENT_HEADER = 'X-Meridian-No-Agent';
/** The caller the first replica authenticated (and authorised), as base64url JSON. */
export const PEER_IDENTITY_HEADER = 'X-Meridian-Peer-Identity';

/** A request the gateway has admitted: who, which cluster, which member path. */
export interface Target {
  readonly cluster: string;
  readonly path: string;
  readonly identity: Identity;
  readonly via: 'hub' | 'direct' | 'peer';
  readonly verb: string;
}

export interface PeerOptions {
  /**
   * Base URLs (`https://host:port`) of the other replicas, tried in order; a function is
   * re-read per request (for discovery). This replica's own URL must not be listed.
   */
  readonly urls: readonly string[] | (() => readonly string[]);
  /** Client certificate and key this replica presents to its peers (clientAuth, signed by the hub CA). */
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  /** CA the peers' serving certificates chain to (the hub CA). */
  readonly ca: string | Buffer;
  /** Common names a peer's client certificate may have. Default `meridian-gateway`. */
  readonly allowedNames?: readonly string[];
}

type Outcome = { readonly status: number; readonly error?: string };

/** Header pairs as Node's request options want them (repeated names as arrays; Host added by Node). */
function headerObject(pairs: readonly (readonly [string, string])[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of pairs) {
    const lk = k.toLowerCase();
    const cur = out[lk];
    out[lk] = cur === undefined ? v : Array.isArray(cur) ? [...cur, v] : [cur, v];
  }
  return out;
}

const flat = (pairs: readonly (readonly [string, string])[]): string[] => pairs.flatMap(([k, v]) => [k, v]);

/**
 * Replicas forward to each other. An agent holds a tunnel to one replica (whichever the load
 * balancer in front of the replicas gave it); a request reaching another replica is sent on
 * to the replicas in turn until one has the cluster's agent. That replica serves it from its
 * local agents only — a forwarded request is never forwarded again, so there are no loops.
 *
 * A replica without the agent answers 503 with `X-Meridian-No-Agent` *before* reading a
 * request body (the forwarding replica sends `Expect: 100-continue` when there is a body), so
 * the same request can go on to the next replica. Peers authenticate each other with
 * hub-CA client certificates whose CN is an allowed peer name; the caller's identity, already
 * authenticated and authorised by the first replica, travels in `X-Meridian-Peer-Identity`.
 */
export class PeerForwarder {
  readonly #urls: () => readonly string[];
  readonly #agent: Agent;
  readonly #allowed: ReadonlySet<string>;

  constructor(o: PeerOptions) {
    const urls = o.urls;
    this.#urls = typeof urls === 'function' ? urls : () => urls;
    this.#agent = new Agent({ cert: o.cert, key: o.key, ca: o.ca, keepAlive: true, maxSockets: 256 });
    this.#allowed = new Set(o.allowedNames ?? ['meridian-gateway']);
  }

  /** The identity a peer forwarded, when the connection is an allowed peer's; else undefined. */
  authenticate(req: IncomingMessage): Identity | undefined {
    const peer = identityFromCertificate(req.socket as TLSSocket);
    if (peer === undefined || !this.#allowed.has(peer.user)) return undefined;
    const h = req.headers[PEER_IDENTITY_HEADER.toLowerCase()];
    if (typeof h !== 'string') return undefined;
    try {
      const id = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Identity;
      if (typeof id.user !== 'string' || id.user === '' || !Array.isArray(id.groups)) return undefined;
      return id;
    } catch {
      return undefined;
    }
  }

  #options(url: string, req: IncomingMessage, t: Target, upgrade: boolean, expect: boolean): RequestOptions {
    const u = new URL(`${PEER_PATH_PREFIX}${t.cluster}${t.path}`, url);
    const headers = forwardableRequestHeaders(req.rawHeaders, upgrade).filter(([k]) => {
      const lk = k.toLowerCase();
      return lk !== 'expect' && lk !== PEER_IDENTITY_HEADER.toLowerCase() && !lk.startsWith('x-remote-');
    });
    headers.push([PEER_IDENTITY_HEADER, Buffer.from(JSON.stringify(t.identity)).toString('base64url')]);
    if (expect) headers.push(['Expect', '100-continue']);
    return {
      protocol: u.protocol,
      hostname: u.hostname.replace(/^\[|\]$/g, ''),
      port: u.port,
      path: `${u.pathname}${u.search}`,
      method: req.method ?? 'GET',
      headers: headerObject(headers),
      agent: upgrade ? false : this.#agent,
      ...(upgrade
        ? { cert: this.#agentOpt('cert'), key: this.#agentOpt('key'), ca: this.#agentOpt('ca') }
        : {}),
    };
  }

  #agentOpt(k: 'cert' | 'key' | 'ca'): string | Buffer {
    return (this.#agent.options as Record<string, string | Buffer>)[k] as string | Buffer;
  }

  /** Sends a plain request on to the replica holding the cluster's agent and streams its answer back. */
  async forwardRequest(req: IncomingMessage, res: ServerResponse, t: Target): Promise<Outcome> {
    const hasBody =
      req.headers['transfer-encoding'] !== undefined ||
      (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
    const errors: string[] = [];
    for (const url of this.#urls()) {
      const r = await new Promise<Outcome | 'next'>((resolve) => {
        let bodySent = false;
        const preq = request(this.#options(url, req, t, false, hasBody));
        const onClientClose = (): void => {
          if (!res.writableFinished) preq.destroy(new Error('client went away'));
        };
        res.once('close', onClientClose);
        preq.on('continue', () => {
          bodySent = true;
          res.writeContinue();
          req.pipe(preq);
        });
        preq.on('response', (pres) => {
          if (
            pres.statusCode === 503 &&
            pres.headers[NO_AGENT_HEADER.toLowerCase()] !== undefined &&
            !bodySent
          ) {
            pres.resume();
            res.off('close', onClientClose);
            preq.destroy();
            errors.push(`${url}: no agent`);
            resolve('next');
            return;
          }
          const headers = flat(forwardableResponseHeaders(pres.rawHeaders));
          res.writeHead(pres.statusCode ?? 502, pres.statusMessage ?? '', headers);
          res.flushHeaders();
          pres.on('error', (err) => res.destroy(err));
          pres.pipe(res);
          resolve({ status: pres.statusCode ?? 502 });
        });
        preq.on('error', (err) => {
          res.off('close', onClientClose);
          if (res.headersSent) {
            res.destroy(err);
            return;
          }
          if (bodySent) {
            const msg = `cluster ${t.cluster}: gateway replica ${url} failed: ${err.message}`;
            sendStatus(res, 502, 'BadGateway', msg);
            resolve({ status: 502, error: msg });
            return;
          }
          errors.push(`${url}: ${err.message}`);
          resolve('next');
        });
        if (!hasBody) preq.end();
      });
      if (r !== 'next') return r;
    }
    const msg = `cluster ${t.cluster} has no connected agent on any gateway replica (${errors.join('; ') || 'no peers'})`;
    sendStatus(res, 503, 'ServiceUnavailable', msg);
    return { status: 503, error: msg };
  }

  /** Sends an upgrade request (exec, attach, port-forward) on and splices the two connections after a 101. */
  async forwardUpgrade(req: IncomingMessage, socket: Duplex, early: Buffer, t: Target): Promise<Outcome> {
    const errors: string[] = [];
    for (const url of this.#urls()) {
      const r = await new Promise<Outcome | 'next'>((resolve) => {
        const preq = request(this.#options(url, req, t, true, false));
        const cancel = (): void => {
          preq.destroy(new Error('client went away'));
        };
        socket.once('close', cancel);
        preq.on('upgrade', (pres: IncomingMessage, psocket: Duplex, head: Buffer) => {
          socket.off('close', cancel);
          let text = `HTTP/1.1 ${pres.statusCode ?? 101} ${pres.statusMessage ?? ''}\r\n`;
          for (const [k, v] of forwardableResponseHeaders(pres.rawHeaders, true)) text += `${k}: ${v}\r\n`;
          socket.write(`${text}\r\n`);
          if (head.length > 0) socket.write(head);
          if (early.length > 0) psocket.write(early);
          psocket.pipe(socket);
          socket.pipe(psocket);
          psocket.on('error', () => socket.destroy());
          socket.on('error', () => psocket.destroy());
          psocket.on('close', () => socket.destroy());
          socket.on('close', () => psocket.destroy());
          resolve({ status: pres.statusCode ?? 101 });
        });
        preq.on('response', (pres) => {
          socket.off('close', cancel);
          if (pres.statusCode === 503 && pres.headers[NO_AGENT_HEADER.toLowerCase()] !== undefined) {
            pres.resume();
            errors.push(`${url}: no agent`);
            resolve('next');
            return;
          }
          let text = `HTTP/1.1 ${pres.statusCode ?? 502} ${pres.statusMessage ?? ''}\r\n`;
          for (const [k, v] of forwardableResponseHeaders(pres.rawHeaders)) text += `${k}: ${v}\r\n`;
          socket.write(`${text}Connection: close\r\n\r\n`);
          pres.pipe(socket);
          resolve({ status: pres.statusCode ?? 502 });
        });
        preq.on('error', (err) => {
          socket.off('close', cancel);
          errors.push(`${url}: ${err.message}`);
          resolve('next');
        });
        preq.end();
      });
      if (r !== 'next') return r;
    }
    const msg = `cluster ${t.cluster} has no connected agent on any gateway replica (${errors.join('; ') || 'no peers'})`;
    writeRawStatus(socket, 503, 'ServiceUnavailable', msg);
    return { status: 503, error: msg };
  }

  close(): void {
    this.#agent.destroy();
  }
}
