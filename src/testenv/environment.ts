import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ensureAssets, type Assets } from './binaries.ts';
import { createClusterPki, type ClusterPki } from './cluster-pki.ts';
import {
  hubControllers,
  startApiServer,
  startControllerManager,
  startEtcd,
  startKwok,
  startScheduler,
} from './components.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import { kubectl, type KubectlResult } from './kubectl.ts';
import { stageFiles, writeKwokConfig } from './kwok-config.ts';
import { freePorts } from './ports.ts';
import { Supervisor, type ManagedProcess } from './supervisor.ts';
import { defaultMembers, nodeManifests, type MemberSpec } from './topology.ts';

/** How to reach one cluster of the environment; plain data, safe to hand to other processes. */
export interface ClusterInfo {
  readonly name: string;
  readonly role: 'hub' | 'member';
  readonly server: string;
  /** An admin (system:masters) kubeconfig with embedded credentials. */
  readonly kubeconfig: string;
  readonly caPath: string;
  /** Region, zone and provider labels (members only). */
  readonly labels: Readonly<Record<string, string>>;
  readonly dir: string;
  /** Members: the CRI-format file kwok serves as every pod's log; append to it to stream `logs -f`. */
  readonly podLogFile?: string;
}

/** The initial log of every pod in a member, in the CRI log format kwok reads. */
export function podLogLines(member: string): string {
  return (
    `2026-01-01T00:00:00.000000000Z stdout F meridian: log of a pod in member ${member}\n` +
    '2026-01-01T00:00:01.000000000Z stderr F line 2\n'
  );
}

export interface EnvironmentInfo {
  readonly dir: string;
  readonly binDir: string;
  readonly hub: ClusterInfo;
  readonly members: readonly ClusterInfo[];
  /** Milliseconds per startup phase, and `total`. */
  readonly timings: Readonly<Record<string, number>>;
}

export interface Environment extends EnvironmentInfo {
  cluster(name: string): ClusterInfo;
  kubectl(
    cluster: string,
    args: readonly string[],
    opts?: { input?: string; timeoutMs?: number },
  ): Promise<KubectlResult>;
  /** Every running process the environment started (for resource measurements). */
  processes(): ManagedProcess[];
  info(): EnvironmentInfo;
  /** Ends every process and, unless `dir` was given, removes the environment's files. Idempotent. */
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly members?: readonly MemberSpec[];
  /** Where state lives. Given ⇒ kept after stop(); omitted ⇒ a temp dir removed on stop. */
  readonly dir?: string;
  readonly assets?: Assets;
  readonly log?: (message: string) => void;
  /** etcd fsync; off by default for throwaway environments (faster), on when `dir` is given. */
  readonly fsync?: boolean;
  /**
   * Default true. False starts only etcd and the members (for `meridian dev clusters`, whose
   * members join a hub started elsewhere); `hub` is then `undefined`.
   */
  readonly hub?: boolean;
}

/** A kept environment's ports, reused on restart so kubeconfigs and joined Clusters stay valid. */
const PORTS_FILE = 'ports.json';

/** `count` ports: those recorded in `dir` when it holds as many, else free ones (then recorded). */
async function environmentPorts(dir: string, count: number, keep: boolean): Promise<number[]> {
  const file = join(dir, PORTS_FILE);
  if (keep) {
    const saved = await readFile(file, 'utf8').then(
      (t) => JSON.parse(t) as unknown,
      () => undefined,
    );
    if (Array.isArray(saved) && saved.length === count && saved.every((p) => Number.isInteger(p)))
      return saved as number[];
  }
  const ports = await freePorts(count);
  if (keep) await writeFile(file, JSON.stringify(ports));
  return ports;
}

export const HUB_NAME = 'hub';

/** An environment started with `hub: false`: etcd and members only. */
export interface MembersEnvironment extends Omit<Environment, 'hub' | 'info'> {
  readonly hub: undefined;
  info(): Omit<EnvironmentInfo, 'hub'>;
}

