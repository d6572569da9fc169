import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import { AGENT_GROUP, agentUser } from '../api/agent-identity.ts';
import { silentLogger, type Logger } from '../kube/log.ts';
import type { Identity } from '../tunnel/http.ts';
import { TunnelSession, type SessionOptions } from '../tunnel/session.ts';
import { webSocketTransport } from '../tunnel/transport.ts';
import { aggregatedRoute, PROXY_GROUP, proxyVerb, type AggregatedRoute } from './aggregated.ts';
import { FrontProxyAuthenticator, frontProxyHeaderFilter, type FrontProxyOptions } from './front-proxy.ts';
import type { ClusterAuthorizer } from './hub-authorizer.ts';
import { identityFromCertificate } from './identity.ts';
import {
  NO_AGENT_HEADER,
  PEER_IDENTITY_HEADER,
  PEER_PATH_PREFIX,
  PeerForwarder,
  type PeerOptions,
  type Target,
} from './peers.ts';
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
  /**
   * Serve the aggregated API `proxy.meridian.dev` to the hub kube-apiserver: requests under
   * `/apis/proxy.meridian.dev/v1alpha1/clusters/<name>/proxy/` authenticated as coming from
   * the hub's front proxy (its `--requestheader-*` settings). Needs `authorizer`.
   */
  readonly frontProxy?: FrontProxyOptions;
  /** Hub RBAC for requests through the hub (`subjectAccessReviewAuthorizer`). */
  readonly authorizer?: ClusterAuthorizer;
  /** Other replicas serving the same fleet: requests for a cluster whose agent is not here go there. */
  readonly peers?: PeerOptions;
}

type Route =
  | { kind: 'tunnel'; cluster: string }
  | { kind: 'cluster'; cluster: string; path: string }
  | { kind: 'peer'; cluster: string; path: string }
  | { kind: 'aggregated'; route: AggregatedRoute }
  | { kind: 'healthz' };

export interface Gateway {
  /** `https://host:port` as listening (127.0.0.1 when bound to every address). */
  readonly url: string;
  readonly port: number;
  readonly agents: AgentRegistry;
  /** Closes agent tunnels, client connections and the listener. */
  close(): Promise<void>;
}

/** A pull-mode agent's hub identity (its user name or its group), never a proxy user. */
const isAgentIdentity = (id: Identity): boolean =>
  id.user.startsWith(agentUser('')) || id.groups.includes(AGENT_GROUP);

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
 * - `/apis/proxy.meridian.dev/v1alpha1/clusters/<name>/proxy/<path>` (with `frontProxy`): the
 *   same, for requests the hub kube-apiserver forwards as an aggregated API — the caller from
 *   its front-proxy headers, hub RBAC checked again (`authorizer`); plus the group's discovery.
 * - `/peer/v1/clusters/<name>/<path>` (with `peers`): a request another replica forwarded.
 * - Every request to a cluster is audited when it ends (`audit`), refusals included.
 * - `GET /healthz`: 200.
 */
