/**
 * `meridian up`: a local hub — etcd, kube-apiserver, Meridian's controllers and gateway — whose
 * state lives in a data directory, so Ctrl-C and `meridian up` again resume it: the same PKI,
 * etcd data, ports and kubeconfig. Runs in the foreground (as `kubectl proxy` or a dev server
 * does); `meridian dev clusters up` adds simulated members from another terminal.
 *
 * Data directory layout (`--data-dir`, default `$XDG_DATA_HOME/meridian` or
 * `~/.local/share/meridian`):
 *
 * | path | |
 * | --- | --- |
 * | `up.lock` | pid of the running `meridian up`; a second one refuses to start |
 * | `up.json` | the running hub: kubeconfig, URLs and ports (ports are reused on restart) |
 * | `hub/admin.kubeconfig` | an admin kubeconfig of the hub |
 * | `etcd/`, `hub/`, `ports.json` | the hub's etcd data, PKI and ports (src/testenv) |
 * | `gateway/` | the gateway's serving certificate (hub CA) and agent token directory |
 * | `logs/` | JSON logs of the controllers and the gateway |
 * | `dev-clusters/` | `meridian dev clusters` state |
 */
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { DASHBOARD_PATH } from '../dashboard/server.ts';
import { ensureViewer, VIEWER } from '../dashboard/viewer.ts';
import { KubeConfig } from '@kubernetes/client-node';
import { ApiClient } from '../kube/api-client.ts';
import { startEnvironment } from '../testenv/environment.ts';
import { issueCertificate } from '../testenv/pki.ts';
import { freePorts } from '../testenv/ports.ts';
import { waitUntilHealthy } from '../testenv/probe.ts';
import { Supervisor } from '../testenv/supervisor.ts';
import { CliError, ExitCodes, reportErrors } from './exit-codes.ts';
import { createProgress } from './progress.ts';
import { RELAY_NODE_FLAGS } from './relay-gc.ts';

/** The `meridian` entry point, to run the controllers and the gateway as their own processes. */
export const MERIDIAN_MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

/** What a running `meridian up` writes to `up.json` for `meridian dev clusters` and scripts. */
export interface UpState {
  readonly pid: number;
  readonly dataDir: string;
  readonly kubeconfig: string;
  readonly hubServer: string;
  /** The pinned kubectl and friends. */
  readonly binDir: string;
  readonly caPath: string;
  readonly gatewayUrl: string;
  readonly controllersMetricsUrl: string;
  readonly gatewayMetricsUrl: string;
  /** Null until the dashboard is served (see `dashboardUrl`). */
  readonly dashboardUrl: string | null;
  readonly ports: {
    readonly gateway: number;
    readonly controllersMetrics: number;
    readonly gatewayMetrics: number;
  };
}

/** `$MERIDIAN_DATA_DIR`, else `$XDG_DATA_HOME/meridian`, else `~/.local/share/meridian`. */
export function defaultDataDir(): string {
  if (process.env.MERIDIAN_DATA_DIR) return resolve(process.env.MERIDIAN_DATA_DIR);
  const xdg = process.env.XDG_DATA_HOME;
  return join(xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.local', 'share'), 'meridian');
}

export const dataDirOption = [
  '--data-dir <dir>',
  'state directory (default: $MERIDIAN_DATA_DIR, $XDG_DATA_HOME/meridian or ~/.local/share/meridian)',
] as const;

const LOCK_FILE = 'up.lock';
const STATE_FILE = 'up.json';

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: alive, owned by someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes `<dir>/up.lock` (O_EXCL, holding our pid). A lock whose process is gone is stale and
 * taken over; a live one is refused with the pid and what to do.
 */
export function takeLock(dir: string, file = LOCK_FILE, what = 'meridian up'): () => void {
  const path = join(dir, file);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeFileSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        // Only remove our own lock.
        if (readPid(path) === process.pid) rmSync(path, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = readPid(path);
      if (pid !== undefined && pid !== process.pid && isAlive(pid)) {
        throw new CliError(
          ExitCodes.failure,
          `another \`${what}\` (pid ${pid}) is using ${dir}; stop it (Ctrl-C in its terminal, or kill ${pid}) ` +
            'or pass another --data-dir',
        );
      }
      rmSync(path, { force: true });
    }
  }
  throw new CliError(ExitCodes.failure, `cannot take the lock ${path}: another process keeps creating it`);
}

