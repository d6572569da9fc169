/**
 * `meridian kubeconfig <cluster>`: a kubeconfig that reaches one member. Either through the
 * hub's cluster proxy (`--proxy`, and always for pull-mode clusters): the hub URL plus
 * `/apis/proxy.meridian.dev/v1alpha1/clusters/<name>/proxy` with the user's own hub
 * credentials, so hub authentication, RBAC and audit apply and the member's RBAC decides for
 * the same user; or, for push-mode clusters, directly: the kubeconfig `meridian join` stored
 * on the hub (Secret `member-kubeconfig` in `meridian-cluster-<name>`), renamed to the cluster
 * and pointed at the Cluster's `spec.apiEndpoint`.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Command } from 'commander';
import { parse, stringify } from 'yaml';
import type { Cluster } from '../api/index.ts';
import { KUBECONFIG_KEY, SECRETS, type Secret } from '../controllers/members/registry.ts';
import { Resources } from '../controllers/resources.ts';
import { ForbiddenError, NotFoundError } from '../kube/errors.ts';
import { CliError, ExitCodes, notFound, reportErrors, usageError } from './exit-codes.ts';
import { proxyPathPrefix } from '../gateway/aggregated.ts';
import { loadHubKubeConfig, withHub } from './hub-kubeconfig.ts';
import { outputOption, type OutputFormat } from './output.ts';

type Named<K extends string> = { readonly name?: string } & { readonly [P in K]?: Record<string, unknown> };

interface KubeconfigFile {
  readonly clusters?: readonly Named<'cluster'>[];
  readonly users?: readonly Named<'user'>[];
  readonly contexts?: readonly Named<'context'>[];
  readonly 'current-context'?: string;
}

/**
 * The kubeconfig for `cluster` made from the one stored for it (`stored`, YAML): only its
 * current context (or its only one), with the cluster, user and context all named `cluster`,
 * the server set to `endpoint` when given (the Cluster's `spec.apiEndpoint` wins, as for the
 * controllers), and everything else (CA, client certificate, token) kept as stored. Throws an
 * `Error` saying what is wrong when `stored` is not a usable kubeconfig.
 */
export function memberKubeconfig(
  stored: string,
  cluster: string,
  endpoint?: string,
): Record<string, unknown> {
  let doc: KubeconfigFile;
  try {
    doc = (parse(stored) ?? {}) as KubeconfigFile;
  } catch (err) {
    throw new Error(`not YAML: ${(err as Error).message}`, { cause: err });
  }
  const contexts = doc.contexts ?? [];
  const current = doc['current-context'];
  const ctx =
    current !== undefined && current !== ''
      ? contexts.find((c) => c.name === current)
      : contexts.length === 1
        ? contexts[0]
        : undefined;
  if (ctx?.context === undefined) throw new Error('it has no current context');
  const c = (doc.clusters ?? []).find((x) => x.name === ctx.context?.['cluster'])?.cluster;
  if (c === undefined)
    throw new Error(`its context names a missing cluster ${String(ctx.context['cluster'])}`);
  const u = (doc.users ?? []).find((x) => x.name === ctx.context?.['user'])?.user ?? {};
  const server = endpoint ?? c['server'];
  if (typeof server !== 'string' || server === '') throw new Error('it names no server');
  const namespace = ctx.context['namespace'];
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: cluster, cluster: { ...c, server } }],
    users: [{ name: cluster, user: u }],
    contexts: [
      {
        name: cluster,
        context: {
          cluster,
          user: cluster,
          ...(typeof namespace === 'string' && namespace !== '' ? { namespace } : {}),
        },
      },
    ],
    'current-context': cluster,
  };
}

const FILE_KEYS = [
  ['certificate-authority', 'certificate-authority-data'],
  ['client-certificate', 'client-certificate-data'],
  ['client-key', 'client-key-data'],
] as const;

