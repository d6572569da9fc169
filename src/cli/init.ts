/**
 * `meridian init --kubeconfig <host cluster>`: installs the hub components — Meridian's CRDs,
 * meridian-controllers and meridian-gateway (deploy/hub/) — into a host cluster with
 * server-side apply, the kubectl-friendly path (`kubectl apply --server-side -f deploy/crds
 * -f deploy/hub` does the same, given the Secrets below).
 *
 * What it creates besides the manifests, each only when missing (so re-running keeps them):
 * - `meridian-hub-kubeconfig` (key `kubeconfig`): the hub API server the controllers work
 *   against. With `--hub-kubeconfig`, that kubeconfig with its credentials embedded (CRDs are
 *   installed there); without, the host cluster itself through the controllers'
 *   ServiceAccount (in-cluster address, CA and token file).
 * - `meridian-gateway-tls`: a CA and a serving certificate for the gateway (`serving-ca.crt`
 *   is what agents trust), and `ca.crt`, the CA of the hub's client certificates (users' and
 *   agents').
 *
 * Exit codes: 0 installed; 1 usage (missing or unreadable kubeconfig, bad option); 2 the
 * cluster could not be reached or refused a write.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import type { Command } from 'commander';
import { parseAllDocuments, stringify } from 'yaml';
import { ApiClient, type ResourceType } from '../kube/api-client.ts';
import { KubeError, NotFoundError } from '../kube/errors.ts';
import type { KubeObject } from '../kube/wire.ts';
import { createCertificateAuthority, issueCertificate } from '../testenv/pki.ts';
import { CliError, ExitCodes, reportErrors, usageError } from './exit-codes.ts';
import { JoinError, minifiedKubeconfig } from './join.ts';

const DEPLOY = fileURLToPath(new URL('../../deploy/', import.meta.url));
export const FIELD_MANAGER = 'meridian-init';
export const DEFAULT_NAMESPACE = 'meridian-system';
const IMAGE = /^(?<registry>.+)\/(?<name>meridian-[a-z]+):(?<tag>[^:/]+)$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

const SECRETS: ResourceType = {
  group: '',
  version: 'v1',
  resource: 'secrets',
  scope: 'Namespaced',
  kind: 'Secret',
};

interface Options {
  kubeconfig?: string;
  context?: string;
  hubKubeconfig?: string;
  namespace: string;
  imageRegistry?: string;
  imageTag?: string;
  gatewayHost: string[];
  dryRun: boolean;
}

/** Every document of the YAML files in `dir` (sorted by name), as objects. */
export function manifestsIn(dir: string): KubeObject[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => d.toJS() as KubeObject))
    .filter((o) => o !== null && typeof o === 'object' && o.kind !== undefined);
}

/**
 * The hub manifests for `namespace`, with images from `registry`/`tag` when given: the
 * Namespace renamed, namespaced objects and ServiceAccount subjects moved into it.
 */
export function hubManifests(o: {
  namespace: string;
  imageRegistry?: string;
  imageTag?: string;
}): KubeObject[] {
  const json = JSON.stringify(manifestsIn(join(DEPLOY, 'hub')), (key, value: unknown) => {
    if (key === 'namespace' && value === DEFAULT_NAMESPACE) return o.namespace;
    if (key === 'image' && typeof value === 'string') {
      const m = IMAGE.exec(value)?.groups;
      if (m) return `${o.imageRegistry ?? m.registry}/${m.name}:${o.imageTag ?? m.tag}`;
    }
    return value;
  });
  return (JSON.parse(json) as KubeObject[]).map((obj) =>
    obj.kind === 'Namespace' ? { ...obj, metadata: { ...obj.metadata, name: o.namespace } } : obj,
  );
}

export const crdManifests = (): KubeObject[] => manifestsIn(join(DEPLOY, 'crds'));

/** A kubeconfig reaching the API server the pod runs under, as its ServiceAccount. */
export function inClusterKubeconfig(): string {
  const sa = '/var/run/secrets/kubernetes.io/serviceaccount';
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'hub',
        cluster: { server: 'https://kubernetes.default.svc', 'certificate-authority': `${sa}/ca.crt` },
      },
    ],
    users: [{ name: 'meridian-controllers', user: { 'token-file': `${sa}/token` } }],
    contexts: [{ name: 'hub', context: { cluster: 'hub', user: 'meridian-controllers' } }],
    'current-context': 'hub',
  });
}

