/**
 * Karmada as a `PeerControlPlane` (bench/propagation/peer.ts), on the same local fleet as
 * Meridian: its own API server (a plain kube-apiserver from the environment's binaries, with
 * its state under a fresh prefix of the environment's etcd, as every API server of the fleet
 * has), a kube-controller-manager running the same housekeeping controllers as Meridian's hub,
 * and Karmada's components built from the Go module proxy by `./build.sh`:
 *
 * - karmada-aggregated-apiserver: serves `cluster.karmada.io` (Karmada has no Cluster CRD;
 *   the kube-apiserver proxies the group to it through an APIService);
 * - karmada-webhook: the mutating/validating webhooks and the ResourceBinding conversion
 *   webhook, registered by URL as Karmada's own install registers them;
 * - karmada-controller-manager and karmada-scheduler, with Karmada's default flags (every
 *   default controller, default feature gates and client QPS) except bind addresses and
 *   leader election (one replica each).
 *
 * Karmada's CRDs and webhook configuration are read at run time from the Karmada module in
 * the Go module cache; nothing of Karmada's is copied into this repo.
 *
 * The members join in Push mode as `karmadactl join` joins them: a ServiceAccount bound to
 * cluster-admin in each member, its token and the member's CA in a Secret in
 * `karmada-cluster` on Karmada's API server, and a Cluster object naming that Secret (our
 * member kubeconfigs use client certificates, which a Karmada Cluster cannot carry).
 *
 * `pids()` are the four Karmada processes; Karmada's kube-apiserver and kube-controller-
 * manager are, like Meridian's hub, part of the environment and not counted
 * (`processes()` names every process, for a breakdown).
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments, stringify } from 'yaml';
import { createClusterPki } from '../../src/testenv/cluster-pki.ts';
import { hubControllers, startApiServer, startControllerManager } from '../../src/testenv/components.ts';
import type { Environment } from '../../src/testenv/environment.ts';
import { writeKubeconfig } from '../../src/testenv/kubeconfig.ts';
import { kubectl } from '../../src/testenv/kubectl.ts';
import { issueCertificate } from '../../src/testenv/pki.ts';
import { freePorts } from '../../src/testenv/ports.ts';
import { waitUntilHealthy } from '../../src/testenv/probe.ts';
import { Supervisor, type ManagedProcess } from '../../src/testenv/supervisor.ts';
import type { KubeObject } from '../../src/kube/wire.ts';
import type { PeerControlPlane, PeerOptions, StageProbe } from '../propagation/peer.ts';

const run = promisify(execFile);

/** Newest Karmada release the Go module proxy serves here (v1.19.x answers 403); see README.md. */
export const KARMADA_VERSION = 'v1.18.2';
const MODULE = 'github.com/karmada-io/karmada';
const BENCH_LABEL = 'meridian.dev/bench';
const CLUSTER_NS = 'karmada-cluster';
const AGGREGATED_SERVICE = 'karmada-aggregated-apiserver';

/** Options beyond the peer contract's. */
export interface KarmadaOptions extends PeerOptions {
  /**
   * Client-side rate limit (QPS; burst twice that) of Karmada's components towards its API
   * server and the members: `--kube-api-qps/-burst` and `--cluster-api-qps/-burst`. Omitted:
   * Karmada's defaults (40 QPS, burst 60), which bound a 1,000-Deployment batch (each one
   * costs its controller-manager some 25 writes: Works, their status, binding and template
   * status) to roughly 1.5 Deployments/s. Meridian's controllers have no such client limit.
   */
  readonly clientQps?: number;
  /** Extra flags per component, appended last (e.g. `{ 'controller-manager': ['--v=2'] }`). */
  readonly extraArgs?: Partial<Record<KarmadaComponent, readonly string[]>>;
}

const COMPONENTS: readonly KarmadaComponent[] = [
  'controller-manager',
  'scheduler',
  'webhook',
  'aggregated-apiserver',
];

/**
 * Reads the runner's generic `args` (`--controller-args`, shared by every system) as Karmada
 * options: `--karmada-client-qps=N` sets `clientQps`, `<component>:<flag>` (e.g.
 * `controller-manager:--v=2`) adds a flag to one component; anything else is meant for
 * another system and is ignored.
 */