/** `entry` with every referenced file (CA, client certificate, key) inlined as `*-data`. */
function inlineFiles(entry: Record<string, unknown>): Record<string, unknown> {
  const files = new Set<string>(FILE_KEYS.map(([f]) => f));
  const out = Object.fromEntries(Object.entries(entry).filter(([k]) => !files.has(k)));
  for (const [file, data] of FILE_KEYS) {
    const path = entry[file];
    if (typeof path === 'string' && path !== '') out[data] = readFileSync(path).toString('base64');
  }
  return out;
}

/**
 * The kubeconfig for `cluster` through the hub's cluster proxy, made from the hub
 * kubeconfig's current context: its cluster entry (CA, TLS settings) with the server set to
 * the hub URL plus the proxy prefix, and its user entry as it is (client certificate, token,
 * exec plugin…), with files inlined so the result stands on its own.
 */
export function proxyKubeconfig(hub: KubeConfig, cluster: string): Record<string, unknown> {
  const doc = JSON.parse(hub.exportConfig()) as KubeconfigFile;
  const ctx = (doc.contexts ?? []).find((c) => c.name === doc['current-context'])?.context;
  if (ctx === undefined) throw new Error('the hub kubeconfig has no current context');
  const c = (doc.clusters ?? []).find((x) => x.name === ctx['cluster'])?.cluster;
  if (c === undefined || typeof c['server'] !== 'string')
    throw new Error(`the hub kubeconfig's context names a missing cluster ${String(ctx['cluster'])}`);
  const u = (doc.users ?? []).find((x) => x.name === ctx['user'])?.user ?? {};
  const { 'insecure-skip-tls-verify': insecure, ...rest } = c;
  const server = `${c['server'].replace(/\/+$/, '')}${proxyPathPrefix(cluster)}`;
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: cluster,
        cluster: {
          ...inlineFiles(rest),
          ...(insecure === true ? { 'insecure-skip-tls-verify': true } : {}),
          server,
        },
      },
    ],
    users: [{ name: cluster, user: inlineFiles(u) }],
    contexts: [{ name: cluster, context: { cluster, user: cluster } }],
    'current-context': cluster,
  };
}

interface Options {
  readonly proxy?: boolean;
  readonly output: Extract<OutputFormat, 'yaml' | 'json'>;
  readonly file?: string;
  readonly force?: boolean;
  readonly kubeconfig?: string;
}

const failure = (message: string): CliError => new CliError(ExitCodes.failure, message);

