import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { ApiClient, type ResourceType } from '../kube/api-client.ts';
import type { KubeObject } from '../kube/wire.ts';
import { hubError, usageError } from './exit-codes.ts';

/** The hub kubeconfig: the flag, else $KUBECONFIG (first entry), else ~/.kube/config — as kubectl. */
export function hubKubeconfigPath(flag?: string): string {
  const path = flag ?? process.env.KUBECONFIG?.split(':')[0] ?? join(homedir(), '.kube', 'config');
  if (!existsSync(path)) {
    throw new Error(`no hub kubeconfig at ${path}: pass --kubeconfig <file> or set KUBECONFIG`);
  }
  return path;
}

/** A connection to the hub for one command. */
export interface Hub {
  readonly client: ApiClient;
  /** The hub's server URL, for messages. */
  readonly server: string;
  /** The kubeconfig it came from (`--kubeconfig`, `$KUBECONFIG` or `~/.kube/config`), for messages. */
  readonly from: string;
  /** The current context's namespace, else `default` (kubectl's default for `-n`). */
  readonly namespace: string;
}

/**
 * Loads the hub kubeconfig as kubectl does: `flag`, else `$KUBECONFIG` (every file of the
 * list, merged), else `~/.kube/config`. Throws a usage `CliError` naming the file and what to
 * pass when it is missing, unreadable or has no current context.
 */
export function loadHubKubeConfig(flag?: string): { kc: KubeConfig; from: string } {
  const env = process.env.KUBECONFIG;
  const fromEnv = flag === undefined && env !== undefined && env !== '';
  const from = flag ?? (fromEnv ? env : join(homedir(), '.kube', 'config'));
  const kc = new KubeConfig();
  if (!fromEnv && !existsSync(from)) {
    throw usageError(
      `no hub kubeconfig at ${from}: pass --kubeconfig <file> or set KUBECONFIG ` +
        '(`meridian demo` prints the path of its hub kubeconfig)',
    );
  }
  try {
    if (fromEnv) kc.loadFromDefault();
    else kc.loadFromFile(from);
  } catch (err) {
    throw usageError(`cannot read the hub kubeconfig ${from}: ${(err as Error).message}`);
  }
  if (kc.getCurrentCluster() === null) {
    throw usageError(
      `the hub kubeconfig ${from} has no current context; set one (kubectl config use-context)`,
    );
  }
  return { kc, from };
}

/**
 * Connects to the hub (see {@link loadHubKubeConfig}), runs `fn`, and closes the connection.
 * Errors from `fn` become `CliError`s that name the hub and say what to do (see `hubError`).
 */
export async function withHub<T>(flag: string | undefined, fn: (hub: Hub) => Promise<T>): Promise<T> {
  const { kc, from } = loadHubKubeConfig(flag);
  const server = kc.getCurrentCluster()?.server ?? from;
  let client: ApiClient;
  try {
    client = await ApiClient.fromKubeConfig(kc, { userAgent: 'meridian-cli', requestTimeoutMs: 30_000 });
  } catch (err) {
    throw usageError(`cannot use the hub kubeconfig ${from}: ${(err as Error).message}`);
  }
  const namespace = kc.getContextObject(kc.getCurrentContext())?.namespace || 'default';
  try {
    return await fn({ client, server, from, namespace });
  } catch (err) {
    throw hubError(err, server, from);
  } finally {
    await client.close();
  }
}

/** Every object of `rt` matching `opts` (following `continue` tokens, 500 per page). */
export async function listAll<K extends KubeObject>(
  client: ApiClient,
  rt: ResourceType,
  opts: {
    readonly namespace?: string;
    readonly labelSelector?: string;
    readonly fieldSelector?: string;
  } = {},
): Promise<K[]> {
  const out: K[] = [];
  let token: string | undefined;
  do {
    const page = await client.list<K>(rt, { ...opts, limit: 500, ...(token ? { continue: token } : {}) });
    out.push(...page.items);
    token = page.metadata.continue;
  } while (token);
  return out;
}
