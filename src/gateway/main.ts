import { readFile } from 'node:fs/promises';
import type { Logger } from '../kube/log.ts';
import { startGateway, type Gateway, type GatewayOptions } from './gateway.ts';
import { readTokenDir, staticTokens } from './tokens.ts';

/** What `meridian gateway` reads: file paths and the listen address. */
export interface GatewayFiles {
  /** PEM serving certificate and key. */
  readonly certFile: string;
  readonly keyFile: string;
  /** PEM CA whose client certificates identify users (the hub CA). */
  readonly clientCaFile: string;
  /** Directory with one file per cluster, named after it, holding its agent token. */
  readonly tokenDir: string;
  readonly host?: string;
  readonly port?: number;
  readonly log?: Logger;
  /** Called once per proxied request (default: an `info` log line). */
  readonly audit?: GatewayOptions['audit'];
  /** Further options (cluster proxy through the hub, peers). */
  readonly extra?: Partial<Omit<GatewayOptions, 'tls' | 'agents' | 'audit'>>;
}

/**
 * Starts the gateway from files (the CLI's entry point). Tokens are read once at start;
 * restart to pick up new clusters (interim: pull-mode join will replace tokens).
 */
export async function gatewayFromFiles(f: GatewayFiles): Promise<Gateway> {
  const [cert, key, clientCa, tokens] = await Promise.all([
    readFile(f.certFile),
    readFile(f.keyFile),
    readFile(f.clientCaFile),
    readTokenDir(f.tokenDir),
  ]);
  return startGateway({
    tls: { cert, key, clientCa },
    agents: staticTokens(tokens),
    ...(f.host === undefined ? {} : { host: f.host }),
    ...(f.port === undefined ? {} : { port: f.port }),
    ...(f.log === undefined ? {} : { log: f.log }),
    ...(f.audit === undefined ? {} : { audit: f.audit }),
    ...f.extra,
  });
}
