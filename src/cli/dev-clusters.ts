/**
 * `meridian dev clusters up|down`: simulated member clusters (the test environment's: a
 * kube-apiserver, controller manager, scheduler and kwok with fake nodes each) joined to the
 * hub of a running `meridian up` with the same data directory.
 *
 * `up` detaches: it starts a supervisor process (`meridian dev clusters run`, hidden) that
 * owns the members, waits until they are joined, prints them and exits, so a script can go on
 * with `meridian clusters`. The supervisor holds `dev-clusters/run.lock` (its pid) and runs
 * until `down` (or a signal) stops it; `down` unjoins the clusters from the hub (deletes their
 * Clusters, which removes what Meridian applied there) and then stops them. Simulated members
 * are throwaway: their state is removed on `down`.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, createWriteStream, existsSync, openSync, watch, type WriteStream } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { InvalidArgumentError, type Command } from 'commander';
import { startEnvironment } from '../testenv/environment.ts';
import { kubectl } from '../testenv/kubectl.ts';
import { membersFor } from '../testenv/topology.ts';
import { CliError, ExitCodes, reportErrors } from './exit-codes.ts';
import { runJoin } from './join.ts';
import {
  dataDirOption,
  defaultDataDir,
  isAlive,
  MERIDIAN_MAIN,
  readPid,
  runningHub,
  takeLock,
  type UpState,
} from './up.ts';

const DEV_DIR = 'dev-clusters';
const LOCK_FILE = 'run.lock';
const STATE_FILE = 'clusters.json';
const LOG_FILE = 'supervisor.log';
/** The supervisor reports progress and readiness to `up` on this inherited descriptor. */
const REPORT_FD = 3;
const MAX_COUNT = 20;

interface DevState {
  readonly pid: number;
  readonly clusters: readonly string[];
}

function parseCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > MAX_COUNT)
    throw new InvalidArgumentError(`expected a whole number from 1 to ${MAX_COUNT}`);
  return n;
}

const dirs = (dataDir: string | undefined) => {
  const data = resolve(dataDir ?? defaultDataDir());
  const dev = join(data, DEV_DIR);
  return { data, dev, env: join(dev, 'env'), lock: join(dev, LOCK_FILE), state: join(dev, STATE_FILE) };
};

const say = (line = '') => process.stdout.write(`${line}\n`);

/** The running supervisor's pid, if any. */
function supervisorPid(lock: string): number | undefined {
  const pid = readPid(lock);
  return pid !== undefined && isAlive(pid) ? pid : undefined;
}

async function runUpCommand(opts: { count: number; dataDir?: string }): Promise<void> {
  const d = dirs(opts.dataDir);
  runningHub(d.data);
  const running = supervisorPid(d.lock);
  if (running !== undefined) {
    const state = await readState(d.state);
    throw new CliError(
      ExitCodes.failure,
      `simulated clusters are already running (${state?.clusters.join(', ') ?? 'starting'}; pid ${running}); ` +
        `\`meridian dev clusters down${opts.dataDir === undefined ? '' : ` --data-dir ${d.data}`}\` first`,
    );
  }
  await mkdir(d.dev, { recursive: true });
  const logPath = join(d.dev, LOG_FILE);
  const log = openSync(logPath, 'a');
  const child = spawn(
    process.execPath,
    [MERIDIAN_MAIN, 'dev', 'clusters', 'run', '--count', String(opts.count), '--data-dir', d.data],
    { detached: true, stdio: ['ignore', log, log, 'pipe'], env: { ...process.env, MERIDIAN_REPORT_FD: '3' } },
  );
  closeSync(log);
  say(`Starting ${opts.count} simulated member cluster(s) (supervisor pid ${child.pid}, log ${logPath})`);
  const report = child.stdio[REPORT_FD] as NodeJS.ReadableStream;
  let ready: DevState | undefined;
  for await (const line of createInterface({ input: report })) {
    if (line.startsWith('ready ')) ready = JSON.parse(line.slice('ready '.length)) as DevState;
    else say(line);
  }
  // The supervisor closes the report descriptor when ready, or dies before.
  if (ready === undefined) {
    // Its error is logged after it has stopped what it started: wait for its exit first.
    if (child.exitCode === null && child.signalCode === null)
      await Promise.race([once(child, 'exit'), new Promise((r) => setTimeout(r, 60_000).unref())]);
    const tail = (await readFile(logPath, 'utf8').catch(() => '')).slice(-2000);
    throw new CliError(
      ExitCodes.failure,
      `the simulated clusters did not start; end of ${logPath}:\n${tail}`,
    );
  }
  child.unref();
  say(`joined: ${ready.clusters.join(', ')}`);
  say('See them with `meridian clusters`; stop them with `meridian dev clusters down`.');
}

async function readState(path: string): Promise<DevState | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as DevState;
  } catch {
    return undefined;
  }
}

