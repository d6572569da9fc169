import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { perConnection } from './per-connection.ts';
import type { Identity } from '../tunnel/http.ts';

/**
 * How the hub kube-apiserver's front proxy (its aggregator) identifies itself and the user it
 * forwards — the hub's `--requestheader-*` settings, also published in the ConfigMap
 * `kube-system/extension-apiserver-authentication`.
 */
export interface FrontProxyOptions {
  /** PEM CA of the front-proxy client certificate (`--requestheader-client-ca-file`). */
  readonly clientCa: string | Buffer;
  /** Common names the front-proxy certificate may have (`--requestheader-allowed-names`); empty = any. */
  readonly allowedNames?: readonly string[];
  /** Default `X-Remote-User`. */
  readonly usernameHeaders?: readonly string[];
  /** Default `X-Remote-Group`. */
  readonly groupHeaders?: readonly string[];
  /** Default `X-Remote-Extra-`. */
  readonly extraHeaderPrefixes?: readonly string[];
  /** Default `X-Remote-Uid` (sent by kube-apiserver ≥ 1.32 when configured). */
  readonly uidHeaders?: readonly string[];
}

/** Every header a front proxy uses to name a user, lower-cased: never forwarded to members. */
export function frontProxyHeaderFilter(o?: FrontProxyOptions): (lowerName: string) => boolean {
  const exact = new Set(
    [
      ...(o?.usernameHeaders ?? ['X-Remote-User']),
      ...(o?.groupHeaders ?? ['X-Remote-Group']),
      ...(o?.uidHeaders ?? ['X-Remote-Uid']),
    ].map((h) => h.toLowerCase()),
  );
  const prefixes = (o?.extraHeaderPrefixes ?? ['X-Remote-Extra-']).map((p) => p.toLowerCase());
  return (k) => exact.has(k) || prefixes.some((p) => k.startsWith(p));
}

export type FrontProxyResult =
  { readonly ok: true; readonly identity: Identity } | { readonly ok: false; readonly reason: string };

/**
 * Authenticates requests the hub kube-apiserver forwards to an aggregated API, as
 * kube-apiserver's own request-header authenticator does: the connection must carry a
 * client certificate that chains to the front-proxy CA (checked by TLS, then re-checked here
 * against that CA alone, so a certificate from another CA the listener trusts — the hub CA
 * for direct callers — never counts), with an allowed common name; only then are the user,
 * groups, uid and extras read from the headers.
 */
export class FrontProxyAuthenticator {
  readonly #ca: X509Certificate;
  readonly #allowed: ReadonlySet<string>;
  readonly #user: readonly string[];
  readonly #group: readonly string[];
  readonly #uid: readonly string[];
  readonly #extra: readonly string[];
  /** Per TLS connection: the front proxy's certificate name, or undefined when it is not the front proxy. */
  readonly #peers = new WeakMap<TLSSocket, { name: string | undefined } | undefined>();

  constructor(o: FrontProxyOptions) {
    try {
      this.#ca = new X509Certificate(o.clientCa);
    } catch (err) {
      throw new Error(`front-proxy client CA is not a PEM certificate: ${(err as Error).message}`, {
        cause: err,
      });
    }
    this.#allowed = new Set(o.allowedNames ?? []);
    const lower = (hs: readonly string[]) => hs.map((h) => h.toLowerCase());
    this.#user = lower(o.usernameHeaders ?? ['X-Remote-User']);
    this.#group = lower(o.groupHeaders ?? ['X-Remote-Group']);
    this.#uid = lower(o.uidHeaders ?? ['X-Remote-Uid']);
    this.#extra = lower(o.extraHeaderPrefixes ?? ['X-Remote-Extra-']);
  }

  /** The PEM of the CA, for the listener's trust list. */
  get caPem(): string {
    return this.#ca.toString();
  }

  /** True when the connection presented a front-proxy certificate (whether or not its name is allowed). */
  isFrontProxy(socket: TLSSocket): boolean {
    return this.#peer(socket) !== undefined;
  }

  /** The front proxy's certificate name on `socket`, or undefined when it is not the front proxy. */
  #peer(socket: TLSSocket): { name: string | undefined } | undefined {
    if (!socket.authorized) return undefined;
    return perConnection(this.#peers, socket, () => {
      const cert = socket.getPeerCertificate();
      const raw = cert.raw as Buffer | undefined;
      if (raw === undefined) return undefined;
      try {
        const peer = new X509Certificate(raw);
        if (!peer.checkIssued(this.#ca) || !peer.verify(this.#ca.publicKey)) return undefined;
      } catch {
        return undefined;
      }
      const cn = cert.subject?.CN;
      return { name: Array.isArray(cn) ? cn[0] : cn };
    });
  }

  authenticate(socket: TLSSocket, rawHeaders: readonly string[]): FrontProxyResult {
    const peer = this.#peer(socket);
    if (peer === undefined)
      return { ok: false, reason: 'no client certificate signed by the front-proxy CA' };
    const name = peer.name;
    if (this.#allowed.size > 0 && (name === undefined || !this.#allowed.has(name)))
      return { ok: false, reason: `front-proxy certificate CN ${name ?? '(none)'} is not an allowed name` };
    const values = (names: readonly string[]): string[] => {
      const out: string[] = [];
      for (let i = 0; i + 1 < rawHeaders.length; i += 2)
        if (names.includes((rawHeaders[i] as string).toLowerCase())) out.push(rawHeaders[i + 1] as string);
      return out;
    };
    const user = values(this.#user)[0];
    if (user === undefined || user === '') return { ok: false, reason: 'the front proxy named no user' };
    const groups = values(this.#group);
    const uid = values(this.#uid)[0];
    const extra: Record<string, string[]> = {};
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      const k = (rawHeaders[i] as string).toLowerCase();
      const prefix = this.#extra.find((p) => k.startsWith(p));
      if (prefix === undefined) continue;
      // Keys arrive percent-encoded (kube-apiserver escapes them); compare lower-cased, as it does.
      let key: string;
      try {
        key = decodeURIComponent(k.slice(prefix.length));
      } catch {
        continue;
      }
      (extra[key] ??= []).push(rawHeaders[i + 1] as string);
    }
    return {
      ok: true,
      identity: {
        user,
        groups,
        ...(uid === undefined || uid === '' ? {} : { uid }),
        ...(Object.keys(extra).length === 0 ? {} : { extra }),
      },
    };
  }
}
