import { request as httpRequest, type IncomingMessage } from 'node:http';
import { isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { WebSocket, type ClientOptions } from 'ws';
import { webSocketTransport, type FrameTransport } from '../tunnel/transport.ts';

export interface DialOptions {
  /** The gateway's base URL, `https://host:port`. */
  readonly gatewayUrl: string;
  readonly cluster: string;
  /** Test-only pre-shared token ('' or absent: none); real agents present `clientCert`. */
  readonly token?: string;
  /** The agent's client certificate and key (PEM), issued by the hub CA. */
  readonly clientCert?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  /** PEM CA(s) the gateway's serving certificate must chain to (the hub CA). */
  readonly ca?: string | Buffer;
  /** An HTTP/1.1 proxy to tunnel through with CONNECT, `http://[user:pass@]host:port`. */
  readonly proxy?: string;
  readonly signal?: AbortSignal;
  /** Handshake timeout. Default 15 s. */
  readonly timeoutMs?: number;
}

/** The gateway's path for an agent's tunnel (see src/gateway/gateway.ts). */
export const tunnelPath = (cluster: string) => `/tunnel/v1/clusters/${encodeURIComponent(cluster)}`;

/**
 * Opens the agent's WebSocket to the gateway, as a tunnel transport: TLS verified against `ca`,
 * the agent's client certificate (or, test-only, a pre-shared bearer token), optionally through an HTTP CONNECT proxy (TLS runs end to end
 * inside the proxy's tunnel, so the proxy sees only the gateway's host and port).
 * Rejects with the gateway's status when it refuses (401: not this cluster's agent, or revoked).
 */
export async function dialGateway(opts: DialOptions): Promise<FrameTransport> {
  const base = new URL(opts.gatewayUrl);
  if (base.protocol !== 'https:') throw new TypeError(`gateway URL must be https, got ${opts.gatewayUrl}`);
  const url = new URL(tunnelPath(opts.cluster), base);
  url.protocol = 'wss:';
  const host = base.hostname.replace(/^\[|\]$/g, '');
  const port = base.port === '' ? 443 : Number(base.port);
  const wsOpts: ClientOptions = {
    headers: opts.token === undefined || opts.token === '' ? {} : { authorization: `Bearer ${opts.token}` },
    perMessageDeflate: false,
    maxPayload: 1 << 20,
    // An all-zero mask, which `ws` (≥ 8.2) recognises and skips: otherwise every byte the agent
    // sends — every response body — is copied and XORed in JavaScript. RFC 6455 masking keeps
    // a client's bytes from being read as HTTP by caching proxies on the path; inside TLS no
    // intermediary sees them, and it never gave confidentiality, so a constant mask loses nothing.
    generateMask: (mask: Buffer) => mask.fill(0),
    handshakeTimeout: opts.timeoutMs ?? 15_000,
    ...(opts.ca === undefined ? {} : { ca: opts.ca }),
    ...(opts.clientCert === undefined ? {} : { cert: opts.clientCert.cert, key: opts.clientCert.key }),
  };
  if (opts.proxy !== undefined) {
    const raw = await connectThroughProxy(new URL(opts.proxy), host, port, opts.signal);
    wsOpts.createConnection = () =>
      tlsConnect({
        socket: raw,
        ...(isIP(host) === 0 ? { servername: host } : {}),
        ...(opts.ca === undefined ? {} : { ca: opts.ca }),
        ...(opts.clientCert === undefined ? {} : { cert: opts.clientCert.cert, key: opts.clientCert.key }),
        ALPNProtocols: ['http/1.1'],
      });
  }
  const ws = new WebSocket(url, wsOpts);
  // Wrapped before 'open', so nothing the gateway sends right after the handshake is lost.
  const transport = webSocketTransport(ws);
  return await new Promise<FrameTransport>((resolve, reject) => {
    const onAbort = (): void => {
      ws.terminate();
      reject(opts.signal?.reason ?? new Error('aborted'));
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const settle = (): void => opts.signal?.removeEventListener('abort', onAbort);
    ws.once('open', () => {
      settle();
      resolve(transport);
    });
    ws.once('error', (err: Error) => {
      settle();
      reject(err);
    });
    ws.once('unexpected-response', (req, res: IncomingMessage) => {
      settle();
      req.destroy();
      res.resume();
      reject(new Error(`gateway refused the tunnel: HTTP ${res.statusCode ?? '?'}`));
    });
  });
}

/** A raw TCP connection to `host:port` through an HTTP/1.1 proxy's CONNECT method. */
export function connectThroughProxy(
  proxy: URL,
  host: string,
  port: number,
  signal?: AbortSignal,
): Promise<Socket> {
  if (proxy.protocol !== 'http:') throw new TypeError(`proxy URL must be http://, got ${proxy.href}`);
  const authority = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  const headers: Record<string, string> = { host: authority };
  if (proxy.username !== '') {
    const cred = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
    headers['proxy-authorization'] = `Basic ${Buffer.from(cred).toString('base64')}`;
  }
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: proxy.hostname.replace(/^\[|\]$/g, ''),
      port: proxy.port === '' ? 80 : Number(proxy.port),
      method: 'CONNECT',
      path: authority,
      headers,
      ...(signal === undefined ? {} : { signal }),
    });
    req.once('connect', (res: IncomingMessage, socket: Socket, head: Buffer) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        reject(new Error(`proxy refused CONNECT ${authority}: HTTP ${res.statusCode ?? '?'}`));
        return;
      }
      if (head.length > 0) socket.unshift(head);
      resolve(socket);
    });
    req.once('response', (res: IncomingMessage) => {
      res.resume();
      reject(new Error(`proxy answered CONNECT ${authority} with HTTP ${res.statusCode ?? '?'}`));
    });
    req.once('error', reject);
    req.end();
  });
}
