import { readFile } from 'node:fs/promises';
import { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../kube/log.ts';
import { startAgent, tokenFile, type RunningAgent } from './agent.ts';
import { AgentIdentity, AgentIdentityError } from './identity.ts';
import { memberTargetFromKubeConfig } from './member.ts';

/** What `meridian agent` reads. */
export interface AgentFiles {
  readonly cluster: string;
  /** `https://host:port` of the gateway. */
  readonly gatewayUrl: string;
  /** PEM CA of the gateway's serving certificate (the hub CA). */
  readonly gatewayCaFile: string;
  /** The hub API server, `https://host:port` (certificate requests; pull mode). */
  readonly hubServer?: string;
  /** PEM CA of the hub API server. Default: `gatewayCaFile`. */
  readonly hubCaFile?: string;
  /** Where the agent keeps its certificate (`agent.pem`). With `hubServer`: certificate identity. */
  readonly certDir?: string;
  /** The single-use bootstrap token (`<id>.<secret>`), or a file holding it; used only without a valid certificate. */
  readonly bootstrapToken?: string;
  readonly bootstrapTokenFile?: string;
  /** Requested certificate lifetime in seconds (≥ 600; the signer may issue less). */
  readonly certTtlSeconds?: number;
  /** Test-only: a file holding a pre-shared agent token (re-read before each connection attempt). */
  readonly tokenFile?: string;
  /** Kubeconfig for the member API server; omitted ⇒ the default loading rules (in a pod: in-cluster). */
  readonly kubeconfig?: string;
  /** `http://[user:pass@]host:port` of an HTTP proxy to reach the gateway through. */
  readonly proxy?: string;
  readonly log?: Logger;
}

export interface RunningAgentWithIdentity extends RunningAgent {
  /** The certificate identity, unless the agent runs on a test-only token. */
  readonly identity: AgentIdentity | undefined;
}

/**
 * Starts an agent from files (the CLI's entry point); `stop()` ends it. With `certDir` and
 * `hubServer` the agent authenticates with its hub-issued certificate (bootstrapping one
 * with the token when none is on disk); otherwise `tokenFile` (test-only) is required.
 */
export async function agentFromFiles(f: AgentFiles): Promise<RunningAgentWithIdentity> {
  if (f.certDir === undefined && f.tokenFile === undefined)
    throw new AgentIdentityError('give --cert-dir and --hub-server (or, for tests only, --token-file)');
  if (f.certDir !== undefined && f.hubServer === undefined)
    throw new AgentIdentityError('--cert-dir needs --hub-server (where certificates are requested)');
  const gatewayCa = await readFile(f.gatewayCaFile);
  let identity: AgentIdentity | undefined;
  if (f.certDir !== undefined && f.hubServer !== undefined) {
    const hubCa = f.hubCaFile === undefined ? gatewayCa : await readFile(f.hubCaFile);
    const { bootstrapToken, bootstrapTokenFile } = f;
    identity = await AgentIdentity.start({
      cluster: f.cluster,
      hubServer: f.hubServer,
      hubCa,
      certDir: f.certDir,
      bootstrapToken: async () =>
        bootstrapToken ??
        (bootstrapTokenFile === undefined ? undefined : (await readFile(bootstrapTokenFile, 'utf8')).trim()),
      ...(f.certTtlSeconds === undefined ? {} : { requestedTtlSeconds: f.certTtlSeconds }),
      ...(f.log === undefined ? {} : { log: f.log }),
    });
  }
  const kc = new KubeConfig();
  if (f.kubeconfig === undefined) kc.loadFromDefault();
  else kc.loadFromFile(f.kubeconfig);
  const member = await memberTargetFromKubeConfig(kc);
  const id = identity;
  const agent = startAgent({
    cluster: f.cluster,
    gatewayUrl: f.gatewayUrl,
    gatewayCa,
    member,
    ...(id === undefined ? {} : { clientCert: () => id.current }),
    ...(f.tokenFile === undefined ? {} : { token: tokenFile(f.tokenFile) }),
    ...(f.proxy === undefined ? {} : { proxy: f.proxy }),
    ...(f.log === undefined ? {} : { log: f.log }),
  });
  return {
    identity,
    get session() {
      return agent.session;
    },
    get attempts() {
      return agent.attempts;
    },
    connected: (signal) => agent.connected(signal),
    async stop() {
      await agent.stop();
      await identity?.stop();
      member.close();
    },
  };
}
