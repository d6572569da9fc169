import { readFile } from 'node:fs/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { ApiClient } from '../kube/api-client.ts';
import { silentLogger, type Logger } from '../kube/log.ts';
import { startGateway, type Gateway, type GatewayOptions } from './gateway.ts';
import { cutRevokedTunnels, watchRevocation } from './revocation.ts';
import {
  anyAgent,
  certificateAgents,
  readTokenDir,
  staticTokens,
  type AgentAuthenticator,
} from './tokens.ts';

/** What `meridian gateway` reads: file paths and the listen address. */
export interface GatewayFiles {
  /** PEM serving certificate and key. */
  readonly certFile: string;
  readonly keyFile: string;
  /** PEM CA whose client certificates identify users (the hub CA). */
  readonly clientCaFile: string;
  /** Test-only: directory with one file per cluster, named after it, holding its agent token. */
  readonly tokenDir?: string;
  /**
   * Hub kubeconfig whose identity may list and watch Clusters: agents are then admitted by
   * their hub-issued certificates, and a revoked cluster's tunnels are cut.
   */
  readonly agentHubKubeconfig?: string;
  readonly host?: string;
  readonly port?: number;
  readonly log?: Logger;
  /** Called once per proxied request (default: an `info` log line). */
  readonly audit?: GatewayOptions['audit'];
  /** Further options (cluster proxy through the hub, peers). */
  readonly extra?: Partial<Omit<GatewayOptions, 'tls' | 'agents' | 'audit'>>;
}

/**
 * Starts the gateway from files (the CLI's entry point). Agents are admitted by certificate
 * (with `agentHubKubeconfig`) and/or, test-only, by the tokens in `tokenDir` (read once at start).
 */
export async function gatewayFromFiles(f: GatewayFiles): Promise<Gateway> {
  if (f.tokenDir === undefined && f.agentHubKubeconfig === undefined)
    throw new Error(
      'no way to admit agents: give --hub-kubeconfig (agent certificates) or, for tests, --agent-token-dir',
    );
  const [cert, key, clientCa, tokens] = await Promise.all([
    readFile(f.certFile),
    readFile(f.keyFile),
    readFile(f.clientCaFile),
    f.tokenDir === undefined ? undefined : readTokenDir(f.tokenDir),
  ]);
  const log = f.log ?? silentLogger;
  const stop = new AbortController();
  let hub: ApiClient | undefined;
  const admit: AgentAuthenticator[] = tokens === undefined ? [] : [staticTokens(tokens)];
  let revocation: ReturnType<typeof watchRevocation> | undefined;
  if (f.agentHubKubeconfig !== undefined) {
    const kc = new KubeConfig();
    kc.loadFromFile(f.agentHubKubeconfig);
    hub = await ApiClient.fromKubeConfig(kc, { userAgent: 'meridian-gateway' });
    revocation = watchRevocation(hub, stop.signal, log);
    admit.push(certificateAgents(revocation));
  }
  const gw = await startGateway({
    tls: { cert, key, clientCa },
    agents: anyAgent(...admit),
    ...(f.host === undefined ? {} : { host: f.host }),
    ...(f.port === undefined ? {} : { port: f.port }),
    ...(f.log === undefined ? {} : { log: f.log }),
    ...(f.audit === undefined ? {} : { audit: f.audit }),
    ...f.extra,
  });
  if (revocation !== undefined) cutRevokedTunnels(revocation, gw.agents, log, stop.signal);
  return {
    ...gw,
    async close() {
      stop.abort();
      await gw.close();
      await hub?.close();
    },
  };
}
