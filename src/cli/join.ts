/**
 * `meridian join <name>`: registers a member cluster with the hub. Push mode (the default) is
 * described here; pull mode (`--mode Pull`) is in `join-pull.ts`.
 *
 * What it does, in order: validates the name and labels; reads the member kubeconfig and
 * reduces it to one context with every credential embedded; checks the member answers
 * `/version`; installs Meridian's CRDs on the hub; creates the execution namespace
 * `meridian-cluster-<name>`; stores the kubeconfig there as a Secret (key `kubeconfig`); and
 * applies the Cluster (Push, `apiEndpoint` = the member's server, `secretRef`, labels). Region,
 * zone and provider labels come from the member's nodes unless given. Re-running it updates
 * the registration (every write is a server-side apply).
 *
 * Exit codes: 0 joined; 1 usage error (bad name, labels, kubeconfig file or context);
 * 2 the member or the hub could not be reached or refused a write.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join as joinPath } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { Command, Option } from 'commander';
import { stringify } from 'yaml';
import {
  API_VERSION,
  CLUSTER_NAME_MAX_LENGTH,
  FIELD_MANAGER,
  Kinds,
  Labels,
  clusterNamespace,
  type Cluster,
} from '../api/index.ts';
import { ApiClient, type ResourceType } from '../kube/api-client.ts';
import type { KubeObject } from '../kube/wire.ts';
import { ensureNamespace, installCrds } from '../controllers/bootstrap/install-crds.ts';
import { CLUSTERS, KUBECONFIG_KEY, SECRETS } from '../controllers/members/registry.ts';
import { parseDuration } from './duration.ts';
import { runPullJoin, runUnjoin } from './join-pull.ts';

/** The name of the credentials Secret in the cluster's execution namespace. */
export const MEMBER_SECRET_NAME = 'member-kubeconfig';

export const NODES: ResourceType = {
  group: '',
  version: 'v1',
  resource: 'nodes',
  scope: 'Cluster',
  kind: 'Node',
};
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const REQUEST_TIMEOUT_MS = 15_000;

/** A failure with the exit code it maps to. */
export class JoinError extends Error {
  readonly exitCode: 1 | 2;
  constructor(exitCode: 1 | 2, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'JoinError';
    this.exitCode = exitCode;
  }
}

export interface JoinOptions {
  readonly name: string;
  readonly kubeconfig: string;
  readonly context?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly hubKubeconfig?: string;
  readonly mode?: 'Push';
}

/** A member kubeconfig is optional in pull mode (read once for node labels, never stored). */
export interface PullJoinOptions extends Omit<JoinOptions, 'kubeconfig' | 'mode'> {
  readonly kubeconfig?: string;
  readonly mode: 'Pull';
  /** Lifetime of the bootstrap token. Default 1 h. */
  readonly tokenTtlMs?: number;
  /** The gateway URL to print in the agent command. */
  readonly gateway?: string;
}

/** Throws a usage `JoinError` unless `name` is a DNS label short enough for its namespace. */
export function validateClusterName(name: string): void {
  if (name.length > CLUSTER_NAME_MAX_LENGTH || !DNS_LABEL.test(name)) {
    throw new JoinError(
      1,
      `invalid cluster name ${JSON.stringify(name)}: use lower-case letters, digits and '-', ` +
        `starting and ending with a letter or digit, at most ${CLUSTER_NAME_MAX_LENGTH} characters`,
    );
  }
}

/** Parses `k=v,k2=v2` (Kubernetes label syntax); throws a usage `JoinError` naming the bad pair. */
export function parseLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of text.split(',').map((p) => p.trim())) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    const value = eq < 0 ? undefined : pair.slice(eq + 1);
    const slash = key.lastIndexOf('/');
    const prefix = slash < 0 ? undefined : key.slice(0, slash);
    const local = slash < 0 ? key : key.slice(slash + 1);
    const prefixOk =
      prefix === undefined || (prefix.length <= 253 && prefix.split('.').every((p) => DNS_LABEL.test(p)));
    if (value === undefined || !prefixOk || local.length > 63 || !LABEL_NAME.test(local)) {
      throw new JoinError(
        1,
        `invalid label ${JSON.stringify(pair)}: expected key=value with a valid label key`,
      );
    }
    if (value.length > 63 || (value !== '' && !LABEL_NAME.test(value))) {
      throw new JoinError(1, `invalid value in label ${JSON.stringify(pair)}`);
    }
    out[key] = value;
  }
  return out;
}