/** The hidden supervisor: starts, joins, reports ready, then holds the members until signalled. */
async function runSupervisor(opts: { count: number; dataDir?: string }): Promise<void> {
  const d = dirs(opts.dataDir);
  await mkdir(d.dev, { recursive: true });
  const unlock = takeLock(d.dev, LOCK_FILE, 'meridian dev clusters up');
  const fd = Number(process.env.MERIDIAN_REPORT_FD ?? NaN);
  const report: WriteStream | undefined = Number.isInteger(fd) ? createWriteStream('', { fd }) : undefined;
  const tell = (line: string) => {
    report?.write(`${line}\n`);
    process.stdout.write(`${new Date().toISOString()} ${line}\n`);
  };
  let hub: UpState;
  let stop: (() => Promise<void>) | undefined;
  try {
    hub = runningHub(d.data);
    const specs = membersFor(opts.count);
    tell(`  … starting ${specs.map((s) => s.name).join(', ')} (kube-apiserver, scheduler, kwok nodes)`);
    const t0 = performance.now();
    const env = await startEnvironment({ dir: d.env, hub: false, members: specs });
    stop = () => env.stop();
    tell(`  ✓ clusters running (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    for (const m of env.members) {
      const t = performance.now();
      await runJoin({ name: m.name, kubeconfig: m.kubeconfig, hubKubeconfig: hub.kubeconfig }, (l) =>
        process.stdout.write(`${l}\n`),
      );
      tell(`  ✓ ${m.name} joined (${((performance.now() - t) / 1000).toFixed(1)} s)`);
    }
    const state: DevState = { pid: process.pid, clusters: env.members.map((m) => m.name) };
    await writeFile(d.state, `${JSON.stringify(state)}\n`);
    tell(`ready ${JSON.stringify(state)}`);
    report?.end();
    await new Promise<void>((done) => {
      process.once('SIGINT', done);
      process.once('SIGTERM', done);
    });
    process.stdout.write('stopping the simulated clusters\n');
  } finally {
    report?.end();
    await stop?.();
    await rm(d.env, { recursive: true, force: true });
    await rm(d.state, { force: true });
    unlock();
  }
}

/** Resolves when `path` no longer exists (fs events, bounded by `timeoutMs`); false on timeout. */
function whenGone(path: string, timeoutMs: number): Promise<boolean> {
  return new Promise((done) => {
    const dir = resolve(path, '..');
    const watcher = watch(dir, () => check());
    const timer = setTimeout(() => finish(false), timeoutMs);
    const finish = (gone: boolean) => {
      clearTimeout(timer);
      watcher.close();
      done(gone);
    };
    const check = () => {
      if (!existsSync(path)) finish(true);
    };
    check();
  });
}

async function runDownCommand(opts: { dataDir?: string }): Promise<void> {
  const d = dirs(opts.dataDir);
  const pid = supervisorPid(d.lock);
  const state = await readState(d.state);
  if (pid === undefined) {
    process.stderr.write(`no simulated clusters are running with data directory ${d.data}\n`);
    return;
  }
  let hub: UpState | undefined;
  try {
    hub = runningHub(d.data);
  } catch {
    hub = undefined;
  }
  const names = state?.clusters ?? [];
  if (names.length > 0 && hub !== undefined) {
    say(`Unjoining ${names.join(', ')} (deleting their Clusters on the hub)…`);
    const r = await kubectl(
      hub.binDir,
      hub.kubeconfig,
      ['delete', 'clusters.meridian.dev', ...names, '--ignore-not-found', '--wait=true', '--timeout=180s'],
      { timeoutMs: 200_000 },
    ).catch((err: unknown) => err as Error);
    if (r instanceof Error) {
      process.stderr.write(
        `warning: could not remove the Clusters from the hub (${r.message}); ` +
          `remove them with \`kubectl delete clusters.meridian.dev ${names.join(' ')}\`\n`,
      );
    }
  } else if (names.length > 0) {
    process.stderr.write(
      `warning: the local hub is not running, so ${names.join(', ')} stay registered on it; ` +
        `remove them later with \`kubectl delete clusters.meridian.dev ${names.join(' ')}\`\n`,
    );
  }
  process.kill(pid, 'SIGTERM');
  if (!(await whenGone(d.lock, 60_000))) {
    process.kill(pid, 'SIGKILL');
    throw new CliError(ExitCodes.failure, `the supervisor (pid ${pid}) did not stop in 60 s; killed it`);
  }
  say(`stopped${names.length > 0 ? `: ${names.join(', ')}` : ''}`);
}

export function registerDev(program: Command): void {
  const dev = program.command('dev').description('local development helpers (simulated member clusters)');
  const clusters = dev
    .command('clusters')
    .description('simulated member clusters joined to the hub of `meridian up`');
  clusters
    .command('up')
    .description(
      'start N simulated member clusters, join them to the running local hub, and return (a supervisor keeps them running)',
    )
    .option('--count <n>', `how many (1 to ${MAX_COUNT})`, parseCount, 3)
    .option(...dataDirOption)
    .action(reportErrors(runUpCommand));
  clusters
    .command('down')
    .description('unjoin the simulated member clusters from the hub and stop them')
    .option(...dataDirOption)
    .action(reportErrors(runDownCommand));
  clusters
    .command('run', { hidden: true })
    .option('--count <n>', 'how many', parseCount, 3)
    .option(...dataDirOption)
    .action(reportErrors(runSupervisor));
}
