/**
 * Who may read the dashboard API: the hub decides. A bearer token is checked with a
 * TokenReview against the hub (any token the hub accepts: a ServiceAccount token, an OIDC
 * token if the hub is configured for it); a hub-CA client certificate the gateway verified
 * stands for its CN/O. Either way the hub must then allow that user to list Clusters,
 * ResourceBindings and Works (SubjectAccessReview) — the read-only view shows no more than
 * `kubectl get` would.
 *
 * Decisions are cached per token (by hash) for `ttlMs` (refusals for less), at most
 * `maxEntries` of them, oldest dropped first: a page load makes a few requests, not a few
 * TokenReviews.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { GROUP, Plurals } from '../api/constants.ts';
import type { ApiClient, ResourceType } from '../kube/api-client.ts';
import type { Identity } from '../tunnel/http.ts';

export type AuthResult =
  | { readonly ok: true; readonly user: string }
  | { readonly ok: false; readonly status: 401 | 403 | 503; readonly message: string };

const TOKEN_REVIEWS: ResourceType = {
  group: 'authentication.k8s.io',
  version: 'v1',
  resource: 'tokenreviews',
  scope: 'Cluster',
  kind: 'TokenReview',
};
const ACCESS_REVIEWS: ResourceType = {
  group: 'authorization.k8s.io',
  version: 'v1',
  resource: 'subjectaccessreviews',
  scope: 'Cluster',
  kind: 'SubjectAccessReview',
};
/** What a viewer must be allowed: the dashboard shows these, across all namespaces. */
export const REQUIRED_ACCESS = [Plurals.Cluster, Plurals.ResourceBinding, Plurals.Work].map((resource) => ({
  verb: 'list',
  group: GROUP,
  resource,
}));

interface TokenReviewStatus {
  authenticated?: boolean;
  user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  error?: string;
}

/** The bearer token of `req`, or undefined. */
export function bearerToken(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (h === undefined || !/^bearer /i.test(h)) return undefined;
  const t = h.slice('bearer '.length).trim();
  return t === '' ? undefined : t;
}

export class HubAuthenticator {
  readonly #hub: ApiClient;
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #cache = new Map<string, { expires: number; result: AuthResult }>();

  constructor(hub: ApiClient, opts: { ttlMs?: number; maxEntries?: number } = {}) {
    this.#hub = hub;
    this.#ttlMs = opts.ttlMs ?? 60_000;
    this.#maxEntries = opts.maxEntries ?? 1024;
  }

  async authenticate(req: IncomingMessage, certificate: Identity | undefined): Promise<AuthResult> {
    const token = bearerToken(req);
    if (token !== undefined) {
      const id = `t:${createHash('sha256').update(token).digest('hex')}`;
      return this.#cached(id, () => this.#reviewToken(token));
    }
    if (certificate !== undefined) {
      const id = `c:${certificate.user}\u0000${certificate.groups.join('\u0000')}`;
      return this.#cached(id, () => this.#authorize(certificate));
    }
    return {
      ok: false,
      status: 401,
      message:
        'a bearer token the hub accepts (Authorization: Bearer …) or a hub-CA client certificate is required',
    };
  }

  async #cached(id: string, decide: () => Promise<AuthResult>): Promise<AuthResult> {
    const now = Date.now();
    const hit = this.#cache.get(id);
    if (hit !== undefined && hit.expires > now) return hit.result;
    const result = await decide();
    // Hub failures are not cached; refusals briefly, so a fixed RBAC binding takes effect soon.
    if (result.ok || result.status !== 503) {
      this.#cache.delete(id);
      this.#cache.set(id, {
        expires: now + (result.ok ? this.#ttlMs : Math.min(this.#ttlMs, 5_000)),
        result,
      });
      while (this.#cache.size > this.#maxEntries)
        this.#cache.delete(this.#cache.keys().next().value as string);
    }
    return result;
  }

  async #reviewToken(token: string): Promise<AuthResult> {
    let status: TokenReviewStatus | undefined;
    try {
      const review = await this.#hub.create(TOKEN_REVIEWS, {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        metadata: {},
        spec: { token },
      });
      status = (review as { status?: TokenReviewStatus }).status;
    } catch (err) {
      return {
        ok: false,
        status: 503,
        message: `the hub could not review the token: ${(err as Error).message}`,
      };
    }
    if (status?.authenticated !== true || status.user?.username === undefined) {
      return {
        ok: false,
        status: 401,
        message: `the hub did not accept this token${status?.error ? `: ${status.error}` : ''}`,
      };
    }
    return this.#authorize({
      user: status.user.username,
      groups: status.user.groups ?? [],
      ...(status.user.uid !== undefined && { uid: status.user.uid }),
      ...(status.user.extra !== undefined && { extra: status.user.extra }),
    });
  }

  async #authorize(who: Identity): Promise<AuthResult> {
    try {
      for (const attrs of REQUIRED_ACCESS) {
        const review = await this.#hub.create(ACCESS_REVIEWS, {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          metadata: {},
          spec: {
            user: who.user,
            groups: who.groups,
            ...(who.uid !== undefined && { uid: who.uid }),
            ...(who.extra !== undefined && { extra: who.extra }),
            resourceAttributes: attrs,
          },
        });
        if ((review as { status?: { allowed?: boolean } }).status?.allowed !== true) {
          return {
            ok: false,
            status: 403,
            message: `${who.user} may not ${attrs.verb} ${attrs.resource}.${attrs.group} on the hub (the dashboard needs read access to clusters, resourcebindings and works)`,
          };
        }
      }
    } catch (err) {
      return {
        ok: false,
        status: 503,
        message: `the hub could not authorize ${who.user}: ${(err as Error).message}`,
      };
    }
    return { ok: true, user: who.user };
  }
}