export function karmadaOptionsFromArgs(args: readonly string[]): {
  clientQps?: number;
  extraArgs: Partial<Record<KarmadaComponent, string[]>>;
  ignored: string[];
} {
  let clientQps: number | undefined;
  const extraArgs: Partial<Record<KarmadaComponent, string[]>> = {};
  const ignored: string[] = [];
  for (const a of args) {
    const qps = /^--karmada-client-qps=(\d+(?:\.\d+)?)$/.exec(a);
    const colon = a.indexOf(':');
    const component = COMPONENTS.find((c) => colon > 0 && a.slice(0, colon) === c);
    if (qps) clientQps = Number(qps[1]);
    else if (component) (extraArgs[component] ??= []).push(a.slice(colon + 1));
    else ignored.push(a);
  }
  return { ...(clientQps !== undefined && { clientQps }), extraArgs, ignored };
}

export type KarmadaComponent = 'controller-manager' | 'scheduler' | 'webhook' | 'aggregated-apiserver';

/** The peer interface, plus what a report may want to show about this Karmada. */
export interface KarmadaControlPlane extends PeerControlPlane {
  readonly version: string;
  readonly binDir: string;
  /** The client QPS the components run with, or undefined for Karmada's defaults. */
  readonly clientQps: number | undefined;
  /**
   * Karmada's own kube-apiserver (the counterpart of Meridian's `hub/kube-apiserver`, which
   * sits idle while Karmada runs), for the report's API-server memory column.
   */
  apiServerPids(): number[];
  /** Every process this Karmada started, by name (`karmada/karmada-scheduler`, `karmada/kube-apiserver`, …). */
  processes(): { readonly name: string; readonly pid: number }[];
}

/** Builds (or finds cached) Karmada's binaries with ./build.sh; resolves with their directory. */
export async function ensureKarmadaBinaries(log: (m: string) => void = () => {}): Promise<string> {
  const script = fileURLToPath(new URL('./build.sh', import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script], {
      env: { ...process.env, KARMADA_VERSION },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      err += c;
      for (const line of c.split('\n')) if (line.startsWith('[karmada-build]')) log(line);
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      const dir = out.trim().split('\n').at(-1) ?? '';
      if (code === 0 && dir !== '') resolve(dir);
      else
        reject(
          new Error(
            `Karmada ${KARMADA_VERSION} could not be built from the Go module proxy ` +
              `(bench/karmada/build.sh exited ${code}); see bench/karmada/README.md. Last output:\n${err.slice(-3000)}`,
          ),
        );
    });
  });
}

/** The Karmada module's source directory in the Go module cache (downloaded if missing). */
async function karmadaSource(): Promise<string> {
  const { stdout } = await run('go', ['mod', 'download', '-json', `${MODULE}@${KARMADA_VERSION}`], {
    env: { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '' },
    maxBuffer: 1 << 20,
  });
  const dir = (JSON.parse(stdout) as { Dir?: string }).Dir;
  if (!dir) throw new Error(`go mod download ${MODULE}@${KARMADA_VERSION} printed no Dir: ${stdout}`);
  return dir;
}

