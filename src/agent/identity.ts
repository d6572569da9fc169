/**
 * The agent's own identity on the hub: a client certificate issued by Meridian's signer,
 * kept on disk and rotated before it expires.
 *
 * - **Bootstrap** (no usable certificate on disk): with the single-use bootstrap token from
 *   `meridian join --mode Pull`, submit a CertificateSigningRequest (signer
 *   `meridian.dev/agent`, `CN=system:meridian:agent:<cluster>, O=system:meridian:agents`, a
 *   fresh EC P-256 key) and wait, by watch, for the certificate. A refusal (Denied: e.g. the
 *   token was already used) is an error that names the reason.
 * - **Storage**: certificate and key in one file, `<certDir>/agent.pem` (mode 0600), replaced
 *   atomically (write + rename), so a crash never leaves a key beside the wrong certificate.
 *   A restarted agent reuses it while it is valid; the bootstrap token is not needed again.
 * - **Rotation**: at a random point between 70 % and 80 % of the lifetime, a new key and a new
 *   request, authenticated by the current certificate; on success the file is replaced and
 *   `onRotated` handlers run. Failures retry with backoff until expiry. Connections already
 *   open (the tunnel and its streams) are not touched: only new connections use the new
 *   certificate.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AGENT_SIGNER_NAME, agentUser } from '../api/agent-identity.ts';
import { ApiClient, type ResourceType } from '../kube/api-client.ts';
import { backoffDelay, systemClock } from '../kube/clock.ts';
import { NotFoundError } from '../kube/errors.ts';
import { silentLogger, type Logger } from '../kube/log.ts';
import type { KubeObject } from '../kube/wire.ts';
import { certificateInfo, createAgentRequest } from './csr.ts';

const CSRS: ResourceType = {
  group: 'certificates.k8s.io',
  version: 'v1',
  resource: 'certificatesigningrequests',
  scope: 'Cluster',
  kind: 'CertificateSigningRequest',
};

type Csr = KubeObject & {
  readonly status?: {
    readonly certificate?: string;
    readonly conditions?: readonly { type: string; status: string; reason?: string; message?: string }[];
  };
};

/** A certificate and its key (PEM), with its validity. */
export interface AgentCredentials {
  readonly cert: string;
  readonly key: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface AgentIdentityOptions {
  readonly cluster: string;
  /** The hub API server, `https://host:port`. */
  readonly hubServer: string;
  /** PEM CA of the hub API server's serving certificate. */
  readonly hubCa: string | Buffer;
  /** Directory of `agent.pem`. */
  readonly certDir: string;
  /** `<id>.<secret>`; needed only when there is no valid certificate on disk. */
  readonly bootstrapToken?: () => Promise<string | undefined>;
  /** Requested lifetime (`spec.expirationSeconds`, at least 600); the signer may issue less. */
  readonly requestedTtlSeconds?: number;
  /** How long to wait for a certificate to be issued. Default 5 min. */
  readonly issueTimeoutMs?: number;
  readonly log?: Logger;
}

export class AgentIdentityError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AgentIdentityError';
  }
}

const FILE = 'agent.pem';

function parseCredentials(pem: string): AgentCredentials {
  const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/.exec(pem)?.[0];
  const key = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n?/.exec(pem)?.[0];
  if (cert === undefined || key === undefined)
    throw new AgentIdentityError('no certificate and key in the file');
  const info = certificateInfo(cert);
  return { cert, key, notBefore: info.notBefore, notAfter: info.notAfter };
}

/** The hub client authenticated by `creds` (or by a bootstrap token). */
export function hubClient(
  o: Pick<AgentIdentityOptions, 'hubServer' | 'hubCa'>,
  auth: { readonly creds: AgentCredentials } | { readonly token: string },
  userAgent = 'meridian-agent',
): ApiClient {
  return new ApiClient({
    server: o.hubServer,
    userAgent,
    connections: 16,
    tls: { ca: o.hubCa, ...('creds' in auth ? { cert: auth.creds.cert, key: auth.creds.key } : {}) },
    ...('token' in auth ? { headers: () => ({ authorization: `Bearer ${auth.token}` }) } : {}),
  });
}

/**
 * Submits a request for `cluster`'s identity with `client`'s credentials and resolves with the
 * issued certificate and its new key. Rejects with `AgentIdentityError` when it is denied or
 * fails, or after `timeoutMs`.
 */
