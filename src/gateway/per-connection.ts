import type { TLSSocket } from 'node:tls';

/**
 * `compute()` once per TLS 1.3 connection, remembered in `memo`: a connection's peer
 * certificate cannot change (1.3 has no renegotiation), and what is derived from it
 * (`getPeerCertificate`, parsing, verifying a signature) costs tens of microseconds a request
 * on a keep-alive connection. Older protocols compute each time.
 */
export function perConnection<T>(memo: WeakMap<TLSSocket, T>, socket: TLSSocket, compute: () => T): T {
  if (socket.getProtocol() !== 'TLSv1.3') return compute();
  if (memo.has(socket)) return memo.get(socket) as T;
  const v = compute();
  memo.set(socket, v);
  return v;
}
