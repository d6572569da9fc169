import { readFile } from 'node:fs/promises';
import { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../kube/log.ts';
import { startAgent, tokenFile, type RunningAgent } from './agent.ts';
import { ApiClient } from '../kube/api-client.ts';
import { silentLogger } from '../kube/log.ts';
import { AgentIdentity, AgentIdentityError, hubClient, type AgentCredentials } from './identity.ts';
import { runPull } from './pull.ts';
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
  /**
   * Pull mode (default true with a certificate identity): apply this cluster's Works from the
   * hub and renew its heartbeat Lease.
   */
  readonly pull?: boolean;
  /** Heartbeat Lease renewal interval (default 10 s) and declared duration (default 40 s). */
  readonly heartbeatIntervalMs?: number;
  readonly leaseDurationSeconds?: number;
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
  const pull =
    id !== undefined && f.pull !== false ? startPullMode(f, id, kc, hubCaOf(f, gatewayCa)) : undefined;
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
      await pull?.stop();
      await agent.stop();
      await identity?.stop();
      member.close();
    },
  };
}

const hubCaOf = (f: AgentFiles, gatewayCa: Buffer): Promise<Buffer> =>
  f.hubCaFile === undefined ? Promise.resolve(gatewayCa) : readFile(f.hubCaFile);

/**
 * Runs pull mode with the current certificate, and again with each rotated one (the hub
 * client is bound to a certificate; a restart re-lists the cluster's Works, which is cheap).
 */
function startPullMode(
  f: AgentFiles,
  identity: AgentIdentity,
  kc: KubeConfig,
  hubCa: Promise<Buffer>,
): { stop(): Promise<void> } {
  const log = f.log ?? silentLogger;
  let current: { abort: AbortController; done: Promise<void> } | undefined;
  let stopped = false;
  const run = (creds: AgentCredentials): { abort: AbortController; done: Promise<void> } => {
    const abort = new AbortController();
    const done = (async () => {
      const hub = hubClient({ hubServer: f.hubServer as string, hubCa: await hubCa }, { creds });
      const member = await ApiClient.fromKubeConfig(kc, { userAgent: 'meridian-agent' });
      try {
        await runPull({
          cluster: f.cluster,
          hub,
          member,
          log,
          signal: abort.signal,
          heartbeat: {
            ...(f.heartbeatIntervalMs === undefined ? {} : { renewIntervalMs: f.heartbeatIntervalMs }),
            ...(f.leaseDurationSeconds === undefined ? {} : { leaseDurationSeconds: f.leaseDurationSeconds }),
          },
        });
      } catch (err) {
        if (!abort.signal.aborted) log.error({ cluster: f.cluster, err }, 'pull mode stopped');
      } finally {
        await Promise.all([hub.close(), member.close()]);
      }
    })();
    return { abort, done };
  };
  current = run(identity.current);
  let chain: Promise<void> = Promise.resolve();
  const off = identity.onRotated((creds) => {
    chain = chain.then(async () => {
      if (stopped) return;
      const old = current;
      old?.abort.abort();
      await old?.done;
      current = run(creds);
    });
  });
  return {
    async stop() {
      stopped = true;
      off();
      await chain;
      current?.abort.abort();
      await current?.done;
    },
  };
}
