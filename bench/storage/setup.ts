/**
 * Benchmark topologies: a Meridian volume exported over NBD, its replicas on storage
 * nodes that are either co-located (in this process, direct calls) or separate node
 * processes reached over TCP, optionally behind a delay relay process (the WAN
 * emulator). Also the fio runner and CPU accounting shared by `run.ts` and `profile.ts`.
 * `BENCH_REMOTE_CPUS=1` runs node and relay processes under `taskset -c 1` (remote sites
 * then cannot take the frontend's CPU; combine with `taskset -c 0` on the runner).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { NbdServer } from '../../src/storage/nbd/nbd-server.ts';
import { StorageNode } from '../../src/storage/node/storage-node.ts';
import {
  ReplicatedVolume,
  type AckMode,
  type ReplicaSpec,
} from '../../src/storage/volume/replicated-volume.ts';

export const MiB = 1024 * 1024;
const run = promisify(execFile);
const CLK_TCK = 100; // Linux USER_HZ

/** Things to stop, newest first. */
export class Stops {
  readonly #steps: (() => Promise<void> | void)[] = [];
  add(step: () => Promise<void> | void): void {
    this.#steps.push(step);
  }
  async run(): Promise<void> {
    for (const step of this.#steps.splice(0).reverse()) await Promise.resolve(step()).catch(() => undefined);
  }
}

export async function tempDir(stops: Stops, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  stops.add(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts a child that prints one JSON line `{"port":N}`; resolves with its port. */
async function spawnListening(stops: Stops, args: string[]): Promise<{ port: number; child: ChildProcess }> {
  const cpus = process.env['BENCH_REMOTE_CPUS'];
  const child =
    cpus === undefined
      ? spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
      : spawn('taskset', ['-c', cpus, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  stops.add(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout?.on('data', (c: Buffer) => {
      buf += c.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(buf.slice(0, nl));
    });
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
  });
  return { port: (JSON.parse(line) as { port: number }).port, child };
}

export type Topology = {
  readonly mode: AckMode;
  /** Replicas in total (default 3). */
  readonly replicas?: number;
  /** The first replica is a co-located node in this process (default true). */
  readonly colocated?: boolean;
  /** One-way delay in front of every replica but the first (0: plain loopback). */
  readonly farDelayMs?: number;
  readonly durability?: number;
  readonly sizeBytes: number;
  readonly asyncBatchMs?: number;
  /** Cumulative acknowledgements to TCP replicas (default true; false: one reply per write). */
  readonly batchAcks?: boolean;
};

export type Served = {
  readonly uri: string;
  readonly volume: ReplicatedVolume;
  /** Storage node child processes (their CPU is the system's, like this process's). */
  readonly nodePids: number[];
};

/**
 * Builds the topology: replica 0 co-located (or its own process when `colocated` is
 * false), the others as `src/storage/node/main.ts` processes, each behind a relay
 * process when `farDelayMs` > 0.
 */
export async function serve(stops: Stops, t: Topology, id: string): Promise<Served> {
  const n = t.replicas ?? 3;
  const replicas: ReplicaSpec[] = [];
  const nodePids: number[] = [];
  for (let k = 0; k < n; k++) {
    const dir = await tempDir(stops, `bench-node${k}-`);
    const nodeId = `n${k}`;
    if (k === 0 && (t.colocated ?? true)) {
      const node = new StorageNode({ nodeId, dir, labels: {}, capacityBytes: 4 * t.sizeBytes });
      stops.add(() => node.close());
      replicas.push({ nodeId, colocated: node });
      continue;
    }
    const node = await spawnListening(stops, ['src/storage/node/main.ts', '--id', nodeId, '--dir', dir]);
    if (node.child.pid !== undefined) nodePids.push(node.child.pid);
    let port = node.port;
    if (k > 0 && (t.farDelayMs ?? 0) > 0) {
      const relay = await spawnListening(stops, [
        'bench/storage/relay-main.ts',
        '--target',
        `127.0.0.1:${port}`,
        '--delay',
        String(t.farDelayMs),
      ]);
      port = relay.port;
    }
    replicas.push({ nodeId, endpoint: { host: '127.0.0.1', port } });
  }
  const volume = await ReplicatedVolume.open({
    id,
    sizeBytes: t.sizeBytes,
    replicas,
    ackMode: t.mode,
    durability: t.durability ?? Math.min(2, n),
    ...(t.asyncBatchMs === undefined ? {} : { asyncBatchMs: t.asyncBatchMs }),
    ...(t.batchAcks === undefined ? {} : { batchAcks: t.batchAcks }),
  });
  stops.add(() => volume.close());
  const server = new NbdServer({ exports: new Map([[id, volume]]) });
  const port = await server.listen();
  stops.add(() => server.close());
  return { uri: `nbd://127.0.0.1:${port}/${id}`, volume, nodePids };
}

/** CPU seconds (user + system) of a process so far, from /proc. */
export async function procCpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime, stime
}

/** Measures the CPU time of this process plus `pids` around `fn`. */
export async function withCpu<T>(
  pids: number[],
  fn: () => Promise<T>,
): Promise<{ result: T; cpuSeconds: number; selfSeconds: number; pidSeconds: number[] }> {
  const self0 = process.cpuUsage();
  const others0 = await Promise.all(pids.map(procCpuSeconds));
  const result = await fn();
  const self = process.cpuUsage(self0);
  const others1 = await Promise.all(pids.map(procCpuSeconds));
  const pidSeconds = others1.map((v, i) => v - (others0[i] ?? 0));
  const selfSeconds = (self.user + self.system) / 1e6;
  return { result, cpuSeconds: selfSeconds + pidSeconds.reduce((s, v) => s + v, 0), selfSeconds, pidSeconds };
}

export type FioJob = {
  readonly name: string;
  readonly rw: string;
  readonly bs: string;
  readonly iodepth: number;
};

export type FioResult = {
  readonly iops: number;
  readonly mibs: number;
  readonly p50us: number;
  readonly p99us: number;
  readonly ios: number;
};

export async function fio(uri: string, job: FioJob, sizeBytes: number, seconds: number): Promise<FioResult> {
  const { stdout } = await run(
    'fio',
    [
      '--name=b',
      '--ioengine=nbd',
      `--uri=${uri}`,
      `--rw=${job.rw}`,
      `--bs=${job.bs}`,
      `--iodepth=${job.iodepth}`,
      `--size=${sizeBytes}`,
      '--time_based',
      `--runtime=${seconds}`,
      '--output-format=json',
    ],
    { maxBuffer: 16 * MiB },
  );
  type Side = {
    iops: number;
    bw_bytes: number;
    total_ios: number;
    clat_ns: { percentile: Record<string, number> };
  };
  const j = (JSON.parse(stdout.slice(stdout.indexOf('{'))) as { jobs: { read: Side; write: Side }[] })
    .jobs[0];
  const side = job.rw.includes('read') ? j?.read : j?.write;
  if (side === undefined) throw new Error('no fio result');
  return {
    iops: side.iops,
    mibs: side.bw_bytes / MiB,
    p50us: (side.clat_ns.percentile['50.000000'] ?? 0) / 1000,
    p99us: (side.clat_ns.percentile['99.000000'] ?? 0) / 1000,
    ios: side.total_ios,
  };
}