function loadKubeconfig(path: string | undefined, context: string | undefined, what: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (path === undefined) kc.loadFromDefault();
    else kc.loadFromFile(path);
  } catch (err) {
    throw usageError(
      `cannot read the ${what} kubeconfig ${path ?? '($KUBECONFIG)'}: ${(err as Error).message}`,
    );
  }
  if (context !== undefined) {
    if (kc.getContextObject(context) === null)
      throw usageError(`the ${what} kubeconfig has no context ${JSON.stringify(context)}`);
    kc.setCurrentContext(context);
  }
  if (kc.getCurrentCluster() === null)
    throw usageError(
      `the ${what} kubeconfig ${path ?? '($KUBECONFIG)'} has no current cluster: pass --kubeconfig`,
    );
  return kc;
}

/** `err` from `server` as a failure (exit 2) that says what to check. */
function clusterError(err: unknown, what: string, server: string): CliError {
  if (err instanceof CliError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof KubeError && err.code === 'Unavailable')
    return new CliError(
      ExitCodes.failure,
      `cannot reach the ${what} at ${server} (${message.replace(/^transport: /, '')}); check --kubeconfig`,
    );
  if (err instanceof KubeError && (err.code === 'Forbidden' || err.code === 'Unauthorized'))
    return new CliError(
      ExitCodes.failure,
      `the ${what} at ${server} refused: ${message}; meridian init needs cluster-admin there`,
    );
  return new CliError(ExitCodes.failure, `${what} ${server}: ${message}`);
}

async function secretExists(client: ApiClient, namespace: string, name: string): Promise<boolean> {
  try {
    await client.get(SECRETS, { namespace, name });
    return true;
  } catch (err) {
    if (err instanceof NotFoundError) return false;
    throw err;
  }
}

const secret = (namespace: string, name: string, data: Record<string, string>): KubeObject =>
  ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, labels: { 'app.kubernetes.io/part-of': 'meridian' } },
    type: 'Opaque',
    stringData: data,
  }) as KubeObject;