function b64file(path: string | undefined, data: string | undefined): string | undefined {
  if (data !== undefined && data !== '') return data;
  if (path !== undefined && path !== '') return readFileSync(path).toString('base64');
  return undefined;
}

/**
 * The kubeconfig at `path` reduced to `context` (default: its current context), with CA and
 * client certificate files embedded, as YAML. Throws a usage `JoinError` when the file is
 * missing or unreadable, the context does not exist, or the user needs a credential plugin
 * (the hub cannot run the member's exec plugins).
 */
export function minifiedKubeconfig(path: string, context?: string): { yaml: string; server: string } {
  if (!existsSync(path)) throw new JoinError(1, `member kubeconfig ${path} does not exist`);
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(path);
  } catch (err) {
    throw new JoinError(1, `cannot read member kubeconfig ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const ctxName = context ?? kc.getCurrentContext();
  const ctx = ctxName ? kc.getContextObject(ctxName) : null;
  if (ctx === null) {
    const have = kc.getContexts().map((c) => c.name);
    throw new JoinError(
      1,
      context === undefined
        ? `member kubeconfig ${path} has no current context; pass --context (have: ${have.join(', ') || 'none'})`
        : `member kubeconfig ${path} has no context ${JSON.stringify(context)} (have: ${have.join(', ') || 'none'})`,
    );
  }
  const cluster = kc.getCluster(ctx.cluster);
  if (cluster === null) throw new JoinError(1, `context ${ctx.name} names a missing cluster ${ctx.cluster}`);
  const user = kc.getUser(ctx.user);
  if (user?.exec !== undefined || user?.authProvider !== undefined) {
    throw new JoinError(
      1,
      `user ${user.name} of context ${ctx.name} uses a credential plugin; push mode needs embedded ` +
        'credentials (a client certificate or a token), e.g. a ServiceAccount token kubeconfig',
    );
  }
  let ca: string | undefined;
  let cert: string | undefined;
  let key: string | undefined;
  try {
    ca = b64file(cluster.caFile, cluster.caData);
    cert = b64file(user?.certFile, user?.certData);
    key = b64file(user?.keyFile, user?.keyData);
  } catch (err) {
    throw new JoinError(1, `cannot read a file named by ${path}: ${(err as Error).message}`, { cause: err });
  }
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: cluster.name,
        cluster: {
          server: cluster.server,
          ...(ca === undefined ? {} : { 'certificate-authority-data': ca }),
          ...(cluster.tlsServerName === undefined ? {} : { 'tls-server-name': cluster.tlsServerName }),
          ...(cluster.skipTLSVerify ? { 'insecure-skip-tls-verify': true } : {}),
        },
      },
    ],
    users: [
      {
        name: ctx.user,
        user: {
          ...(cert === undefined ? {} : { 'client-certificate-data': cert }),
          ...(key === undefined ? {} : { 'client-key-data': key }),
          ...(user?.token === undefined ? {} : { token: user.token }),
          ...(user?.username === undefined ? {} : { username: user.username, password: user.password ?? '' }),
          ...(user?.impersonateUser === undefined ? {} : { as: user.impersonateUser }),
        },
      },
    ],
    contexts: [{ name: ctx.name, context: { cluster: ctx.cluster, user: ctx.user } }],
    'current-context': ctx.name,
  };
  return { yaml: stringify(config), server: cluster.server };
}

export type NodeLike = KubeObject & { readonly spec?: { readonly providerID?: string } };

const PROVIDER_ID_SCHEMES: Readonly<Record<string, string>> = {
  aws: 'aws',
  gce: 'gcp',
  azure: 'azure',
  openstack: 'openstack',
  vsphere: 'vsphere',
  kind: 'kind',
  kwok: 'kwok',
};

/** The most common value of each topology label across `nodes` (ties: alphabetical). */
export function topologyFromNodes(nodes: readonly NodeLike[]): Record<string, string> {
  const out: Record<string, string> = {};
  const mostCommon = (values: (string | undefined)[]): string | undefined => {
    const counts = new Map<string, number>();
    for (const v of values) if (v !== undefined && v !== '') counts.set(v, (counts.get(v) ?? 0) + 1);
    return [...counts].sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1))[0]?.[0];
  };
  const region = mostCommon(nodes.map((n) => n.metadata?.labels?.[Labels.region]));
  const zone = mostCommon(nodes.map((n) => n.metadata?.labels?.[Labels.zone]));
  const provider =
    mostCommon(nodes.map((n) => n.metadata?.labels?.[Labels.provider])) ??
    mostCommon(nodes.map((n) => PROVIDER_ID_SCHEMES[n.spec?.providerID?.split('://')[0] ?? '']));
  if (region !== undefined) out[Labels.region] = region;
  if (zone !== undefined) out[Labels.zone] = zone;
  if (provider !== undefined) out[Labels.provider] = provider;
  return out;
}

export function loadHubKubeconfig(path: string | undefined): { kc: KubeConfig; from: string } {
  const kc = new KubeConfig();
  const env = process.env['KUBECONFIG'];
  const from = path ?? (env !== undefined && env !== '' ? env : joinPath(homedir(), '.kube', 'config'));
  try {
    if (path === undefined && env !== undefined && env !== '') kc.loadFromDefault();
    else {
      if (!existsSync(from)) {
        throw new JoinError(1, `hub kubeconfig ${from} does not exist; pass --hub-kubeconfig`);
      }
      kc.loadFromFile(from);
    }
  } catch (err) {
    if (err instanceof JoinError) throw err;
    throw new JoinError(1, `cannot read hub kubeconfig ${from}: ${(err as Error).message}`, { cause: err });
  }
  if (kc.getCurrentCluster() === null)
    throw new JoinError(1, `hub kubeconfig ${from} has no current context`);
  return { kc, from };
}

export const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Joins a member; `print` receives one line per step. See the module doc. */
export async function runJoin(opts: JoinOptions, print: (line: string) => void): Promise<void> {
  validateClusterName(opts.name);
  const { yaml, server } = minifiedKubeconfig(opts.kubeconfig, opts.context);
  const hubConfig = loadHubKubeconfig(opts.hubKubeconfig);

  const memberKc = new KubeConfig();
  memberKc.loadFromString(yaml);
  const member = await ApiClient.fromKubeConfig(memberKc, { requestTimeoutMs: REQUEST_TIMEOUT_MS });
  const hub = await ApiClient.fromKubeConfig(hubConfig.kc, { requestTimeoutMs: REQUEST_TIMEOUT_MS });
  const signal = AbortSignal.timeout(120_000);
  try {
    let version: string;
    let nodes: NodeLike[];
    try {
      const v = (await member.request('GET', '/version', { signal })) as { gitVersion?: string };
      version = v.gitVersion ?? 'unknown';
      nodes = [...(await member.list<NodeLike>(NODES, { limit: 500 }, signal)).items];
    } catch (err) {
      throw new JoinError(2, `cannot reach the member cluster at ${server}: ${messageOf(err)}`, {
        cause: err,
      });
    }
    print(`member ${opts.name}: ${server} answers, Kubernetes ${version}, ${nodes.length} node(s)`);

    const hubServer = hubConfig.kc.getCurrentCluster()?.server ?? hubConfig.from;
    try {
      const crds = await installCrds(hub, signal);
      print(`hub ${hubServer}: ${crds.length} Meridian CRDs installed and established`);
      const ns = clusterNamespace(opts.name);
      await ensureNamespace(hub, ns, { labels: { [Labels.cluster]: opts.name }, signal });
      print(`namespace ${ns} ready`);
      await hub.apply(
        SECRETS,
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: MEMBER_SECRET_NAME, namespace: ns, labels: { [Labels.cluster]: opts.name } },
          type: 'Opaque',
          data: { [KUBECONFIG_KEY]: Buffer.from(yaml).toString('base64') },
        } as KubeObject,
        { fieldManager: FIELD_MANAGER, force: true, signal },
      );
      print(
        `secret ${ns}/${MEMBER_SECRET_NAME} holds the member's kubeconfig (context ${memberKc.currentContext})`,
      );

      const inferred = topologyFromNodes(nodes);
      const given = opts.labels ?? {};
      const labels: Record<string, string> = { ...given };
      const fromNodes: string[] = [];
      for (const [k, v] of Object.entries(inferred)) {
        if (given[k] !== undefined) continue;
        labels[k] = v;
        fromNodes.push(`${k}=${v}`);
      }
      const cluster: Cluster = {
        apiVersion: API_VERSION,
        kind: Kinds.Cluster,
        metadata: { name: opts.name, labels },
        spec: {
          syncMode: opts.mode ?? 'Push',
          apiEndpoint: server,
          secretRef: { namespace: ns, name: MEMBER_SECRET_NAME },
        },
      };
      const applied = await hub.apply<Cluster>(CLUSTERS, cluster, {
        fieldManager: FIELD_MANAGER,
        force: true,
        signal,
      });
      if (applied.metadata.deletionTimestamp !== undefined) {
        throw new JoinError(2, `cluster ${opts.name} is being deleted; join it again once it is gone`);
      }
      const givenText = Object.entries(given).map(([k, v]) => `${k}=${v}`);
      print(
        `cluster ${opts.name} joined (Push, ${server})` +
          (givenText.length === 0 ? '' : `; labels ${givenText.join(', ')}`) +
          (fromNodes.length === 0 ? '' : `; from its nodes: ${fromNodes.join(', ')}`),
      );
    } catch (err) {
      if (err instanceof JoinError) throw err;
      throw new JoinError(2, `hub ${hubServer}: ${messageOf(err)}`, { cause: err });
    }
  } finally {
    await Promise.all([member.close(), hub.close()]);
  }
}