/**
 * Starts a real local fleet on 127.0.0.1: one hub (etcd + kube-apiserver + a controller
 * manager running only API housekeeping controllers) and N members (kube-apiserver,
 * kube-controller-manager, kube-scheduler and kwok with labelled fake nodes). One etcd
 * serves every API server under distinct prefixes. Clusters start in parallel.
 *
 * Resolves when every API server is ready, every member's nodes are Ready and its default
 * ServiceAccount exists (so Deployments schedule at once). On any startup failure everything
 * started so far is stopped before the error is thrown.
 */
export async function startEnvironment(opts: StartOptions & { hub: false }): Promise<MembersEnvironment>;
export async function startEnvironment(opts?: StartOptions): Promise<Environment>;
export async function startEnvironment(opts: StartOptions = {}): Promise<Environment | MembersEnvironment> {
  const log = opts.log ?? (() => {});
  const t0 = performance.now();
  const timings: Record<string, number> = {};
  const mark = (phase: string, since: number) => (timings[phase] = Math.round(performance.now() - since));

  const assets = opts.assets ?? (await ensureAssets(log));
  mark('binaries', t0);
  const temporary = opts.dir === undefined;
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'meridian-env-')));
  await mkdir(dir, { recursive: true });
  const sup = new Supervisor();
  if (temporary) sup.removeOnExit(dir);
  const specs = opts.members ?? defaultMembers;
  const bin = assets.binDir;
  let stopped = false;

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await sup.stopAll();
    if (temporary) await rm(dir, { recursive: true, force: true });
    await sup.release();
  };

  try {
    const withHub = opts.hub !== false;
    const [etcdClient, etcdPeer, hubPort, hubKcmPort, ...memberPorts] = (await environmentPorts(
      dir,
      4 + 4 * specs.length,
      !temporary,
    )) as [number, number, number, number, ...number[]];
    const tPki = performance.now();
    const clusterNames = [...(withHub ? [HUB_NAME] : []), ...specs.map((s) => s.name)];
    const [etcdProc, pkis] = await Promise.all([
      (async () => {
        const etcdDir = join(dir, 'etcd');
        await mkdir(etcdDir, { recursive: true });
        const p = await startEtcd(sup, bin, etcdDir, {
          dataDir: join(etcdDir, 'data'),
          clientPort: etcdClient,
          peerPort: etcdPeer,
          unsafeNoFsync: !(opts.fsync ?? !temporary),
        });
        mark('etcd', tPki);
        return p;
      })(),
      Promise.all(clusterNames.map((n) => createClusterPki(join(dir, n, 'pki'), n))),
    ]);
    mark('pki', tPki);
    void etcdProc;
    const etcdUrl = `http://127.0.0.1:${etcdClient}`;

    const startCluster = async (name: string, pki: ClusterPki, port: number): Promise<ClusterInfo> => {
      const cdir = join(dir, name);
      const logDir = join(cdir, 'logs');
      await mkdir(logDir, { recursive: true });
      const server = `https://127.0.0.1:${port}`;
      const kubeconfigs = {
        admin: join(cdir, 'admin.kubeconfig'),
        kcm: join(cdir, 'controller-manager.kubeconfig'),
        scheduler: join(cdir, 'scheduler.kubeconfig'),
        kwok: join(cdir, 'kwok.kubeconfig'),
      };
      const caPath = pki.ca.certPath;
      await Promise.all([
        writeKubeconfig(kubeconfigs.admin, {
          cluster: name,
          server,
          caPath,
          user: 'meridian-admin',
          credentials: pki.admin,
        }),
        writeKubeconfig(kubeconfigs.kcm, {
          cluster: name,
          server,
          caPath,
          user: 'kcm',
          credentials: pki.controllerManager,
        }),
        writeKubeconfig(kubeconfigs.scheduler, {
          cluster: name,
          server,
          caPath,
          user: 'sched',
          credentials: pki.scheduler,
        }),
        writeKubeconfig(kubeconfigs.kwok, {
          cluster: name,
          server,
          caPath,
          user: 'kwok',
          credentials: pki.kwok,
        }),
      ]);
      const t = performance.now();
      await startApiServer(sup, bin, logDir, { name, pki, port, etcdUrl, etcdPrefix: `/clusters/${name}` });
      mark(`${name}/kube-apiserver`, t);
      return { name, role: 'member', server, kubeconfig: kubeconfigs.admin, caPath, labels: {}, dir: cdir };
    };

    const tClusters = performance.now();
    const hubPki = pkis[0] as ClusterPki;
    const hubStart = (async (): Promise<ClusterInfo | undefined> => {
      if (!withHub) return undefined;
      const c = await startCluster(HUB_NAME, hubPki, hubPort);
      const t = performance.now();
      await startControllerManager(sup, bin, join(c.dir, 'logs'), {
        name: HUB_NAME,
        pki: hubPki,
        kubeconfig: join(c.dir, 'controller-manager.kubeconfig'),
        port: hubKcmPort,
        controllers: hubControllers,
      });
      mark(`${HUB_NAME}/kube-controller-manager`, t);
      mark(HUB_NAME, tClusters);
      return { ...c, role: 'hub' };
    })();

    const memberStarts = specs.map(async (spec, i): Promise<ClusterInfo> => {
      const pki = pkis[i + (withHub ? 1 : 0)] as ClusterPki;
      const [apiPort, kcmPort, schedPort, kwokPort] = memberPorts.slice(4 * i, 4 * i + 4) as [
        number,
        number,
        number,
        number,
      ];
      const c = await startCluster(spec.name, pki, apiPort);
      const logDir = join(c.dir, 'logs');
      const kwokConfig = join(c.dir, 'kwok.yaml');
      const logFile = join(c.dir, 'pod.log');
      await writeFile(logFile, podLogLines(spec.name));
      await writeKwokConfig(kwokConfig, { member: spec.name, logFile, workDir: c.dir });
      const nodes = nodeManifests(spec);
      const t = performance.now();
      await Promise.all([
        kubectl(bin, c.kubeconfig, ['apply', '-f', '-'], {
          input: nodes.map((n) => stringify(n)).join('---\n'),
        }),
        startControllerManager(sup, bin, logDir, {
          name: spec.name,
          pki,
          kubeconfig: join(c.dir, 'controller-manager.kubeconfig'),
          port: kcmPort,
          controllers: ['*'],
        }),
        startScheduler(sup, bin, logDir, {
          name: spec.name,
          pki,
          kubeconfig: join(c.dir, 'scheduler.kubeconfig'),
          port: schedPort,
        }),
        (async () =>
          startKwok(sup, bin, logDir, {
            name: spec.name,
            pki,
            kubeconfig: join(c.dir, 'kwok.kubeconfig'),
            port: kwokPort,
            configFiles: [...(await stageFiles(assets.kwokStagesDir)), kwokConfig],
          }))(),
      ]);
      await kubectl(bin, c.kubeconfig, ['wait', '--for=condition=Ready', 'node', '--all', '--timeout=120s']);
      await kubectl(bin, c.kubeconfig, [
        'wait',
        '--for=create',
        'serviceaccount/default',
        '-n',
        'default',
        '--timeout=120s',
      ]);
      mark(`${spec.name}/components`, t);
      mark(spec.name, tClusters);
      return {
        ...c,
        podLogFile: logFile,
        labels: {
          'topology.kubernetes.io/region': spec.region,
          'topology.kubernetes.io/zone': spec.zone,
          'meridian.dev/provider': spec.provider,
        },
      };
    });

    const [hub, ...members] = await Promise.all([hubStart, ...memberStarts]);
    mark('total', t0);
    log(
      `environment up in ${timings.total} ms (${withHub ? 'hub + ' : ''}${members.length} members) at ${dir}`,
    );

    const all = [...(hub ? [hub] : []), ...members];
    // `hub` is undefined only for `hub: false`, whose overload types it so.
    const info = (): EnvironmentInfo => ({ dir, binDir: bin, hub: hub as ClusterInfo, members, timings });
    const cluster = (name: string) => {
      const c = all.find((x) => x.name === name);
      if (!c)
        throw new Error(
          `no cluster named ${name} in the environment (have: ${all.map((x) => x.name).join(', ')})`,
        );
      return c;
    };
    return {
      ...info(),
      cluster,
      kubectl: (name, args, o) => kubectl(bin, cluster(name).kubeconfig, args, o),
      processes: () => sup.processes(),
      info,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
