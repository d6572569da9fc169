import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import { silentLogger, type Logger } from '../kube/log.ts';
import type { Identity } from '../tunnel/http.ts';
import { TunnelSession, type SessionOptions } from '../tunnel/session.ts';
import { webSocketTransport } from '../tunnel/transport.ts';
import { identityFromCertificate } from './identity.ts';
import { proxyRequest, proxyUpgrade, sendStatus, writeRawStatus, type AuditRecord } from './proxy.ts';
import { AgentRegistry } from './registry.ts';
import type { AgentAuthenticator } from './tokens.ts';

export interface GatewayOptions {
  /** Listen address. Default `0.0.0.0`. */
  readonly host?: string;
  /** Listen port; 0 picks a free one. Default 0. */
  readonly port?: number;
  /** PEM serving certificate and key, and the CA whose client certificates identify users (the hub CA). */
  readonly tls: {
    readonly cert: string | Buffer;
    readonly key: string | Buffer;
    readonly clientCa: string | Buffer;
  };
  /** Decides which agent may connect for which cluster. */
  readonly agents: AgentAuthenticator;
  /** Tunnel session settings for agent connections. */
  readonly session?: Omit<SessionOptions, 'role' | 'onStream'>;
  readonly log?: Logger;
  /** Called once per proxied request when it ends. Default: an `info` log line. */
  readonly audit?: (r: AuditRecord) => void;
  /**
   * Serves the dashboard (`/dashboard/…`, see src/dashboard): called first for every plain
   * request with the caller's verified client-certificate identity, if any; returns whether
   * it answered.
   */
  readonly dashboard?: (req: IncomingMessage, res: ServerResponse, caller: Identity | undefined) => boolean;
}

export interface Gateway {
  /** `https://host:port` as listening (127.0.0.1 when bound to every address). */
  readonly url: string;
  readonly port: number;
  readonly agents: AgentRegistry;
  /** Closes agent tunnels, client connections and the listener. */
  close(): Promise<void>;
}