export async function requestCertificate(
  client: ApiClient,
  cluster: string,
  opts: {
    readonly requestedTtlSeconds?: number;
    readonly timeoutMs?: number;
    readonly signal?: AbortSignal;
  } = {},
): Promise<AgentCredentials> {
  const signal = AbortSignal.any([
    AbortSignal.timeout(opts.timeoutMs ?? 300_000),
    ...(opts.signal === undefined ? [] : [opts.signal]),
  ]);
  const { keyPem, csrPem } = await createAgentRequest(cluster);
  const name = `meridian-agent-${cluster}-${randomBytes(4).toString('hex')}`;
  const created = await client.create<Csr>(
    CSRS,
    {
      apiVersion: 'certificates.k8s.io/v1',
      kind: 'CertificateSigningRequest',
      metadata: { name },
      spec: {
        request: Buffer.from(csrPem).toString('base64'),
        signerName: AGENT_SIGNER_NAME,
        usages: ['digital signature', 'client auth'],
        ...(opts.requestedTtlSeconds === undefined ? {} : { expirationSeconds: opts.requestedTtlSeconds }),
      },
    } as KubeObject as Csr,
    { signal },
  );
  const settled = (csr: Csr): AgentCredentials | undefined => {
    const bad = csr.status?.conditions?.find(
      (c) => (c.type === 'Denied' || c.type === 'Failed') && c.status === 'True',
    );
    if (bad !== undefined) {
      throw new AgentIdentityError(
        `certificate request ${name} ${bad.type.toLowerCase()}: ${bad.reason ?? ''}: ${bad.message ?? ''}`,
      );
    }
    const b64 = csr.status?.certificate;
    if (b64 === undefined || b64 === '') return undefined;
    const cert = Buffer.from(b64, 'base64').toString('utf8');
    const info = certificateInfo(cert);
    if (info.commonName !== agentUser(cluster))
      throw new AgentIdentityError(`issued certificate is for ${info.commonName}, not ${agentUser(cluster)}`);
    return { cert, key: keyPem, notBefore: info.notBefore, notAfter: info.notAfter };
  };
  let rv = created.metadata?.resourceVersion;
  for (let attempt = 0; ; attempt++) {
    try {
      for await (const ev of client.watch<Csr>(
        CSRS,
        {
          fieldSelector: `metadata.name=${name}`,
          ...(rv === undefined ? {} : { resourceVersion: rv }),
          timeoutSeconds: 300,
        },
        signal,
      )) {
        if (ev.type === 'DELETED') throw new AgentIdentityError(`certificate request ${name} was deleted`);
        if (ev.type !== 'ADDED' && ev.type !== 'MODIFIED') continue;
        const got = settled(ev.object);
        if (got !== undefined) return got;
        rv = ev.object.metadata?.resourceVersion;
      }
    } catch (err) {
      if (err instanceof AgentIdentityError || signal.aborted) {
        if (signal.aborted && !(err instanceof AgentIdentityError))
          throw new AgentIdentityError(`certificate request ${name} was not issued in time`, { cause: err });
        throw err;
      }
    }
    // The watch ended or broke: read the request once, then watch again from there.
    try {
      const csr = await client.get<Csr>(CSRS, { name }, { signal });
      const got = settled(csr);
      if (got !== undefined) return got;
      rv = csr.metadata?.resourceVersion;
    } catch (err) {
      if (err instanceof AgentIdentityError) throw err;
      if (err instanceof NotFoundError) throw new AgentIdentityError(`certificate request ${name} is gone`);
      await systemClock.sleep(backoffDelay(attempt, { initialMs: 500, maxMs: 10_000, jitter: 0.5 }), signal);
    }
  }
}

