import { spawn, type ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ClusterInfo } from '../../src/testenv/environment.ts';

const cli = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs the real `meridian` command (this repo's bin, or `o.entry`, e.g. the bundle the images
 * run, under `o.nodeFlags`) and resolves with its exit code and output.
 */
export function meridian(
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  o: { entry?: string; cwd?: string; nodeFlags?: readonly string[] } = {},
): Promise<CliResult> {
  const opts = { env, timeout: 120_000, ...(o.cwd === undefined ? {} : { cwd: o.cwd }) };
  const argv = [...(o.nodeFlags ?? []), o.entry ?? cli, ...args];
  return new Promise((resolve) => {
    execFile(process.execPath, argv, opts, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Joins each member to the hub in push mode under its own name, with extra labels. */
export async function joinAll(
  hub: ClusterInfo,
  members: readonly ClusterInfo[],
  labels: string,
): Promise<void> {
  for (const m of members) {
    const r = await meridian([
      'join',
      m.name,
      '--kubeconfig',
      m.kubeconfig,
      '--hub-kubeconfig',
      hub.kubeconfig,
      '--labels',
      labels,
    ]);
    if (r.code !== 0) throw new Error(`meridian join ${m.name} failed (${r.code}): ${r.stderr}`);
  }
}

/** A running `meridian controllers` process. */
export interface ControllersProcess {
  readonly child: ChildProcess;
  readonly log: () => string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts the real `meridian controllers` against the hub (logs kept in memory, bounded). */
export function startControllers(hub: ClusterInfo, extraArgs: readonly string[] = []): ControllersProcess {
  const child = spawn(process.execPath, [cli, 'controllers', '--kubeconfig', hub.kubeconfig, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const keep = (c: Buffer) => {
    log = (log + c.toString('utf8')).slice(-200_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    log: () => log,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