export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const log = opts.log ?? silentLogger;
  const audit = opts.audit ?? ((r: AuditRecord) => log.info({ audit: r }, 'proxied request'));
  const agents = new AgentRegistry();
  const frontProxy = opts.frontProxy === undefined ? undefined : new FrontProxyAuthenticator(opts.frontProxy);
  const fpHeader = frontProxyHeaderFilter(opts.frontProxy);
  const dropHeader = (k: string): boolean => fpHeader(k) || k === PEER_IDENTITY_HEADER.toLowerCase();
  const authorizer = opts.authorizer;
  if (frontProxy !== undefined && authorizer === undefined)
    throw new TypeError('frontProxy needs an authorizer (hub RBAC for the cluster proxy)');
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 1 << 20 });
  const server: Server = createServer({
    cert: opts.tls.cert,
    key: opts.tls.key,
    ca: frontProxy === undefined ? opts.tls.clientCa : [opts.tls.clientCa, frontProxy.caPem],
    requestCert: true,
    // Agents and anonymous probes have no client certificate; each route checks `authorized`.
    rejectUnauthorized: false,
  });
  const peers = opts.peers === undefined ? undefined : new PeerForwarder(opts.peers);

  const route = (req: IncomingMessage): Route | undefined => {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const pathname = q < 0 ? raw : raw.slice(0, q);
    if (pathname === '/healthz') return { kind: 'healthz' };
    if (pathname.startsWith(TUNNEL_PATH_PREFIX)) {
      const cluster = pathname.slice(TUNNEL_PATH_PREFIX.length);
      return DNS_LABEL.test(cluster) ? { kind: 'tunnel', cluster } : undefined;
    }
    if (pathname.startsWith(PEER_PATH_PREFIX)) {
      const m = /^\/([^/?]+)(.*)$/.exec(raw.slice(PEER_PATH_PREFIX.length - 1));
      if (m === null || !DNS_LABEL.test(m[1] as string)) return undefined;
      const rest = m[2] as string;
      return { kind: 'peer', cluster: m[1] as string, path: rest.startsWith('/') ? rest : `/${rest}` };
    }
    if (pathname === '/apis' || pathname.startsWith('/apis/')) {
      const a = aggregatedRoute(raw);
      return a === undefined ? undefined : { kind: 'aggregated', route: a };
    }
    const m = /^\/clusters\/([^/?]+)(.*)$/.exec(raw);
    if (m === null || !DNS_LABEL.test(m[1] as string)) return undefined;
    const rest = m[2] as string;
    return { kind: 'cluster', cluster: m[1] as string, path: rest.startsWith('/') ? rest : `/${rest}` };
  };

  /** A direct caller: a hub-CA client certificate (never the front proxy's own certificate). */
  const directCaller = (req: IncomingMessage): Identity | undefined => {
    const socket = req.socket as TLSSocket;
    if (frontProxy?.isFrontProxy(socket) === true) return undefined;
    return identityFromCertificate(socket);
  };

  /** Who is asking for what, or the refusal to send. */
  const admit = async (
    req: IncomingMessage,
    r: Route | undefined,
  ): Promise<
    | { ok: true; target: Target }
    | {
        ok: false;
        code: number;
        reason: string;
        message: string;
        audit?: Omit<Target, 'path'> & { path: string };
      }
    | { ok: 'discovery'; body: unknown }
    | { ok: 'healthz' }
  > => {
    const method = req.method ?? 'GET';
    if (r?.kind === 'healthz') return { ok: 'healthz' };
    if (r?.kind === 'cluster') {
      const id = directCaller(req);
      if (id === undefined)
        return {
          ok: false,
          code: 401,
          reason: 'Unauthorized',
          message: 'a client certificate signed by the hub CA is required',
        };
      const target: Target = {
        cluster: r.cluster,
        path: r.path,
        identity: id,
        via: 'direct',
        verb: proxyVerb(method),
      };
      // An agent's certificate (hub CA, issued for its tunnel) must not double as a user
      // certificate: it would reach every member's API server as a user the agent impersonates.
      if (isAgentIdentity(id))
        return {
          ok: false,
          code: 403,
          reason: 'Forbidden',
          message: `"${id.user}" is an agent identity (group ${AGENT_GROUP}): agent certificates open tunnels and are not accepted as users of the cluster proxy`,
          audit: target,
        };
      return { ok: true, target };
    }
    if (r?.kind === 'peer') {
      const id = peers?.authenticate(req);
      if (id === undefined)
        return { ok: false, code: 401, reason: 'Unauthorized', message: 'not a gateway peer' };
      return {
        ok: true,
        target: { cluster: r.cluster, path: r.path, identity: id, via: 'peer', verb: proxyVerb(method) },
      };
    }
    if (
      r?.kind !== 'aggregated' ||
      r.route.kind === 'not-found' ||
      frontProxy === undefined ||
      authorizer === undefined
    ) {
      const message =
        r?.kind === 'aggregated' && r.route.kind === 'not-found'
          ? r.route.message
          : `no route for ${req.url ?? ''}`;
      return { ok: false, code: 404, reason: 'NotFound', message };
    }
    const socket = req.socket as TLSSocket;
    const fp = frontProxy.authenticate(socket, req.rawHeaders);
    if (!fp.ok) {
      // Discovery is public to anyone the gateway can authenticate at all.
      if (r.route.kind === 'discovery' && directCaller(req) !== undefined)
        return { ok: 'discovery', body: r.route.body };
      return {
        ok: false,
        code: 401,
        reason: 'Unauthorized',
        message: `${fp.reason}: ${PROXY_GROUP} is served through the hub kube-apiserver`,
      };
    }
    if (r.route.kind === 'discovery') return { ok: 'discovery', body: r.route.body };
    const target: Target = {
      cluster: r.route.cluster,
      path: r.route.path,
      identity: fp.identity,
      via: 'hub',
      verb: proxyVerb(method),
    };
    let d;
    try {
      d = await authorizer.authorize(fp.identity, target.verb, target.cluster, AbortSignal.timeout(30_000));
    } catch (err) {
      return {
        ok: false,
        code: 503,
        reason: 'ServiceUnavailable',
        message: `cannot check hub RBAC: ${(err as Error).message}`,
        audit: target,
      };
    }
    if (!d.allowed) {
      return {
        ok: false,
        code: 403,
        reason: 'Forbidden',
        message:
          `clusters.${PROXY_GROUP} "${target.cluster}" is forbidden: User "${fp.identity.user}" cannot ${target.verb} ` +
          `resource "clusters/proxy" in API group "${PROXY_GROUP}"${d.reason ? `: ${d.reason}` : ''}`,
        audit: target,
      };
    }
    return { ok: true, target };
  };

  const record = (t: Target, req: IncomingMessage, t0: number, r: { status: number; error?: string }): void =>
    audit({
      user: t.identity.user,
      groups: t.identity.groups,
      ...(t.identity.uid === undefined ? {} : { uid: t.identity.uid }),
      cluster: t.cluster,
      verb: t.verb,
      method: req.method ?? 'GET',
      path: t.path,
      via: t.via,
      ...(req.headers.upgrade === undefined ? {} : { upgrade: req.headers.upgrade }),
      status: r.status,
      durationMs: Math.round(performance.now() - t0),
      ...(r.error === undefined ? {} : { error: r.error }),
    });

  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const t0 = performance.now();
    const a = await admit(req, route(req));
    if (a.ok === 'healthz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
      return;
    }
    if (a.ok === 'discovery') {
      const body = JSON.stringify(a.body);
      res
        .writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) })
        .end(body);
      return;
    }
    if (!a.ok) {
      sendStatus(res, a.code, a.reason, a.message);
      if (a.audit !== undefined) record(a.audit, req, t0, { status: a.code, error: a.message });
      return;
    }
    const t = a.target;
    const ended = new Promise((resolve) => res.once('close', resolve));
    const conn = agents.pick(t.cluster);
    let out: { status: number; error?: string };
    if (conn !== undefined) {
      if (req.headers.expect?.toLowerCase() === '100-continue') res.writeContinue();
      out = await proxyRequest(req, res, {
        cluster: t.cluster,
        session: conn.session,
        path: t.path,
        identity: t.identity,
        dropHeader,
      });
    } else if (peers !== undefined && t.via !== 'peer') {
      out = await peers.forwardRequest(req, res, t);
    } else {
      const message = `cluster ${t.cluster} has no connected agent`;
      res.setHeader(NO_AGENT_HEADER, '1');
      sendStatus(res, 503, 'ServiceUnavailable', message);
      out = { status: 503, error: message };
    }
    await ended;
    record(t, req, t0, out);
  };

  const serveUpgrade = async (req: IncomingMessage, socket: Duplex, early: Buffer): Promise<void> => {
    const t0 = performance.now();
    const a = await admit(req, route(req));
    if (a.ok === 'healthz' || a.ok === 'discovery') {
      writeRawStatus(socket, 400, 'BadRequest', 'not an upgradable path');
      return;
    }
    if (!a.ok) {
      writeRawStatus(socket, a.code, a.reason, a.message);
      if (a.audit !== undefined) record(a.audit, req, t0, { status: a.code, error: a.message });
      return;
    }
    const t = a.target;
    const ended = new Promise((resolve) => socket.once('close', resolve));
    const conn = agents.pick(t.cluster);
    let out: { status: number; error?: string };
    if (conn !== undefined) {
      out = await proxyUpgrade(req, socket, early, {
        cluster: t.cluster,
        session: conn.session,
        path: t.path,
        identity: t.identity,
        dropHeader,
      });
    } else if (peers !== undefined && t.via !== 'peer') {
      out = await peers.forwardUpgrade(req, socket, early, t);
    } else {
      const message = `cluster ${t.cluster} has no connected agent`;
      writeRawStatus(socket, 503, 'ServiceUnavailable', message, { [NO_AGENT_HEADER]: '1' });
      out = { status: 503, error: message };
    }
    await ended;
    record(t, req, t0, out);
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (opts.dashboard?.(req, res, directCaller(req))) return;
    void serve(req, res).catch((err: unknown) => {
      log.error({ err: (err as Error).message }, 'request failed');
      sendStatus(res, 500, 'InternalError', (err as Error).message);
    });
  });
  // Answer `Expect: 100-continue` only once the request can be served here (a peer replica
  // without the cluster's agent refuses before the body is sent, so it can be sent elsewhere).
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => server.emit('request', req, res));

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
    void serveUpgrade(req, socket, early).catch((err: unknown) => {
      log.error({ err: (err as Error).message }, 'upgrade failed');
      socket.destroy();
    });
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
        peers?.close();
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
