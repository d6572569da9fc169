import type { TLSSocket } from 'node:tls';
import type { Identity } from '../tunnel/http.ts';

/**
 * The caller of a request, from the client certificate the TLS handshake verified against
 * the hub CA: CN is the user, each O a group — the Kubernetes x509 convention, so a
 * certificate that works against the hub works here. Undefined when there is no verified
 * certificate (no certificate, or one the hub CA did not sign).
 *
 * Interim: the gateway will be an aggregated API behind the hub kube-apiserver, and then
 * takes the identity from the front-proxy headers (`X-Remote-User/Group/Extra-*`) on
 * connections authenticated by the hub's front-proxy client certificate.
 */
export function identityFromCertificate(socket: TLSSocket): Identity | undefined {
  if (!socket.authorized) return undefined;
  const cert = socket.getPeerCertificate();
  const subject = cert.subject as Record<string, string | string[] | undefined> | undefined;
  const cn = subject?.['CN'];
  const user = Array.isArray(cn) ? cn[0] : cn;
  if (user === undefined || user === '') return undefined;
  const o = subject?.['O'];
  const groups = o === undefined ? [] : Array.isArray(o) ? o : [o];
  return { user, groups };
}
