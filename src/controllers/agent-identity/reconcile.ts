/**
 * The agent CSR approver and signer. For a CertificateSigningRequest with signer
 * `meridian.dev/agent` that is neither issued, denied nor failed:
 *
 * 1. The request must be an agent's (see `checkRequest`: valid signature, subject exactly
 *    `CN=system:meridian:agent:<cluster>, O=system:meridian:agents`), ask for client
 *    authentication, and name a Cluster that exists, is not being deleted and is in Pull mode.
 * 2. The requester must be that cluster's agent itself (renewal with its current certificate),
 *    or the bootstrap token `meridian join` made for that cluster, unused. Using a token marks
 *    it with this CSR's name (an update guarded by resourceVersion, so of two CSRs racing on
 *    one token exactly one wins); a token marked for another CSR is refused.
 * 3. Approve, then sign with the hub CA for `min(spec.expirationSeconds, certTtlSeconds)`,
 *    then (after a short grace for the agent to read its certificate) delete the bootstrap
 *    token: from then on it authenticates nobody.
 *
 * Anything else is Denied with a reason and message saying why. Each step is idempotent: a
 * restart between steps resumes from what the CSR and the token Secret record.
 */
import {
  AGENT_SIGNER_NAME,
  BOOTSTRAP_GROUP,
  BOOTSTRAP_TOKEN_NAMESPACE,
  TOKEN_USED_BY_ANNOTATION,
  agentUser,
  bootstrapTokenIdOf,
  bootstrapTokenSecretName,
} from '../../api/agent-identity.ts';
import { Labels, type Cluster } from '../../api/index.ts';
import type { ApiClient, ResourceType } from '../../kube/api-client.ts';
import type { ReconcileContext, Reconciler, Result } from '../../kube/controller.ts';
import { ConflictError, NotFoundError } from '../../kube/errors.ts';
import { objectKey, refOf, type ObjectKey } from '../../kube/object-key.ts';
import type { StoreReader } from '../../kube/store.ts';
import type { KubeObject } from '../../kube/wire.ts';
import { checkRequest, signRequest, type SigningCa } from './sign.ts';

export const CSRS: ResourceType = {
  group: 'certificates.k8s.io',
  version: 'v1',
  resource: 'certificatesigningrequests',
  scope: 'Cluster',
  kind: 'CertificateSigningRequest',
};
const SECRETS: ResourceType = {
  group: '',
  version: 'v1',
  resource: 'secrets',
  scope: 'Namespaced',
  kind: 'Secret',
};

interface CsrCondition {
  readonly type: string;
  readonly status: string;
  readonly reason?: string;
  readonly message?: string;
  readonly lastUpdateTime?: string;
}

export type Csr = KubeObject & {
  readonly spec: {
    readonly request: string;
    readonly signerName: string;
    readonly usages?: readonly string[];
    readonly username?: string;
    readonly groups?: readonly string[];
    readonly expirationSeconds?: number;
  };
  readonly status?: { readonly conditions?: readonly CsrCondition[]; readonly certificate?: string };
};

type Secret = KubeObject & { readonly data?: Readonly<Record<string, string>> };

/** How long a used bootstrap token lives on after approval (see `#consumeToken`). */
export const TOKEN_GRACE_MS = 30_000;
const ALLOWED_USAGES = new Set(['client auth', 'digital signature', 'key encipherment']);

export interface AgentIdentityDeps {
  readonly hub: ApiClient;
  readonly csrs: StoreReader<Csr>;
  readonly clusters: StoreReader<Cluster>;
  readonly ca: SigningCa;
  /** Longest lifetime issued (a shorter `spec.expirationSeconds` wins). */
  readonly certTtlSeconds: number;
  readonly now?: () => Date;
}

class Denied extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}

const hasCondition = (csr: Csr, type: string): boolean =>
  csr.status?.conditions?.some((c) => c.type === type && c.status === 'True') ?? false;

export class AgentIdentityReconciler implements Reconciler {
  readonly name = 'agent-identity';
  readonly #d: AgentIdentityDeps;

  constructor(deps: AgentIdentityDeps) {
    this.#d = deps;
  }