/** The environment's etcd client URL, from its command line (the environment does not export it). */
function etcdUrlOf(env: Environment): string {
  const given = (env as Environment & { etcdUrl?: string }).etcdUrl;
  if (given) return given;
  const etcd = env.processes().find((p) => p.name === 'etcd');
  if (!etcd) throw new Error('the environment has no etcd process');
  const args = readFileSync(`/proc/${etcd.pid}/cmdline`, 'utf8').split('\0');
  const url = args
    .find((a) => a.startsWith('--listen-client-urls='))
    ?.split('=')[1]
    ?.split(',')[0];
  if (!url) throw new Error(`etcd (pid ${etcd.pid}) has no --listen-client-urls`);
  return url;
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.yaml'))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startKarmada(
  env: Environment,
  opts: KarmadaOptions = {},
): Promise<KarmadaControlPlane> {
  const log = opts.log ?? (() => {});
  const fromArgs = karmadaOptionsFromArgs(opts.args ?? []);
  if (fromArgs.ignored.length > 0)
    log(`karmada: ignoring args not meant for Karmada: ${fromArgs.ignored.join(' ')}`);
  const clientQps = opts.clientQps ?? fromArgs.clientQps;
  const extraArgs = (c: KarmadaComponent): readonly string[] => [
    ...(fromArgs.extraArgs[c] ?? []),
    ...(opts.extraArgs?.[c] ?? []),
  ];
  const t0 = performance.now();
  const since = () => `${Math.round(performance.now() - t0)} ms`;
  const [binDir, src] = await Promise.all([ensureKarmadaBinaries(log), karmadaSource()]);
  log(`karmada: ${KARMADA_VERSION} binaries at ${binDir} (${since()})`);

  const dir = join(env.dir, `karmada-${Date.now().toString(36)}`);
  const logDir = opts.outDir ? join(opts.outDir, 'karmada') : join(dir, 'logs');
  await mkdir(dir, { recursive: true });
  await mkdir(logDir, { recursive: true });
  const bin = env.binDir;
  const sup = new Supervisor();
  const memberNames = env.members.map((m) => m.name);

  let stopped = false;
  const stopProcesses = async (): Promise<void> => {
    await sup.stopAll();
    await sup.release();
  };

  try {
    const [
      apiPort,
      kcmPort,
      aggPort,
      whPort,
      whMetrics,
      whHealth,
      cmMetrics,
      cmHealth,
      schMetrics,
      schHealth,
    ] = (await freePorts(10)) as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const pkiDir = join(dir, 'pki');
    const pki = await createClusterPki(pkiDir, 'karmada');
    const [aggCert] = await Promise.all([
      issueCertificate(pki.ca, pkiDir, 'aggregated-apiserver', {
        commonName: AGGREGATED_SERVICE,
        // The aggregator verifies the name <service>.<namespace>.svc.
        dnsNames: [`${AGGREGATED_SERVICE}.karmada-system.svc`, 'localhost'],
        ipAddresses: ['127.0.0.1'],
        usage: 'server',
      }),
      // karmada-webhook reads tls.crt/tls.key from its --cert-dir.
      issueCertificate(pki.ca, join(dir, 'webhook-certs'), 'tls', {
        commonName: 'karmada-webhook',
        dnsNames: ['karmada-webhook.karmada-system.svc', 'localhost'],
        ipAddresses: ['127.0.0.1'],
        usage: 'server',
      }),
    ]);
    const caB64 = b64(await readFile(pki.ca.certPath));
    const server = `https://127.0.0.1:${apiPort}`;
    const kubeconfig = join(dir, 'admin.kubeconfig');
    const kcmKubeconfig = join(dir, 'controller-manager.kubeconfig');
    await Promise.all([
      writeKubeconfig(kubeconfig, {
        cluster: 'karmada',
        server,
        caPath: pki.ca.certPath,
        user: 'karmada-admin',
        credentials: pki.admin,
      }),
      writeKubeconfig(kcmKubeconfig, {
        cluster: 'karmada',
        server,
        caPath: pki.ca.certPath,
        user: 'kcm',
        credentials: pki.controllerManager,
      }),
    ]);
    const k = (args: readonly string[], input?: string, timeoutMs?: number) =>
      kubectl(bin, kubeconfig, args, {
        ...(input !== undefined && { input }),
        ...(timeoutMs && { timeoutMs }),
      });

    // 1. karmada-apiserver: a plain kube-apiserver (aggregation-layer flags are in apiServerArgs).
    const etcdUrl = etcdUrlOf(env);
    const etcdPrefix = `/clusters/${dir.split('/').at(-1)}`;
    const apiServer = await startApiServer(sup, bin, logDir, {
      name: 'karmada',
      pki,
      port: apiPort,
      etcdUrl,
      etcdPrefix,
    });
    log(`karmada: kube-apiserver up at ${server} (${since()})`);

    // 2. Housekeeping controllers (as Meridian's hub has), CRDs, namespaces, the APIService.
    const crds = (
      await Promise.all(
        (await filesUnder(join(src, 'charts/karmada/_crds/bases'))).map(async (f) =>
          parseAllDocuments(await readFile(f, 'utf8')).map((d) => d.toJS() as Record<string, unknown>),
        ),
      )
    )
      .flat()
      .filter((d) => d?.kind === 'CustomResourceDefinition');
    for (const crd of crds) {
      const name = (crd.metadata as { name: string }).name;
      // Karmada's install patches these two to convert v1alpha1 ⇄ v1alpha2 through its webhook.
      if (name === 'resourcebindings.work.karmada.io' || name === 'clusterresourcebindings.work.karmada.io') {
        (crd.spec as Record<string, unknown>).conversion = {
          strategy: 'Webhook',
          webhook: {
            clientConfig: { url: `https://127.0.0.1:${whPort}/convert`, caBundle: caB64 },
            conversionReviewVersions: ['v1'],
          },
        };
      }
    }
    const setup: KubeObject[] = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'karmada-system' } },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: CLUSTER_NS } },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: AGGREGATED_SERVICE, namespace: 'karmada-system' },
        spec: { type: 'ExternalName', externalName: '127.0.0.1' },
      } as KubeObject,
      {
        apiVersion: 'apiregistration.k8s.io/v1',
        kind: 'APIService',
        metadata: { name: 'v1alpha1.cluster.karmada.io' },
        spec: {
          caBundle: caB64,
          group: 'cluster.karmada.io',
          groupPriorityMinimum: 2000,
          service: { name: AGGREGATED_SERVICE, namespace: 'karmada-system', port: aggPort },
          version: 'v1alpha1',
          versionPriority: 10,
        },
      } as KubeObject,
    ];
    await Promise.all([
      startControllerManager(sup, bin, logDir, {
        name: 'karmada',
        pki,
        kubeconfig: kcmKubeconfig,
        port: kcmPort,
        controllers: hubControllers,
      }),
      (async () => {
        await k(
          ['apply', '--server-side', '--force-conflicts', '-f', '-'],
          crds.map((c) => stringify(c)).join('---\n'),
        );
        await k(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=120s']);
      })(),
      k(['apply', '-f', '-'], setup.map((o) => stringify(o)).join('---\n')),
    ]);
    log(`karmada: ${crds.length} CRDs established (${since()})`);

    // 3. Karmada's components.
    const karmadaBin = (c: string) => join(binDir, `karmada-${c}`);
    const qps = clientQps;
    const kubeQps = qps === undefined ? [] : [`--kube-api-qps=${qps}`, `--kube-api-burst=${2 * qps}`];
    const clusterQps =
      qps === undefined ? [] : [`--cluster-api-qps=${qps}`, `--cluster-api-burst=${2 * qps}`];
    const startComponent = (c: KarmadaComponent, args: readonly string[]): ManagedProcess =>
      sup.start(`karmada/karmada-${c}`, karmadaBin(c), {
        args: [...args, ...extraArgs(c)],
        logPath: join(logDir, `karmada-${c}.log`),
        cwd: dir,
      });
    const aggregated = startComponent('aggregated-apiserver', [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      `--etcd-servers=${etcdUrl}`,
      `--etcd-prefix=${etcdPrefix}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${aggPort}`,
      `--tls-cert-file=${aggCert.certPath}`,
      `--tls-private-key-file=${aggCert.keyPath}`,
      ...kubeQps,
    ]);
    const webhook = startComponent('webhook', [
      `--kubeconfig=${kubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${whPort}`,
      `--cert-dir=${join(dir, 'webhook-certs')}`,
      `--metrics-bind-address=127.0.0.1:${whMetrics}`,
      `--health-probe-bind-address=127.0.0.1:${whHealth}`,
      ...kubeQps,
    ]);
    const controllerManager = startComponent('controller-manager', [
      `--kubeconfig=${kubeconfig}`,
      '--leader-elect=false',
      `--metrics-bind-address=127.0.0.1:${cmMetrics}`,
      `--health-probe-bind-address=127.0.0.1:${cmHealth}`,
      ...kubeQps,
      ...clusterQps,
    ]);
    const scheduler = startComponent('scheduler', [
      `--kubeconfig=${kubeconfig}`,
      '--leader-elect=false',
      `--metrics-bind-address=127.0.0.1:${schMetrics}`,
      `--health-probe-bind-address=127.0.0.1:${schHealth}`,
      ...kubeQps,
    ]);
    await Promise.all([
      waitUntilHealthy({ url: `https://127.0.0.1:${aggPort}/readyz` }, aggregated),
      // karmada-webhook answers readiness on its webhook port (its probe port has no checks).
      waitUntilHealthy({ url: `https://127.0.0.1:${whPort}/readyz/` }, webhook),
      waitUntilHealthy({ url: `http://127.0.0.1:${cmHealth}/healthz` }, controllerManager),
      waitUntilHealthy({ url: `http://127.0.0.1:${schHealth}/healthz` }, scheduler),
    ]);
    // Webhooks (failurePolicy Fail) only once the webhook serves, as Karmada's install orders it.
    const webhookConfig = (await readFile(join(src, 'artifacts/deploy/webhook-configuration.yaml'), 'utf8'))
      .replaceAll('https://karmada-webhook.karmada-system.svc:443', `https://127.0.0.1:${whPort}`)
      .replaceAll('{{caBundle}}', caB64);
    if (webhookConfig.includes('{{'))
      throw new Error('webhook-configuration.yaml has placeholders not filled in');
    await Promise.all([
      k(['apply', '-f', '-'], webhookConfig),
      k(['wait', '--for=condition=Available', 'apiservice/v1alpha1.cluster.karmada.io', '--timeout=120s']),
    ]);
    log(`karmada: components up, webhooks registered, cluster.karmada.io available (${since()})`);

    // 4. Join the members in Push mode.
    await Promise.all(
      env.members.map(async (m) => {
        const mk = (args: readonly string[], input?: string) =>
          kubectl(bin, m.kubeconfig, args, input === undefined ? {} : { input });
        const sa = `karmada-${m.name}`;
        const memberObjects = [
          { apiVersion: 'v1', kind: 'Namespace', metadata: { name: CLUSTER_NS } },
          { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: CLUSTER_NS } },
          {
            apiVersion: 'rbac.authorization.k8s.io/v1',
            kind: 'ClusterRoleBinding',
            metadata: { name: sa },
            roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
            subjects: [{ kind: 'ServiceAccount', name: sa, namespace: CLUSTER_NS }],
          },
          {
            apiVersion: 'v1',
            kind: 'Secret',
            type: 'kubernetes.io/service-account-token',
            metadata: {
              name: sa,
              namespace: CLUSTER_NS,
              annotations: { 'kubernetes.io/service-account.name': sa },
            },
          },
        ];
        await mk(['apply', '-f', '-'], memberObjects.map((o) => stringify(o)).join('---\n'));
        let token = '';
        for (let i = 0; i < 600 && token === ''; i++) {
          token = (
            await mk(['get', 'secret', '-n', CLUSTER_NS, sa, '-o', 'jsonpath={.data.token}'])
          ).stdout.trim();
          if (token === '') await sleep(100);
        }
        if (token === '')
          throw new Error(`member ${m.name}: no token in Secret ${CLUSTER_NS}/${sa} after 60 s`);
        const id = (
          await mk(['get', 'namespace', 'kube-system', '-o', 'jsonpath={.metadata.uid}'])
        ).stdout.trim();
        const zone = m.labels['topology.kubernetes.io/zone'];
        const cluster = {
          apiVersion: 'cluster.karmada.io/v1alpha1',
          kind: 'Cluster',
          metadata: { name: m.name, labels: { [BENCH_LABEL]: 'karmada' } },
          spec: {
            id,
            syncMode: 'Push',
            apiEndpoint: m.server,
            secretRef: { namespace: CLUSTER_NS, name: m.name },
            ...(m.labels['meridian.dev/provider'] && { provider: m.labels['meridian.dev/provider'] }),
            ...(m.labels['topology.kubernetes.io/region'] && {
              region: m.labels['topology.kubernetes.io/region'],
            }),
            ...(zone && { zones: [zone] }),
          },
        };
        const secret = {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: m.name, namespace: CLUSTER_NS },
          data: { token, caBundle: b64(await readFile(m.caPath)) },
        };
        await k(['apply', '-f', '-'], [secret, cluster].map((o) => stringify(o)).join('---\n'));
      }),
    );
    await k(['wait', '--for=condition=Ready', 'clusters.cluster.karmada.io', '--all', '--timeout=180s']);
    log(`karmada: ${memberNames.join(', ')} joined and Ready (${since()})`);

    const karmadaProcesses = [aggregated, webhook, controllerManager, scheduler];
    return {
      name: 'karmada',
      version: KARMADA_VERSION,
      binDir,
      clientQps: qps,
      kubeconfig,
      pids: () => karmadaProcesses.filter((p) => p.running()).map((p) => p.pid),
      notes: () => [
        `Karmada ${KARMADA_VERSION}; client rate limit ${
          qps === undefined ? "Karmada's default (40 QPS, burst 60)" : `${qps} QPS, burst ${2 * qps}`
        }; controllers = karmada-controller-manager, -scheduler, -webhook, -aggregated-apiserver`,
        ...karmadaProcesses
          .filter((p) => !p.running() && !stopped)
          .map((p) => `${p.name} exited during the run`),
      ],
      apiServerPids: () => (apiServer.running() ? [apiServer.pid] : []),
      processes: () => sup.processes().map((p) => ({ name: p.name, pid: p.pid })),
      async applyPolicy(namespace, labelSelector) {
        const policy = {
          apiVersion: 'policy.karmada.io/v1alpha1',
          kind: 'PropagationPolicy',
          metadata: { name: 'bench', namespace },
          spec: {
            resourceSelectors: [
              { apiVersion: 'apps/v1', kind: 'Deployment', labelSelector: { matchLabels: labelSelector } },
            ],
            placement: {
              clusterAffinity: { clusterNames: memberNames },
              replicaScheduling: {
                replicaSchedulingType: 'Divided',
                replicaDivisionPreference: 'Weighted',
                weightPreference: {
                  staticWeightList: memberNames.map((n) => ({
                    targetCluster: { clusterNames: [n] },
                    weight: 1,
                  })),
                },
              },
            },
          },
        };
        await k(['apply', '-f', '-'], stringify(policy));
      },
      stages(namespace): StageProbe[] {
        // ResourceBinding name: `<template name>-<kind lowercased>`; a Work carries its binding's
        // namespace and name as annotations.
        const fromBinding = (name: string | undefined): string | undefined =>
          name?.endsWith('-deployment') ? name.slice(0, -'-deployment'.length) : undefined;
        const bindings = {
          group: 'work.karmada.io',
          version: 'v1alpha2',
          resource: 'resourcebindings',
          scope: 'Namespaced',
          kind: 'ResourceBinding',
        } as const;
        return [
          {
            name: 'binding',
            resource: bindings,
            namespace,
            deploymentOf: (o) => fromBinding(o.metadata?.name),
          },
          {
            name: 'scheduled',
            resource: bindings,
            namespace,
            deploymentOf: (o) => fromBinding(o.metadata?.name),
            done: (o) =>
              ((o as KubeObject & { spec?: { clusters?: unknown[] } }).spec?.clusters?.length ?? 0) >=
              memberNames.length,
          },
          {
            name: 'works',
            resource: {
              group: 'work.karmada.io',
              version: 'v1alpha1',
              resource: 'works',
              scope: 'Namespaced',
              kind: 'Work',
            },
            deploymentOf: (o) => {
              const a = o.metadata?.annotations;
              return a?.['resourcebinding.karmada.io/namespace'] === namespace
                ? fromBinding(a['resourcebinding.karmada.io/name'])
                : undefined;
            },
            expected: memberNames.length,
          },
        ];
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        try {
          // Unjoin while the controllers run, so Karmada's finalizers clean up its execution spaces.
          await k(
            ['delete', 'clusters.cluster.karmada.io', '--all', '--wait=true', '--timeout=300s'],
            undefined,
            310_000,
          );
        } catch (err) {
          log(`karmada: Cluster removal incomplete: ${String(err)}`);
        }
        await stopProcesses();
        await Promise.all(
          env.members.map(async (m) => {
            const mk = (args: readonly string[]) => kubectl(bin, m.kubeconfig, args);
            await mk(['delete', 'clusterrolebinding', `karmada-${m.name}`, '--ignore-not-found']).catch(
              () => {},
            );
            await mk(['delete', 'namespace', CLUSTER_NS, '--ignore-not-found', '--wait=false']).catch(
              () => {},
            );
          }),
        );
        log('karmada: stopped');
      },
    };
  } catch (err) {
    await stopProcesses();
    throw err;
  }
}
