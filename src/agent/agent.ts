import { readFile } from 'node:fs/promises';
import { backoffDelay, systemClock, type Clock } from '../kube/clock.ts';
import { silentLogger, type Logger } from '../kube/log.ts';
import { TunnelSession, type SessionOptions } from '../tunnel/session.ts';
import { dialGateway } from './dial.ts';
import { serveStream } from './forward.ts';
import type { MemberTarget } from './member.ts';

export interface AgentOptions {
  /** The member cluster's name on the hub. */
  readonly cluster: string;
  /** The gateway's base URL, `https://host:port`. */
  readonly gatewayUrl: string;
  /**
   * The agent's client certificate, read before each connection attempt (so a rotated one is
   * used from the next connection on; open tunnels are kept).
   */
  readonly clientCert?: () => { readonly cert: string; readonly key: string };
  /** Test-only: a pre-shared token, read before each connection attempt. */
  readonly token?: () => Promise<string>;
  /** PEM CA the gateway's certificate must chain to (the hub CA). */
  readonly gatewayCa?: string | Buffer;
  /** HTTP/1.1 proxy to reach the gateway through (CONNECT), `http://[user:pass@]host:port`. */
  readonly proxy?: string;
  /** The member API server, reached with the agent's own credentials. */
  readonly member: MemberTarget;
  readonly session?: Omit<SessionOptions, 'role' | 'onStream'>;
  /** Reconnect backoff: `initialMs · 2^attempt`, ±50 % jitter, capped at `maxMs`. Default 500 ms → 30 s. */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /** A connection that lasted this long resets the backoff. Default 10 s. */
  readonly healthyAfterMs?: number;
  readonly clock?: Clock;
  readonly random?: () => number;
  readonly log?: Logger;
}

export interface RunningAgent {
  /** The current tunnel session, if connected. */
  readonly session: TunnelSession | undefined;
  /** Connection attempts so far (successful or not). */
  readonly attempts: number;
  /** Resolves when a tunnel is up (at once if one is). */
  connected(signal?: AbortSignal): Promise<TunnelSession>;
  /** Stops reconnecting and closes the tunnel; streams in flight fail. */
  stop(): Promise<void>;
}

/** Test-only: reads a pre-shared agent token file (surrounding whitespace ignored). */
export function tokenFile(path: string): () => Promise<string> {
  return async () => (await readFile(path, 'utf8')).trim();
}

/**
 * meridian-agent: keeps one tunnel to the gateway open and serves the gateway's streams
 * against the member API server (`serveStream`).
 *
 * Contracts:
 * - Dials out only; nothing needs to reach the agent.
 * - Reconnects after any failure or disconnect with jittered exponential backoff
 *   (`backoffDelay`), reset once a connection has stayed up `healthyAfterMs`; a dead gateway
 *   is noticed by tunnel pings within seconds.
 * - Identity: the client certificate the hub issued (see `identity.ts`), read per connection;
 *   a pre-shared token is accepted only as a test-only path.
 */
export function startAgent(opts: AgentOptions): RunningAgent {
  const log = opts.log ?? silentLogger;
  const clock = opts.clock ?? systemClock;
  const backoff = opts.backoff ?? { initialMs: 500, maxMs: 30_000 };
  const healthyAfterMs = opts.healthyAfterMs ?? 10_000;
  const ac = new AbortController();
  let current: TunnelSession | undefined;
  let attempts = 0;
  const waiters = new Set<(s: TunnelSession) => void>();

  const loop = async (): Promise<void> => {
    let failures = 0;
    while (!ac.signal.aborted) {
      attempts++;
      const started = clock.now();
      try {
        const transport = await dialGateway({
          gatewayUrl: opts.gatewayUrl,
          cluster: opts.cluster,
          ...(opts.token === undefined ? {} : { token: await opts.token() }),
          ...(opts.clientCert === undefined ? {} : { clientCert: opts.clientCert() }),
          signal: ac.signal,
          ...(opts.gatewayCa === undefined ? {} : { ca: opts.gatewayCa }),
          ...(opts.proxy === undefined ? {} : { proxy: opts.proxy }),
        });
        const session = new TunnelSession(transport, {
          ...opts.session,
          role: 'dialer',
          onStream: (s) => serveStream(s, opts.member, log),
        });
        current = session;
        log.info({ cluster: opts.cluster, gateway: opts.gatewayUrl }, 'tunnel connected');
        for (const w of waiters) w(session);
        waiters.clear();
        const onAbort = (): void => session.close();
        ac.signal.addEventListener('abort', onAbort, { once: true });
        const err = await session.closed;
        ac.signal.removeEventListener('abort', onAbort);
        current = undefined;
        if (ac.signal.aborted) break;
        log.warn({ cluster: opts.cluster, reason: err?.message }, 'tunnel lost');
        if (clock.now() - started >= healthyAfterMs) failures = 0;
      } catch (err) {
        if (ac.signal.aborted) break;
        log.warn({ cluster: opts.cluster, err: (err as Error).message }, 'cannot reach the gateway');
      }
      const delay = backoffDelay(failures++, { ...backoff, jitter: 0.5 }, opts.random);
      await clock.sleep(delay, ac.signal);
    }
  };
  const done = loop();

  return {
    get session() {
      return current;
    },
    get attempts() {
      return attempts;
    },
    connected(signal) {
      if (current !== undefined && !current.isClosed) return Promise.resolve(current);
      return new Promise((resolve, reject) => {
        const w = (s: TunnelSession): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve(s);
        };
        const onAbort = (): void => {
          waiters.delete(w);
          reject(signal?.reason);
        };
        waiters.add(w);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
    async stop() {
      ac.abort();
      current?.close();
      await done;
    },
  };
}