/** Reads `agent.pem` from `certDir`, if there is a usable one for `cluster`. */
export async function loadCredentials(
  certDir: string,
  cluster: string,
  now = new Date(),
): Promise<AgentCredentials | undefined> {
  let pem: string;
  try {
    pem = await readFile(join(certDir, FILE), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const c = parseCredentials(pem);
    if (certificateInfo(c.cert).commonName !== agentUser(cluster) || c.notAfter <= now) return undefined;
    return c;
  } catch {
    return undefined;
  }
}

async function saveCredentials(certDir: string, c: AgentCredentials): Promise<void> {
  await mkdir(certDir, { recursive: true, mode: 0o700 });
  const tmp = join(certDir, `.${FILE}.${randomBytes(4).toString('hex')}`);
  await writeFile(tmp, c.cert + c.key, { mode: 0o600 });
  await rename(tmp, join(certDir, FILE));
}

/** The agent's current certificate, kept valid (see the module doc). */
export class AgentIdentity {
  readonly #o: AgentIdentityOptions;
  readonly #log: Logger;
  readonly #ac = new AbortController();
  readonly #handlers = new Set<(c: AgentCredentials) => void>();
  #current: AgentCredentials;
  #rotations = 0;
  #loop: Promise<void> = Promise.resolve();

  private constructor(o: AgentIdentityOptions, creds: AgentCredentials) {
    this.#o = o;
    this.#log = o.log ?? silentLogger;
    this.#current = creds;
  }

  /** Loads the certificate from disk or bootstraps one, then keeps it rotated until `stop()`. */
  static async start(o: AgentIdentityOptions): Promise<AgentIdentity> {
    const log = o.log ?? silentLogger;
    let creds = await loadCredentials(o.certDir, o.cluster);
    if (creds === undefined) {
      const token = await o.bootstrapToken?.();
      if (token === undefined || token === '') {
        throw new AgentIdentityError(
          `no valid agent certificate in ${o.certDir} and no bootstrap token: run \`meridian join ${o.cluster} --mode Pull\` on the hub for one`,
        );
      }
      if (!/^[a-z0-9]{6}\.[a-z0-9]{16}$/.test(token))
        throw new AgentIdentityError('the bootstrap token must look like <6 chars>.<16 chars> (a-z, 0-9)');
      const client = hubClient(o, { token }, 'meridian-agent-bootstrap');
      try {
        creds = await requestCertificate(client, o.cluster, {
          ...(o.requestedTtlSeconds === undefined ? {} : { requestedTtlSeconds: o.requestedTtlSeconds }),
          ...(o.issueTimeoutMs === undefined ? {} : { timeoutMs: o.issueTimeoutMs }),
        });
      } catch (err) {
        if (err instanceof AgentIdentityError) throw err;
        throw new AgentIdentityError(`bootstrap with the token failed: ${(err as Error).message}`, {
          cause: err,
        });
      } finally {
        await client.close();
      }
      await saveCredentials(o.certDir, creds);
      log.info(
        { cluster: o.cluster, notAfter: creds.notAfter.toISOString() },
        'agent certificate issued (bootstrap)',
      );
    } else {
      log.info({ cluster: o.cluster, notAfter: creds.notAfter.toISOString() }, 'agent certificate loaded');
    }
    const id = new AgentIdentity(o, creds);
    id.#loop = id.#rotate();
    return id;
  }

  get current(): AgentCredentials {
    return this.#current;
  }

  /** Certificates issued by rotation so far. */
  get rotations(): number {
    return this.#rotations;
  }

  /** Calls `handler` with each new certificate (after it is on disk). */
  onRotated(handler: (c: AgentCredentials) => void): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  async stop(): Promise<void> {
    this.#ac.abort();
    await this.#loop;
  }

  async #rotate(): Promise<void> {
    const signal = this.#ac.signal;
    while (!signal.aborted) {
      const { notBefore, notAfter } = this.#current;
      const life = notAfter.getTime() - notBefore.getTime();
      const at = notBefore.getTime() + life * (0.7 + Math.random() * 0.1);
      await systemClock.sleep(at - Date.now(), signal);
      for (let attempt = 0; !signal.aborted; attempt++) {
        const client = hubClient(this.#o, { creds: this.#current }, 'meridian-agent-rotation');
        try {
          const next = await requestCertificate(client, this.#o.cluster, {
            signal,
            ...(this.#o.requestedTtlSeconds === undefined
              ? {}
              : { requestedTtlSeconds: this.#o.requestedTtlSeconds }),
            ...(this.#o.issueTimeoutMs === undefined ? {} : { timeoutMs: this.#o.issueTimeoutMs }),
          });
          await saveCredentials(this.#o.certDir, next);
          this.#current = next;
          this.#rotations++;
          this.#log.info(
            { cluster: this.#o.cluster, notAfter: next.notAfter.toISOString() },
            'agent certificate rotated',
          );
          for (const h of this.#handlers) h(next);
          break;
        } catch (err) {
          if (signal.aborted) break;
          const left = this.#current.notAfter.getTime() - Date.now();
          this.#log[left > 0 ? 'warn' : 'error'](
            { cluster: this.#o.cluster, err: (err as Error).message, expiresInMs: left },
            left > 0
              ? 'certificate rotation failed; retrying'
              : 'agent certificate expired and rotation fails',
          );
          await systemClock.sleep(
            backoffDelay(attempt, { initialMs: 1000, maxMs: 30_000, jitter: 0.5 }),
            signal,
          );
        } finally {
          await client.close();
        }
      }
    }
  }
}
