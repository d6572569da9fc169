import { Agent as HttpsAgent, type RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

/**
 * How the agent reaches its own member API server, with its own credentials: in a real
 * member its ServiceAccount (in-cluster config; the token file is re-read, so projected
 * tokens rotate), in the test environment an admin kubeconfig. The identity needs RBAC to
 * `impersonate` users, groups, uids and userextras — nothing else — since every forwarded
 * request runs as the impersonated caller.
 */
export interface MemberTarget {
  /** The API server's base URL (a path prefix is kept). */
  readonly server: URL;
  /** Keep-alive connection pool with the member's CA and the agent's client certificate, if any. */
  readonly agent: HttpsAgent;
  /** Credential headers (e.g. `Authorization: Bearer …`), refreshed at most every 30 s. */
  credentials(): Promise<Readonly<Record<string, string>>>;
  close(): void;
}

/**
 * A target from a kubeconfig's current context. `as`/`as-groups` in the kubeconfig are
 * ignored (impersonation is the agent's job). Refuses plain HTTP servers.
 */
export async function memberTargetFromKubeConfig(kc: KubeConfig): Promise<MemberTarget> {
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new TypeError('kubeconfig has no current cluster');
  const server = new URL(cluster.server);
  if (server.protocol !== 'https:') throw new TypeError(`member server must be https, got ${cluster.server}`);
  const load = async (): Promise<{ o: RequestOptions; headers: Record<string, string> }> => {
    const o: RequestOptions = {};
    await kc.applyToHTTPSOptions(o);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(o.headers ?? {})) {
      const lk = k.toLowerCase();
      if (v !== undefined && !lk.startsWith('impersonate-')) headers[lk] = String(v);
    }
    if (o.auth !== undefined && o.auth !== null && headers['authorization'] === undefined)
      headers['authorization'] = `Basic ${Buffer.from(o.auth).toString('base64')}`;
    return { o, headers };
  };
  const first = await load();
  const agent = new HttpsAgent({
    keepAlive: true,
    maxFreeSockets: 32,
    ...(first.o.ca === undefined ? {} : { ca: first.o.ca }),
    ...(first.o.cert === undefined ? {} : { cert: first.o.cert }),
    ...(first.o.key === undefined ? {} : { key: first.o.key }),
    ...(first.o.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: first.o.rejectUnauthorized }),
    ...(first.o.servername === undefined ? {} : { servername: first.o.servername }),
  });
  let cached = { at: Date.now(), headers: first.headers };
  return {
    server,
    agent,
    async credentials() {
      if (Date.now() - cached.at > 30_000) cached = { at: Date.now(), headers: (await load()).headers };
      return cached.headers;
    },
    close() {
      agent.destroy();
    },
  };
}