export async function runKubeconfig(name: string, opts: Options): Promise<void> {
  if (opts.file !== undefined && existsSync(opts.file) && opts.force !== true) {
    throw usageError(`${opts.file} exists; pass --force to replace it, or choose another --file`);
  }
  const config = await withHub(opts.kubeconfig, async (hub) => {
    let cluster: Cluster | undefined;
    try {
      cluster = await hub.client.get<Cluster>(Resources.Cluster, { name });
    } catch (err) {
      if (err instanceof NotFoundError) {
        throw notFound(`no cluster named ${name} on the hub; \`meridian clusters\` lists them`);
      }
      // Using a cluster's proxy needs no read access to Cluster objects: the proxy decides.
      if (!(opts.proxy === true && err instanceof ForbiddenError)) throw err;
    }
    if (opts.proxy === true || cluster === undefined || cluster.spec.syncMode !== 'Push') {
      try {
        return proxyKubeconfig(loadHubKubeConfig(opts.kubeconfig).kc, name);
      } catch (err) {
        throw usageError(`cannot make a kubeconfig from the hub kubeconfig: ${(err as Error).message}`);
      }
    }
    const ref = cluster.spec.secretRef;
    const rejoin = `re-run \`meridian join ${name} --kubeconfig <member kubeconfig>\``;
    if (ref === undefined)
      throw failure(`cluster ${name} names no credentials Secret (spec.secretRef); ${rejoin}`);
    let secret: Secret;
    try {
      secret = await hub.client.get<Secret>(SECRETS, { namespace: ref.namespace, name: ref.name });
    } catch (err) {
      if (err instanceof NotFoundError) {
        throw failure(
          `the credentials Secret ${ref.namespace}/${ref.name} of cluster ${name} is missing; ${rejoin}`,
        );
      }
      throw err;
    }
    const data = secret.data?.[KUBECONFIG_KEY];
    if (data === undefined) {
      throw failure(`Secret ${ref.namespace}/${ref.name} has no data key "${KUBECONFIG_KEY}"; ${rejoin}`);
    }
    try {
      return memberKubeconfig(Buffer.from(data, 'base64').toString('utf8'), name, cluster.spec.apiEndpoint);
    } catch (err) {
      throw failure(
        `Secret ${ref.namespace}/${ref.name} holds no usable kubeconfig (${(err as Error).message}); ${rejoin}`,
      );
    }
  });
  const text = opts.output === 'json' ? `${JSON.stringify(config, null, 2)}\n` : stringify(config);
  if (opts.file === undefined) {
    process.stdout.write(text);
    return;
  }
  try {
    writeFileSync(opts.file, text, { mode: 0o600 });
    chmodSync(opts.file, 0o600);
  } catch (err) {
    throw usageError(`cannot write ${opts.file}: ${(err as Error).message}`);
  }
  process.stdout.write(
    `kubeconfig for cluster ${name} written to ${opts.file} (context ${name}); ` +
      `try: kubectl --kubeconfig ${opts.file} get nodes\n`,
  );
}

/** Adds `meridian kubeconfig` to `program`. */
export function registerKubeconfig(program: Command): void {
  program
    .command('kubeconfig')
    .description("print (or write) a kubeconfig that reaches a member cluster's API server")
    .argument('<cluster>', 'the member cluster')
    .option(
      '--proxy',
      "through the hub's cluster proxy with your own hub credentials (always so for Pull-mode clusters)",
    )
    .option('--file <path>', 'write it to this file (mode 0600) instead of printing it')
    .option('--force', 'with --file: replace an existing file')
    .addOption(outputOption(['yaml', 'json'], 'yaml'))
    .option('--kubeconfig <file>', 'hub kubeconfig (default: $KUBECONFIG, then ~/.kube/config)')
    .addHelpText(
      'after',
      `
With --proxy, and for Pull-mode clusters (the hub holds no credentials for them): the
server is the hub's URL plus /apis/proxy.meridian.dev/v1alpha1/clusters/<cluster>/proxy and
the user is your current hub user. The hub authenticates you, checks that its RBAC lets you
use clusters/proxy named <cluster> in proxy.meridian.dev, audits the request and forwards it
to meridian-gateway, whose agent in the member re-issues it as you (impersonation): the
member's RBAC decides. Needs the gateway registered as an aggregated API (docs/tunnel.md).

Otherwise (Push mode): the member kubeconfig \`meridian join\` stored on the hub (Secret
member-kubeconfig in namespace meridian-cluster-<cluster>), with its cluster, user and
context named <cluster> and its server set to the Cluster's spec.apiEndpoint. It carries the
credentials given to join, so reading that Secret (and so this command) needs the same trust
as those credentials.

Exit codes: 0 printed or written; 1 usage (e.g. --file exists without --force); 2 hub
unreachable or refused, or (direct) its Secret is missing or unusable; 3 no such cluster.

Examples:
  meridian kubeconfig us-east > us-east.kubeconfig
  kubectl --kubeconfig <(meridian kubeconfig us-east --proxy) get pods -A
  meridian kubeconfig us-east --file ~/.kube/us-east && kubectl --kubeconfig ~/.kube/us-east get nodes`,
    )
    .action(
      reportErrors(async (name: string, opts: Options) => {
        await runKubeconfig(name, opts);
      }),
    );
}
