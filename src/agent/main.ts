import { readFile } from 'node:fs/promises';
import { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../kube/log.ts';
import { startAgent, tokenFile, type RunningAgent } from './agent.ts';
import { memberTargetFromKubeConfig } from './member.ts';

/** What `meridian agent` reads. */
export interface AgentFiles {
  readonly cluster: string;
  /** `https://host:port` of the gateway. */
  readonly gatewayUrl: string;
  /** File holding this cluster's agent token (re-read before each connection attempt). */
  readonly tokenFile: string;
  /** PEM CA of the gateway's serving certificate (the hub CA). */
  readonly gatewayCaFile: string;
  /** Kubeconfig for the member API server; omitted ⇒ the default loading rules (in a pod: in-cluster). */
  readonly kubeconfig?: string;
  /** `http://[user:pass@]host:port` of an HTTP proxy to reach the gateway through. */
  readonly proxy?: string;
  readonly log?: Logger;
}

/** Starts an agent from files (the CLI's entry point); `stop()` ends it. */
export async function agentFromFiles(f: AgentFiles): Promise<RunningAgent> {
  const kc = new KubeConfig();
  if (f.kubeconfig === undefined) kc.loadFromDefault();
  else kc.loadFromFile(f.kubeconfig);
  const member = await memberTargetFromKubeConfig(kc);
  const agent = startAgent({
    cluster: f.cluster,
    gatewayUrl: f.gatewayUrl,
    token: tokenFile(f.tokenFile),
    gatewayCa: await readFile(f.gatewayCaFile),
    member,
    ...(f.proxy === undefined ? {} : { proxy: f.proxy }),
    ...(f.log === undefined ? {} : { log: f.log }),
  });
  return {
    get session() {
      return agent.session;
    },
    get attempts() {
      return agent.attempts;
    },
    connected: (signal) => agent.connected(signal),
    async stop() {
      await agent.stop();
      member.close();
    },
  };
}
