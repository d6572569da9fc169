import { createHash, timingSafeEqual } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Who may connect an agent for which cluster. Interim: a pre-shared token per cluster. The
 * planned join replaces it with a single-use bootstrap token exchanged for a client
 * certificate issued by the hub (CSR), rotated before expiry.
 */
export interface AgentAuthenticator {
  /** True when `token` is the agent token of `cluster`. Constant-time in the token. */
  verify(cluster: string, token: string): boolean;
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Tokens per cluster name, compared by SHA-256 digest in constant time. */
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
 * Reads a directory holding one file per cluster, named after the cluster, containing its
 * agent token (surrounding whitespace ignored). Hidden files are skipped.
 */
export async function readTokenDir(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (!e.isFile() || e.name.startsWith('.')) continue;
    out.set(e.name, (await readFile(join(dir, e.name), 'utf8')).trim());
  }
  return out;
}