/** Adds `meridian join` and `meridian unjoin` to `program`. */
export function registerJoin(program: Command): void {
  program
    .command('join')
    .description(
      'register a member cluster with the hub (push: the hub stores its credentials; pull: its agent applies Works and the hub holds no credential)',
    )
    .argument('<name>', `cluster name (a DNS label, at most ${CLUSTER_NAME_MAX_LENGTH} characters)`)
    .option(
      '--kubeconfig <file>',
      "the member cluster's kubeconfig (push: required; pull: only to read node labels)",
    )
    .option('--context <ctx>', 'context of the member kubeconfig (default: its current context)')
    .option('--labels <k=v,...>', "labels of the Cluster (region/zone/provider default to its nodes')")
    .option('--hub-kubeconfig <file>', 'kubeconfig of the hub (default: $KUBECONFIG, then ~/.kube/config)')
    .addOption(new Option('--mode <mode>', 'sync mode').choices(['Push', 'Pull']).default('Push'))
    .option(
      '--token-ttl <duration>',
      'pull: lifetime of the single-use bootstrap token (default 1h)',
      parseDuration,
    )
    .option('--gateway <url>', "pull: the gateway's https://host:port, for the printed agent command")
    .action(
      async (
        name: string,
        o: {
          kubeconfig?: string;
          context?: string;
          labels?: string;
          hubKubeconfig?: string;
          mode: 'Push' | 'Pull';
          tokenTtl?: number;
          gateway?: string;
        },
      ) => {
        const print = (line: string): void => void process.stdout.write(`${line}\n`);
        try {
          const common = {
            name,
            ...(o.context === undefined ? {} : { context: o.context }),
            ...(o.labels === undefined ? {} : { labels: parseLabels(o.labels) }),
            ...(o.hubKubeconfig === undefined ? {} : { hubKubeconfig: o.hubKubeconfig }),
          };
          if (o.mode === 'Pull') {
            await runPullJoin(
              {
                ...common,
                mode: 'Pull',
                ...(o.kubeconfig === undefined ? {} : { kubeconfig: o.kubeconfig }),
                ...(o.tokenTtl === undefined ? {} : { tokenTtlMs: o.tokenTtl }),
                ...(o.gateway === undefined ? {} : { gateway: o.gateway }),
              },
              print,
            );
          } else {
            if (o.kubeconfig === undefined)
              throw new JoinError(1, 'push mode needs --kubeconfig (the member credentials the hub stores)');
            await runJoin({ ...common, kubeconfig: o.kubeconfig, mode: 'Push' }, print);
          }
        } catch (err) {
          process.stderr.write(`error: ${messageOf(err)}\n`);
          process.exitCode = err instanceof JoinError ? err.exitCode : 2;
        }
      },
    );
  program
    .command('unjoin')
    .description(
      "remove a member cluster from the fleet; a pull-mode agent's tunnel is cut and its certificate refused",
    )
    .argument('<name>', 'cluster name')
    .option('--hub-kubeconfig <file>', 'kubeconfig of the hub (default: $KUBECONFIG, then ~/.kube/config)')
    .action(async (name: string, o: { hubKubeconfig?: string }) => {
      try {
        await runUnjoin(name, o.hubKubeconfig, (line) => void process.stdout.write(`${line}\n`));
      } catch (err) {
        process.stderr.write(`error: ${messageOf(err)}\n`);
        process.exitCode = err instanceof JoinError ? err.exitCode : 2;
      }
    });
}