export function readPid(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The running `meridian up` of `dataDir`, or a failure saying to start one. `up.json` is
 * trusted only while the pid in `up.lock` is alive.
 */
export function runningHub(dataDir: string): UpState {
  const pid = readPid(join(dataDir, LOCK_FILE));
  const path = join(dataDir, STATE_FILE);
  if (pid === undefined || !isAlive(pid) || !existsSync(path)) {
    throw new CliError(
      ExitCodes.failure,
      `no local hub is running with data directory ${dataDir}; start one with \`meridian up --data-dir ${dataDir}\` ` +
        'in another terminal (and wait for "hub ready")',
    );
  }
  const state = JSON.parse(readFileSync(path, 'utf8')) as UpState;
  if (state.pid !== pid) {
    throw new CliError(
      ExitCodes.failure,
      `the local hub in ${dataDir} (pid ${pid}) is still starting; retry when it prints "hub ready"`,
    );
  }
  return state;
}

/** Where the gateway (`--dashboard`) serves the fleet dashboard; printed and kept in `up.json`. */
export function dashboardUrl(gatewayUrl: string): string | null {
  return `${gatewayUrl}${DASHBOARD_PATH}`;
}

async function previousPorts(dir: string): Promise<UpState['ports']> {
  try {
    const old = JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as Partial<UpState>;
    if (old.ports && Object.values(old.ports).every((p) => Number.isInteger(p))) return old.ports;
  } catch {
    // First start, or an unreadable file: fresh ports.
  }
  const [gateway, controllersMetrics, gatewayMetrics] = (await freePorts(3)) as [number, number, number];
  return { gateway, controllersMetrics, gatewayMetrics };
}

const say = (line = '') => process.stdout.write(`${line}\n`);

export async function runUp(opts: { dataDir?: string }): Promise<void> {
  const dir = resolve(opts.dataDir ?? defaultDataDir());
  await mkdir(dir, { recursive: true });
  const unlock = takeLock(dir);
  const statePath = join(dir, STATE_FILE);
  const step = createProgress(process.stdout);
  let stopEnv: (() => Promise<void>) | undefined;
  const sup = new Supervisor();
  try {
    const resumed = existsSync(join(dir, 'etcd', 'data'));
    say(`Meridian local hub, state in ${dir}${resumed ? ' (resuming)' : ''}`);
    const ports = await previousPorts(dir);
    const env = await step('etcd and the hub kube-apiserver running', () =>
      startEnvironment({ dir, members: [] }),
    ).catch((err: unknown) => {
      throw new CliError(
        ExitCodes.failure,
        `the hub did not start: ${err instanceof Error ? err.message : String(err)}\n` +
          `(a port it used before may be taken now: remove ${join(dir, 'ports.json')} and ${statePath} ` +
          'to start on new ones; objects and PKI are kept)',
      );
    });
    stopEnv = () => env.stop();
    const hub = env.hub;
    const logs = join(dir, 'logs');
    await mkdir(logs, { recursive: true });
    const controllersMetricsUrl = `http://127.0.0.1:${ports.controllersMetrics}/metrics`;
    const controllers = await step('Meridian controllers running', async () => {
      const proc = sup.start('meridian-controllers', process.execPath, {
        logPath: join(logs, 'controllers.log'),
        args: [
          MERIDIAN_MAIN,
          'controllers',
          '--kubeconfig',
          hub.kubeconfig,
          '--no-leader-elect',
          '--metrics-port',
          String(ports.controllersMetrics),
          // The hub CA signs pull-mode agents' certificates (`meridian join --mode Pull`).
          '--agent-signing-cert-file',
          hub.caPath,
          '--agent-signing-key-file',
          join(hub.dir, 'pki', 'ca.key'),
        ],
      });
      await waitUntilHealthy({ url: `http://127.0.0.1:${ports.controllersMetrics}/readyz` }, proc);
      return proc;
    });
    const gatewayUrl = `https://127.0.0.1:${ports.gateway}`;
    // The dashboard's UI is built from this checkout when stale; esbuild is a devDependency,
    // so an install without it serves a page that says how to build it instead.
    await step('dashboard UI ready', async () => {
      try {
        const { buildUi } = await import('../../ui/build.ts');
        await buildUi({ ifStale: true });
      } catch (err) {
        say(`  (dashboard UI not built: ${(err as Error).message})`);
      }
    });
    const gateway = await step('Meridian gateway running', async () => {
      const gwDir = join(dir, 'gateway');
      const tokenDir = join(gwDir, 'agent-tokens');
      await mkdir(tokenDir, { recursive: true });
      const ca = { certPath: hub.caPath, keyPath: join(hub.dir, 'pki', 'ca.key') };
      const cert = await issueCertificate(ca, gwDir, 'gateway', {
        commonName: 'meridian-gateway',
        dnsNames: ['localhost'],
        ipAddresses: ['127.0.0.1'],
        usage: 'server',
      });
      const proc = sup.start('meridian-gateway', process.execPath, {
        logPath: join(logs, 'gateway.log'),
        args: [
          ...RELAY_NODE_FLAGS,
          MERIDIAN_MAIN,
          'gateway',
          '--tls-cert-file',
          cert.certPath,
          '--tls-key-file',
          cert.keyPath,
          '--client-ca-file',
          hub.caPath,
          // Agents are admitted by their hub-issued certificates (revocation watched on the
          // hub); the token directory is the test-only pre-shared alternative.
          '--hub-kubeconfig',
          hub.kubeconfig,
          '--agent-token-dir',
          tokenDir,
          '--bind-address',
          '127.0.0.1',
          '--port',
          String(ports.gateway),
          '--metrics-port',
          String(ports.gatewayMetrics),
          '--dashboard',
        ],
      });
      await waitUntilHealthy({ url: `${gatewayUrl}/healthz`, caPath: hub.caPath }, proc);
      return proc;
    });
    // A read-only identity to sign in to the dashboard with (`kubectl create token`, printed below).
    const viewerClient = await ApiClient.fromKubeConfig(loadKubeConfig(hub.kubeconfig), {
      userAgent: 'meridian-up',
    });
    try {
      await ensureViewer(viewerClient);
    } finally {
      await viewerClient.close();
    }
    const state: UpState = {
      pid: process.pid,
      dataDir: dir,
      kubeconfig: hub.kubeconfig,
      hubServer: hub.server,
      binDir: env.binDir,
      caPath: hub.caPath,
      gatewayUrl,
      controllersMetricsUrl,
      gatewayMetricsUrl: `http://127.0.0.1:${ports.gatewayMetrics}/metrics`,
      dashboardUrl: dashboardUrl(gatewayUrl),
      ports,
    };
    await writeFile(statePath, `${JSON.stringify(state, null, 2)}\n`);
    say();
    say(`hub ready`);
    say(`  kubeconfig:  ${hub.kubeconfig}`);
    say(`  hub:         ${hub.server}`);
    say(`  gateway:     ${gatewayUrl}`);
    say(`  dashboard:   ${state.dashboardUrl ?? '(not served)'}`);
    say(
      `     sign in:  kubectl --kubeconfig ${hub.kubeconfig} create token -n ${VIEWER.namespace} ${VIEWER.name}`,
    );
    say(`  metrics:     ${controllersMetricsUrl} (controllers), ${state.gatewayMetricsUrl} (gateway)`);
    say(`  logs:        ${logs}/`);
    say();
    say('Next, in another terminal:');
    say(`  export KUBECONFIG=${hub.kubeconfig} PATH=${env.binDir}:$PATH`);
    say(`  meridian dev clusters up --count 3${opts.dataDir === undefined ? '' : ` --data-dir ${dir}`}`);
    say('  meridian clusters');
    say('Ctrl-C stops the hub; its state stays in the data directory and `meridian up` resumes it.');

    // Runs until interrupted, or until a component dies (then exits 2 with its log tail).
    const died = Promise.race([controllers, gateway].map((p) => p.exited.then((code) => ({ p, code }))));
    const signalled = new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    const outcome = await Promise.race([signalled.then(() => undefined), died]);
    if (outcome !== undefined) {
      throw new CliError(
        ExitCodes.failure,
        `${outcome.p.name} exited (${outcome.code}); stopping the hub. Log tail:\n${outcome.p.logTail(2000)}`,
      );
    }
    say('\nStopping (state kept)…');
  } finally {
    // up.json stays (its ports are reused); it is trusted only while up.lock's pid lives.
    await sup.stopAll();
    await stopEnv?.();
    await sup.release();
    unlock();
  }
}

export function registerUp(program: Command): void {
  program
    .command('up')
    .description(
      'run a local hub (etcd, kube-apiserver, Meridian controllers and gateway) in the foreground; state is kept in the data directory, so Ctrl-C and `up` again resume it',
    )
    .option(...dataDirOption)
    .action(
      reportErrors(async (opts: { dataDir?: string }) => {
        await runUp(opts);
      }),
    );
}

function loadKubeConfig(path: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}