  async reconcile(key: ObjectKey, ctx: ReconcileContext): Promise<Result> {
    let csr = this.#d.csrs.get(key);
    if (csr === undefined || csr.spec.signerName !== AGENT_SIGNER_NAME) return {};
    if (hasCondition(csr, 'Denied') || hasCondition(csr, 'Failed')) return {};
    if (csr.status?.certificate !== undefined && csr.status.certificate !== '')
      return this.#consumeToken(csr, ctx);
    const name = refOf(key).name;
    const checked = await checkRequest(Buffer.from(csr.spec.request, 'base64').toString('utf8'));
    try {
      if (typeof checked === 'string') throw new Denied('InvalidRequest', checked);
      const usages = csr.spec.usages ?? [];
      if (!usages.includes('client auth') || usages.some((u) => !ALLOWED_USAGES.has(u))) {
        throw new Denied(
          'InvalidUsages',
          `usages must include "client auth" and be among ${[...ALLOWED_USAGES].join(', ')}; got ${usages.join(', ')}`,
        );
      }
      const cluster = this.#d.clusters.get(objectKey(undefined, checked.cluster));
      if (cluster === undefined || cluster.metadata.deletionTimestamp !== undefined) {
        throw new Denied('UnknownCluster', `cluster ${checked.cluster} is not joined (or is leaving)`);
      }
      if (cluster.spec.syncMode !== 'Pull') {
        throw new Denied('NotPullMode', `cluster ${checked.cluster} is in ${cluster.spec.syncMode} mode`);
      }
      if (!hasCondition(csr, 'Approved')) {
        await this.#authorizeRequester(csr, name, checked.cluster, ctx);
        csr = await this.#setCondition(csr, {
          type: 'Approved',
          status: 'True',
          reason: 'AgentIdentity',
          message: `agent of cluster ${checked.cluster}`,
        });
        ctx.log.info({ csr: name, cluster: checked.cluster, requester: csr.spec.username }, 'approved');
      }
      const requested = csr.spec.expirationSeconds ?? this.#d.certTtlSeconds;
      const ttl = Math.min(requested, this.#d.certTtlSeconds);
      const pem = await signRequest(this.#d.ca, checked, ttl, this.#now());
      const issued = await this.#d.hub.replaceStatus<Csr>(
        CSRS,
        { ...csr, status: { ...csr.status, certificate: Buffer.from(pem).toString('base64') } } as Csr,
        { signal: ctx.signal },
      );
      ctx.log.info({ csr: name, cluster: checked.cluster, ttlSeconds: ttl }, 'agent certificate issued');
      return await this.#consumeToken(issued, ctx);
    } catch (err) {
      if (!(err instanceof Denied)) throw err;
      ctx.log.warn(
        { csr: name, requester: csr.spec.username, reason: err.reason, err: err.message },
        'denied',
      );
      await this.#setCondition(csr, {
        type: 'Denied',
        status: 'True',
        reason: err.reason,
        message: err.message,
      });
      return {};
    }
  }

  /** Throws `Denied` unless the requester may ask for `cluster`'s identity; marks a bootstrap token used. */
  async #authorizeRequester(csr: Csr, name: string, cluster: string, ctx: ReconcileContext): Promise<void> {
    const user = csr.spec.username ?? '';
    if (user === agentUser(cluster)) return; // renewal by the agent's current certificate
    const tokenId = bootstrapTokenIdOf(user);
    if (tokenId === undefined || !(csr.spec.groups ?? []).includes(BOOTSTRAP_GROUP)) {
      throw new Denied('UnauthorizedRequester', `${user} may not request the identity of cluster ${cluster}`);
    }
    const secretName = bootstrapTokenSecretName(tokenId);
    let secret: Secret;
    try {
      secret = await this.#d.hub.get<Secret>(
        SECRETS,
        { namespace: BOOTSTRAP_TOKEN_NAMESPACE, name: secretName },
        { signal: ctx.signal },
      );
    } catch (err) {
      if (err instanceof NotFoundError)
        throw new Denied('TokenUsed', `bootstrap token ${tokenId} is gone (used or expired)`);
      throw err;
    }
    if (secret.metadata?.labels?.[Labels.cluster] !== cluster) {
      throw new Denied(
        'TokenForAnotherCluster',
        `bootstrap token ${tokenId} was not issued for cluster ${cluster}`,
      );
    }
    const usedBy = secret.metadata.annotations?.[TOKEN_USED_BY_ANNOTATION];
    if (usedBy === name) return;
    if (usedBy !== undefined) {
      throw new Denied(
        'TokenUsed',
        `bootstrap token ${tokenId} was already used (by ${usedBy}); a token is good for one agent`,
      );
    }
    // Claim it; a ConflictError (someone else changed it first) retries and then sees the claim.
    await this.#d.hub.replace(
      SECRETS,
      {
        ...secret,
        metadata: {
          ...secret.metadata,
          annotations: { ...secret.metadata.annotations, [TOKEN_USED_BY_ANNOTATION]: name },
        },
      },
      { signal: ctx.signal },
    );
  }

  /**
   * Deletes the bootstrap token an issued CSR used, `TOKEN_GRACE_MS` after approval: the
   * grace lets the agent read its certificate with the token even if its watch broke (the
   * token is already marked used, so it buys no second certificate meanwhile).
   */
  async #consumeToken(csr: Csr, ctx: ReconcileContext): Promise<Result> {
    const tokenId = bootstrapTokenIdOf(csr.spec.username ?? '');
    if (tokenId === undefined) return {};
    const approved = csr.status?.conditions?.find((c) => c.type === 'Approved')?.lastUpdateTime;
    const wait = Date.parse(approved ?? '') + TOKEN_GRACE_MS - this.#now().getTime();
    if (wait > 0) return { requeueAfterMs: wait };
    try {
      await this.#d.hub.delete(
        SECRETS,
        { namespace: BOOTSTRAP_TOKEN_NAMESPACE, name: bootstrapTokenSecretName(tokenId) },
        { signal: ctx.signal },
      );
      ctx.log.info({ token: tokenId, csr: csr.metadata?.name }, 'bootstrap token used up and deleted');
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
    return {};
  }

  async #setCondition(csr: Csr, c: Omit<CsrCondition, 'lastUpdateTime'>): Promise<Csr> {
    const now = this.#now()
      .toISOString()
      .replace(/\.\d{3}Z$/, 'Z');
    const body = {
      ...csr,
      status: {
        ...csr.status,
        conditions: [...(csr.status?.conditions ?? []), { ...c, lastUpdateTime: now }],
      },
    } as Csr;
    try {
      return await this.#d.hub.replace<Csr>(CSRS, body, { subresource: 'approval' });
    } catch (err) {
      // A stale copy: the update that made it stale requeues this CSR.
      if (err instanceof ConflictError)
        throw new Error(`CSR ${csr.metadata?.name ?? ''} changed; retrying`, { cause: err });
      throw err;
    }
  }

  #now(): Date {
    return this.#d.now?.() ?? new Date();
  }
}
