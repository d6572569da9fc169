import type { ApiClient } from '../kube/api-client.ts';
import type { Identity } from '../tunnel/http.ts';
import { PROXY_GROUP } from './aggregated.ts';

export interface Decision {
  readonly allowed: boolean;
  /** The hub's reason, for the refusal message. */
  readonly reason?: string;
}

/** Decides whether `id` may `verb` the proxy of `cluster`. */
export interface ClusterAuthorizer {
  authorize(id: Identity, verb: string, cluster: string, signal?: AbortSignal): Promise<Decision>;
}

interface SubjectAccessReviewStatus {
  readonly allowed?: boolean;
  readonly denied?: boolean;
  readonly reason?: string;
  readonly evaluationError?: string;
}

export interface SarOptions {
  /** Cached decisions, at most this many (least recently stored dropped first). Default 4096. */
  readonly maxEntries?: number;
  /** How long an allow is reused. Default 10 s (kube-apiserver's webhook authorizer default is 5 min). */
  readonly allowTtlMs?: number;
  /** How long a denial is reused. Default 5 s, so a new RoleBinding takes effect quickly. */
  readonly denyTtlMs?: number;
  readonly now?: () => number;
}

/**
 * Hub RBAC for the cluster proxy through `SubjectAccessReview`s — the delegated authorisation
 * every aggregated API server does — asking exactly what the hub kube-apiserver asked before
 * forwarding: `<verb>` on `clusters/proxy` named `<cluster>` in `proxy.meridian.dev`. The hub
 * already refused callers without that permission; checking again means the gateway does not
 * depend on being reached only through the hub.
 *
 * Decisions are cached briefly (bounded), since `kubectl` sends several requests per command.
 */
export function subjectAccessReviewAuthorizer(hub: ApiClient, o: SarOptions = {}): ClusterAuthorizer {
  const max = o.maxEntries ?? 4096;
  const allowTtl = o.allowTtlMs ?? 10_000;
  const denyTtl = o.denyTtlMs ?? 5_000;
  const now = o.now ?? Date.now;
  const cache = new Map<string, { readonly until: number; readonly decision: Decision }>();
  return {
    async authorize(id, verb, cluster, signal) {
      const key = JSON.stringify([
        id.user,
        [...id.groups].sort(),
        id.uid ?? '',
        id.extra ?? {},
        verb,
        cluster,
      ]);
      const hit = cache.get(key);
      if (hit !== undefined && hit.until > now()) return hit.decision;
      cache.delete(key);
      const review = {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: id.user,
          groups: id.groups,
          ...(id.uid === undefined ? {} : { uid: id.uid }),
          ...(id.extra === undefined ? {} : { extra: id.extra }),
          resourceAttributes: {
            group: PROXY_GROUP,
            resource: 'clusters',
            subresource: 'proxy',
            name: cluster,
            verb,
          },
        },
      };
      const out = (await hub.request('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
        body: review,
        signal,
      })) as { status?: SubjectAccessReviewStatus } | undefined;
      const s = out?.status ?? {};
      const decision: Decision = {
        allowed: s.allowed === true && s.denied !== true,
        ...(s.reason ? { reason: s.reason } : s.evaluationError ? { reason: s.evaluationError } : {}),
      };
      if (cache.size >= max) cache.delete(cache.keys().next().value as string);
      cache.set(key, { until: now() + (decision.allowed ? allowTtl : denyTtl), decision });
      return decision;
    },
  };
}