/** Where agents connect: `/tunnel/v1/clusters/<name>` (WebSocket). */
export const TUNNEL_PATH_PREFIX = '/tunnel/v1/clusters/';
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * meridian-gateway: terminates agent tunnels and serves the cluster proxy over HTTPS.
 *
 * - `GET /tunnel/v1/clusters/<name>` with `Authorization: Bearer <agent token>`: an agent's
 *   WebSocket tunnel for cluster `<name>` (401 when the token is not that cluster's).
 * - `/clusters/<name>/<path>`: the member API server's `<path>`, forwarded over a tunnel stream
 *   of one of the cluster's agents, for the caller identified by its client certificate
 *   (hub CA; CN = user, O = groups). Client-supplied `Impersonate-*` and `Authorization`
 *   headers are dropped; the agent adds impersonation of the caller. Upgrades (exec, attach,
 *   port-forward) are spliced after the member's 101. Failures the gateway answers itself are
 *   Kubernetes `Status` bodies: 401 no verified certificate, 404 unknown path, 503 no agent
 *   connected, 502 the agent failed before answering.
 * - `GET /healthz`: 200.
 */
export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const log = opts.log ?? silentLogger;
  const audit = opts.audit ?? ((r: AuditRecord) => log.info({ audit: r }, 'proxied request'));
  const agents = new AgentRegistry();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 1 << 20 });
  const server: Server = createServer({
    cert: opts.tls.cert,
    key: opts.tls.key,
    ca: opts.tls.clientCa,
    requestCert: true,
    // Agents and anonymous probes have no client certificate; each route checks `authorized`.
    rejectUnauthorized: false,
  });

  const route = (
    req: IncomingMessage,
  ):
    | { kind: 'tunnel'; cluster: string }
    | { kind: 'cluster'; cluster: string; path: string }
    | { kind: 'healthz' }
    | undefined => {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const pathname = q < 0 ? raw : raw.slice(0, q);
    if (pathname === '/healthz') return { kind: 'healthz' };
    if (pathname.startsWith(TUNNEL_PATH_PREFIX)) {
      const cluster = pathname.slice(TUNNEL_PATH_PREFIX.length);
      return DNS_LABEL.test(cluster) ? { kind: 'tunnel', cluster } : undefined;
    }
    const m = /^\/clusters\/([^/?]+)(.*)$/.exec(raw);
    if (m === null || !DNS_LABEL.test(m[1] as string)) return undefined;
    const rest = m[2] as string;
    return { kind: 'cluster', cluster: m[1] as string, path: rest.startsWith('/') ? rest : `/${rest}` };
  };

  const caller = (req: IncomingMessage): Identity | undefined =>
    identityFromCertificate(req.socket as TLSSocket);

  const finish =
    (cluster: string, id: Identity, req: IncomingMessage, path: string, t0: number) =>
    (r: { status: number; error?: string }, ended: Promise<unknown>) => {
      void ended.then(() =>
        audit({
          user: id.user,
          groups: id.groups,
          cluster,
          method: req.method ?? 'GET',
          path,
          ...(req.headers.upgrade === undefined ? {} : { upgrade: req.headers.upgrade }),
          status: r.status,
          durationMs: Math.round(performance.now() - t0),
          ...(r.error === undefined ? {} : { error: r.error }),
        }),
      );
    };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (opts.dashboard?.(req, res, caller(req))) return;
    const r = route(req);
    if (r?.kind === 'healthz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
      return;
    }
    if (r?.kind !== 'cluster') {
      sendStatus(res, 404, 'NotFound', `no route for ${req.url ?? ''}`);
      return;
    }
    const id = caller(req);
    if (id === undefined) {
      sendStatus(res, 401, 'Unauthorized', 'a client certificate signed by the hub CA is required');
      return;
    }
    const conn = agents.pick(r.cluster);
    if (conn === undefined) {
      sendStatus(res, 503, 'ServiceUnavailable', `cluster ${r.cluster} has no connected agent`);
      return;
    }
    const t0 = performance.now();
    const done = finish(r.cluster, id, req, r.path, t0);
    const ended = new Promise((resolve) => res.once('close', resolve));
    void proxyRequest(req, res, {
      cluster: r.cluster,
      session: conn.session,
      path: r.path,
      identity: id,
    }).then((out) => done(out, ended));
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, early: Buffer) => {
    socket.on('error', () => socket.destroy());
    const r = route(req);
    if (r?.kind === 'tunnel') {
      const auth = req.headers.authorization ?? '';
      const token = auth.startsWith('Bearer ') ? auth.slice('Bearer '.length).trim() : '';
      if (!opts.agents.verify(r.cluster, token, req.socket as TLSSocket)) {
        log.warn({ cluster: r.cluster, remote: req.socket.remoteAddress }, 'agent refused: bad token');
        writeRawStatus(socket, 401, 'Unauthorized', `not an agent token for cluster ${r.cluster}`);
        return;
      }
      wss.handleUpgrade(req, socket, early, (ws) => {
        const session = new TunnelSession(webSocketTransport(ws), { role: 'acceptor', ...opts.session });
        const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
        agents.add({ cluster: r.cluster, session, remote, connectedAt: new Date() });
        log.info({ cluster: r.cluster, remote }, 'agent connected');
        void session.closed.then((err) =>
          log.info({ cluster: r.cluster, remote, reason: err?.message }, 'agent disconnected'),
        );
      });
      return;
    }
    if (r?.kind !== 'cluster') {
      writeRawStatus(socket, 404, 'NotFound', `no route for ${req.url ?? ''}`);
      return;
    }
    const id = caller(req);
    if (id === undefined) {
      writeRawStatus(socket, 401, 'Unauthorized', 'a client certificate signed by the hub CA is required');
      return;
    }
    const conn = agents.pick(r.cluster);
    if (conn === undefined) {
      writeRawStatus(socket, 503, 'ServiceUnavailable', `cluster ${r.cluster} has no connected agent`);
      return;
    }
    const t0 = performance.now();
    const done = finish(r.cluster, id, req, r.path, t0);
    const ended = new Promise((resolve) => socket.once('close', resolve));
    void proxyUpgrade(req, socket, early, {
      cluster: r.cluster,
      session: conn.session,
      path: r.path,
      identity: id,
    }).then((out) => done(out, ended));
  });

  server.on('tlsClientError', (err: Error) => log.debug({ err: err.message }, 'TLS handshake failed'));
  server.listen(opts.port ?? 0, opts.host ?? '0.0.0.0');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const addr = server.address() as AddressInfo;
  const host = addr.address === '0.0.0.0' || addr.address === '::' ? '127.0.0.1' : addr.address;
  let closed: Promise<void> | undefined;
  return {
    url: `https://${host.includes(':') ? `[${host}]` : host}:${addr.port}`,
    port: addr.port,
    agents,
    close() {
      closed ??= (async () => {
        agents.closeAll();
        for (const c of wss.clients) c.terminate();
        wss.close();
        const done = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await done;
      })();
      return closed;
    },
  };
}
