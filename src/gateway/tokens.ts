import { createHash, timingSafeEqual } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { AGENT_GROUP, agentUser } from '../api/agent-identity.ts';
import { identityFromCertificate } from './identity.ts';
import type { ClusterRevocation } from './revocation.ts';

/** Who may connect an agent for which cluster. */
export interface AgentAuthenticator {
  /**
   * True when the connection may carry `cluster`'s tunnel: `token` is the bearer token the
   * agent sent ('' when none), `socket` its TLS connection (with the client certificate, if any).
   */
  verify(cluster: string, token: string, socket?: TLSSocket): boolean;
}

/**
 * Agents identified by the client certificate Meridian issued them (see
 * src/controllers/agent-identity): verified against the hub CA by the TLS handshake, allowing
 * client authentication, subject `CN=system:meridian:agent:<cluster>, O=system:meridian:agents`,
 * and admitted by `revocation` (the Cluster exists, is not leaving, is in Pull mode, and the
 * certificate is not older than the Cluster). An expired certificate fails the handshake's
 * verification and so is refused too.
 */
export function certificateAgents(revocation: ClusterRevocation): AgentAuthenticator {
  return {
    verify(cluster, _token, socket) {
      if (socket === undefined) return false;
      const id = identityFromCertificate(socket);
      if (id?.user !== agentUser(cluster) || !id.groups.includes(AGENT_GROUP)) return false;
      const validFrom = new Date(socket.getPeerCertificate().valid_from);
      return revocation.admits(cluster, validFrom);
    },
  };
}

/** Accepts a connection any of `authenticators` accepts. */
export function anyAgent(...authenticators: readonly AgentAuthenticator[]): AgentAuthenticator {
  return { verify: (c, t, s) => authenticators.some((a) => a.verify(c, t, s)) };
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * **Test-only**: a pre-shared token per cluster, compared by SHA-256 digest in constant time.
 * Kept for the tunnel tests and local experiments that run an agent without a hub signer;
 * real agents use `certificateAgents` (bootstrap token → hub-issued, rotated certificate).
 */
export function staticTokens(tokens: ReadonlyMap<string, string>): AgentAuthenticator {
  const digests = new Map([...tokens].filter(([, t]) => t !== '').map(([c, t]) => [c, digest(t)]));
  return {
    verify(cluster, token) {
      const want = digests.get(cluster);
      return want !== undefined && token !== '' && timingSafeEqual(want, digest(token));
    },
  };
}

/**
 * **Test-only** (see `staticTokens`): reads a directory holding one file per cluster, named
 * after the cluster, containing its agent token (surrounding whitespace ignored). Hidden files
 * are skipped.
 */
export async function readTokenDir(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (!e.isFile() || e.name.startsWith('.')) continue;
    out.set(e.name, (await readFile(join(dir, e.name), 'utf8')).trim());
  }
  return out;
}
