import type { PeerCertificate, TLSSocket } from 'node:tls';
import type { Identity } from '../tunnel/http.ts';
import { perConnection } from './per-connection.ts';

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/**
 * The caller of a request, from the client certificate the TLS handshake verified against
 * the hub CA: CN is the user, each O a group — the Kubernetes x509 convention, so a
 * certificate that works against the hub works here. Undefined when there is no verified
 * certificate (no certificate, one the hub CA did not sign, or one whose extended key usage
 * excludes client authentication).
 *
 * Interim: the gateway will be an aggregated API behind the hub kube-apiserver, and then
 * takes the identity from the front-proxy headers (`X-Remote-User/Group/Extra-*`) on
 * connections authenticated by the hub's front-proxy client certificate.
 */
export function identityFromCertificate(socket: TLSSocket): Identity | undefined {
  if (!socket.authorized) return undefined;
  return perConnection(identities, socket, () => fromCertificate(socket.getPeerCertificate()));
}

const identities = new WeakMap<TLSSocket, Identity | undefined>();

function fromCertificate(cert: PeerCertificate): Identity | undefined {
  // As kube-apiserver: a certificate restricted to other uses (e.g. a serving certificate)
  // does not authenticate a client. No extended key usage at all means any use.
  const eku = cert.ext_key_usage;
  if (eku !== undefined && eku.length > 0 && !eku.includes(CLIENT_AUTH)) return undefined;
  const subject = cert.subject as Record<string, string | string[] | undefined> | undefined;
  const cn = subject?.['CN'];
  const user = Array.isArray(cn) ? cn[0] : cn;
  if (user === undefined || user === '') return undefined;
  const o = subject?.['O'];
  const groups = o === undefined ? [] : Array.isArray(o) ? o : [o];
  return { user, groups };
}