/** A gateway CA and serving certificate (made with openssl in a temp dir), and the client CA. */
async function gatewayTls(
  namespace: string,
  hosts: readonly string[],
  clientCa: string,
): Promise<Record<string, string>> {
  const dir = await mkdtemp(join(tmpdir(), 'meridian-init-'));
  try {
    const ca = await createCertificateAuthority(dir, 'meridian-gateway-ca');
    const ips = hosts.filter((h) => /^[\d.]+$|:/.test(h));
    const cert = await issueCertificate(ca, dir, 'gateway', {
      commonName: 'meridian-gateway',
      dnsNames: [
        'meridian-gateway',
        `meridian-gateway.${namespace}`,
        `meridian-gateway.${namespace}.svc`,
        ...hosts.filter((h) => !ips.includes(h)),
      ],
      ipAddresses: ips,
      usage: 'server',
    });
    const [crt, key, servingCa] = await Promise.all(
      [cert.certPath, cert.keyPath, ca.certPath].map((p) => readFile(p, 'utf8')),
    );
    return {
      'tls.crt': crt as string,
      'tls.key': key as string,
      'serving-ca.crt': servingCa as string,
      'ca.crt': clientCa,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The CA certificate (PEM) of a kubeconfig's current cluster, if it names one. */
function caOf(kc: KubeConfig): string {
  const c = kc.getCurrentCluster();
  if (c?.caData) return Buffer.from(c.caData, 'base64').toString('utf8');
  if (c?.caFile) return readFileSync(c.caFile, 'utf8');
  return '';
}

async function applyAll(
  client: ApiClient,
  objects: readonly KubeObject[],
  print: (l: string) => void,
): Promise<void> {
  for (const obj of objects) {
    const rt = await client.resolve(obj.apiVersion as string, obj.kind as string);
    await client.apply(rt, obj, { fieldManager: FIELD_MANAGER, force: true });
    const ns = obj.metadata?.namespace;
    print(`  ${obj.kind}/${obj.metadata?.name}${ns === undefined ? '' : ` (${ns})`} applied`);
  }
}

export async function runInit(opts: Options, print: (line: string) => void): Promise<void> {
  if (!DNS_LABEL.test(opts.namespace))
    throw usageError(`invalid --namespace ${JSON.stringify(opts.namespace)}`);
  const hostKc = loadKubeconfig(opts.kubeconfig, opts.context, 'host cluster');
  const hostServer = hostKc.getCurrentCluster()?.server ?? '';
  let hubKubeconfig: string;
  let hubKc: KubeConfig;
  if (opts.hubKubeconfig === undefined) {
    hubKubeconfig = inClusterKubeconfig();
    hubKc = hostKc;
  } else {
    try {
      hubKubeconfig = minifiedKubeconfig(opts.hubKubeconfig).yaml;
    } catch (err) {
      throw err instanceof JoinError
        ? usageError(err.message.replace('member kubeconfig', 'hub kubeconfig'))
        : err;
    }
    hubKc = loadKubeconfig(opts.hubKubeconfig, undefined, 'hub');
  }
  const hubServer = hubKc.getCurrentCluster()?.server ?? '';
  const manifests = hubManifests(opts);
  const crds = crdManifests();
  if (opts.dryRun) {
    // What would be applied, for review or `kubectl apply --server-side -f -` (Secrets excluded).
    process.stdout.write([...crds, ...manifests].map((o) => stringify(o)).join('---\n'));
    return;
  }
  const host = await ApiClient.fromKubeConfig(hostKc, { userAgent: 'meridian-init' });
  const hub =
    opts.hubKubeconfig === undefined
      ? host
      : await ApiClient.fromKubeConfig(hubKc, { userAgent: 'meridian-init' });
  try {
    print(`Installing Meridian's CRDs on the hub ${hubServer}`);
    await applyAll(hub, crds, print).catch((err: unknown) => {
      throw clusterError(err, 'hub', hubServer);
    });
    print(`Installing the hub components into ${hostServer}, namespace ${opts.namespace}`);
    try {
      const [namespace, ...rest] = manifests;
      await applyAll(host, [namespace as KubeObject], print);
      const ns = opts.namespace;
      const secrets: KubeObject[] = [];
      if (!(await secretExists(host, ns, 'meridian-hub-kubeconfig')))
        secrets.push(secret(ns, 'meridian-hub-kubeconfig', { kubeconfig: hubKubeconfig }));
      if (!(await secretExists(host, ns, 'meridian-gateway-tls')))
        secrets.push(secret(ns, 'meridian-gateway-tls', await gatewayTls(ns, opts.gatewayHost, caOf(hubKc))));
      await applyAll(host, [...secrets, ...rest], print);
    } catch (err) {
      throw clusterError(err, 'host cluster', hostServer);
    }
  } finally {
    await host.close();
    if (hub !== host) await hub.close();
  }
  print('');
  print('Meridian is installed. Watch it start:');
  print(
    `  kubectl -n ${opts.namespace} rollout status deployment/meridian-controllers deployment/meridian-gateway`,
  );
  print('Agents trust the gateway through its CA:');
  print(
    `  kubectl -n ${opts.namespace} get secret meridian-gateway-tls -o jsonpath='{.data.serving-ca\\.crt}' | base64 -d`,
  );
}

export function registerInit(program: Command): void {
  program
    .command('init')
    .description(
      'install the Meridian hub (CRDs, controllers, gateway) into a host cluster with server-side apply',
    )
    .option('--kubeconfig <file>', 'the host cluster (default: $KUBECONFIG, then ~/.kube/config)')
    .option('--context <name>', 'context of --kubeconfig (default: its current context)')
    .option(
      '--hub-kubeconfig <file>',
      'a dedicated hub API server for the controllers (default: the host cluster itself)',
    )
    .option('-n, --namespace <ns>', 'namespace of the hub components', DEFAULT_NAMESPACE)
    .option('--image-registry <registry>', "registry of the meridian-* images (default: the manifests')")
    .option('--image-tag <tag>', "tag of the meridian-* images (default: the manifests')")
    .option(
      '--gateway-host <name>',
      'a DNS name or IP agents use to reach the gateway, added to its certificate (repeatable)',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option('--dry-run', 'print the manifests instead of applying them (Secrets are not shown)', false)
    .action(
      reportErrors(async (opts: Options) => {
        await runInit(opts, (line) => process.stdout.write(`${line}\n`));
      }),
    );
}
