/**
 * The fleet dashboard's HTTP side, mounted under `/dashboard/` (by the gateway's `dashboard`
 * hook, or any node HTTP server):
 *
 * - `GET /dashboard/` and `/dashboard/assets/…`: the built UI (ui/dist). Public: it holds no
 *   data, and asks for a token when the API refuses.
 * - `GET /dashboard/api/state`: the fleet as JSON (wire.ts `Snapshot`).
 * - `GET /dashboard/api/stream`: Server-Sent Events — a `snapshot`, then a `change` per hub
 *   watch event that changes a view. Each stream ends after `maxStreamMs` (the client
 *   reconnects, so a revoked token stops working within that time); at most `maxClients`
 *   streams at once (503 beyond); slow clients are dropped (sse.ts).
 *
 * The API needs a hub identity (auth.ts): 401 without one, 403 when the hub's RBAC does not
 * let it read the fleet. Everything is read-only: only GET and HEAD are answered.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApiClient } from '../kube/api-client.ts';
import { InformerFactory } from '../kube/informer-factory.ts';
import { silentLogger, type Logger } from '../kube/log.ts';
import type { Identity } from '../tunnel/http.ts';
import { Assets, SECURITY_HEADERS } from './assets.ts';
import { HubAuthenticator } from './auth.ts';
import { FleetState } from './fleet-state.ts';
import { SseClient, type SseOptions } from './sse.ts';
import type { Change } from './wire.ts';

export const DASHBOARD_PATH = '/dashboard/';

export interface DashboardOptions {
  /** A hub client allowed to watch the fleet and create TokenReviews / SubjectAccessReviews. */
  readonly hub: ApiClient;
  /** Shared informers, if the process already has a factory for this hub. */
  readonly informers?: InformerFactory;
  /** Stops the dashboard's informers and ends its streams. */
  readonly signal: AbortSignal;
  readonly log?: Logger;
  /** The built UI. Default ui/dist of this checkout. */
  readonly assetsDir?: string;
  /** Concurrent streams. Default 64. */
  readonly maxClients?: number;
  /** A stream's lifetime before the client must reconnect (and re-authenticate). Default 10 min. */
  readonly maxStreamMs?: number;
  readonly sse?: SseOptions;
}

export interface Dashboard {
  /** Answers `req` if it is a dashboard path; returns whether it did (the gateway hook's shape). */
  handle(req: IncomingMessage, res: ServerResponse, caller?: Identity): boolean;
  /** Resolves when the first snapshot is complete. */
  readonly ready: Promise<void>;
  /** Open streams now. */
  streams(): number;
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  extra: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res
    .writeHead(status, {
      ...SECURITY_HEADERS,
      ...extra,
      'Content-Type': 'application/json; charset=utf-8',
      'Cache-Control': 'no-store',
      'Content-Length': Buffer.byteLength(text),
    })
    .end(text);
}

/** A Kubernetes-style `Status` error, as the gateway and the API server answer. */
function sendStatus(res: ServerResponse, code: number, reason: string, message: string): void {
  sendJson(
    res,
    code,
    { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code },
    code === 401 ? { 'WWW-Authenticate': 'Bearer realm="meridian-dashboard"' } : {},
  );
}

const REASONS: Record<number, string> = { 401: 'Unauthorized', 403: 'Forbidden', 503: 'ServiceUnavailable' };

export async function createDashboard(opts: DashboardOptions): Promise<Dashboard> {
  const log = opts.log ?? silentLogger;
  const assets = await Assets.load(opts.assetsDir);
  const informers = opts.informers ?? new InformerFactory(opts.hub, opts.signal, log);
  const state = new FleetState(informers, opts.signal);
  const auth = new HubAuthenticator(opts.hub);
  const maxClients = opts.maxClients ?? 64;
  const maxStreamMs = opts.maxStreamMs ?? 10 * 60_000;
  const clients = new Set<SseClient>();
  opts.signal.addEventListener('abort', () => {
    for (const c of clients) c.close();
  });

  const stream = (res: ServerResponse, user: string): void => {
    if (clients.size >= maxClients) {
      sendStatus(
        res,
        503,
        'ServiceUnavailable',
        `too many dashboard streams (${maxClients}); try again later`,
      );
      return;
    }
    const client = new SseClient(res, opts.sse);
    clients.add(client);
    const keyOf = (c: Change) => `${c.collection}/${c.type === 'delete' ? c.key : c.value.key}`;
    let off = () => {};
    const lifetime = setTimeout(() => client.close(), maxStreamMs);
    void client.closed.then((why) => {
      off();
      clearTimeout(lifetime);
      clients.delete(client);
      if (why === 'slow') log.warn({ user }, 'dashboard stream dropped: the client did not keep up');
    });
    void state.ready.then(() => {
      if (client.isClosed) return;
      // Synchronous from here: no change can slip between the snapshot and the subscription.
      client.send('snapshot', state.snapshot(user));
      off = state.subscribe((c) => client.send('change', c, keyOf(c)));
    });
  };

  const api = async (path: string, req: IncomingMessage, res: ServerResponse, caller?: Identity) => {
    const who = await auth.authenticate(req, caller);
    if (!who.ok) {
      sendStatus(res, who.status, REASONS[who.status] ?? 'Unknown', who.message);
      return;
    }
    if (path === 'api/state') {
      // A hub that does not serve Meridian's kinds never completes the first list: say so.
      const listed = await Promise.race([
        state.ready.then(() => true),
        new Promise<false>((r) => setTimeout(r, 30_000, false).unref()),
      ]);
      if (!listed) {
        sendStatus(res, 503, 'ServiceUnavailable', "the hub's clusters and bindings are not listed yet");
        return;
      }
      sendJson(res, 200, state.snapshot(who.user));
    } else if (path === 'api/stream') {
      stream(res, who.user);
    } else {
      sendStatus(res, 404, 'NotFound', `no dashboard API ${path}`);
    }
  };

  return {
    ready: state.ready,
    streams: () => clients.size,
    handle(req, res, caller) {
      const raw = req.url ?? '/';
      const q = raw.indexOf('?');
      const pathname = q < 0 ? raw : raw.slice(0, q);
      if (pathname === '/dashboard') {
        res.writeHead(308, { Location: DASHBOARD_PATH }).end();
        return true;
      }
      if (!pathname.startsWith(DASHBOARD_PATH)) return false;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('Allow', 'GET, HEAD');
        sendStatus(res, 405, 'MethodNotAllowed', 'the dashboard is read-only: GET and HEAD only');
        return true;
      }
      const path = pathname.slice(DASHBOARD_PATH.length);
      if (path.startsWith('api/')) {
        api(path, req, res, caller).catch((err: unknown) => {
          log.error({ err }, 'dashboard API request failed');
          if (!res.headersSent) sendStatus(res, 500, 'InternalError', (err as Error).message);
          else res.destroy();
        });
      } else {
        assets.serve(path, req, res);
      }
      return true;
    },
  };
}
