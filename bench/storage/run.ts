/**
 * fio through Meridian vs nbdkit's file plugin (the C baseline) on the same disk, same run.
 *
 *   node bench/storage/run.ts [--seconds 5] [--rounds 1] > /tmp/run.md
 *
 * Every target stays up for the whole run; for each job the baseline runs right before
 * every Meridian target, so each ratio compares two measurements taken seconds apart on
 * this shared machine. With `--rounds N` each cell is the median of N rounds.
 *
 * Meridian targets (see setup.ts): three replicas, the first on a storage node in the
 * frontend's process (co-located, direct calls) unless stated, the others as separate
 * node processes on loopback, or behind a 30 ms one-way delay relay process each (the
 * WAN emulator). "server CPU" is the CPU time of Meridian's processes (frontend + nodes,
 * not the relays: they stand for the network) or of nbdkit, per I/O.
 */
import { execFile, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import {
  fio,
  MiB,
  serve,
  Stops,
  tempDir,
  withCpu,
  type FioJob,
  type FioResult,
  type Topology,
} from './setup.ts';

const run = promisify(execFile);
const SIZE = 256 * MiB;
const { values } = parseArgs({
  allowNegative: true,
  options: {
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '1' },
    // --no-colocate: every replica in its own node process (e.g. to run this harness
    // against code from before co-located replicas existed).
    colocate: { type: 'boolean', default: true },
    // Only targets / jobs whose name contains one of these (comma-separated substrings).
    targets: { type: 'string' },
    jobs: { type: 'string' },
  },
});
const only = (names: string | undefined) => (name: string) =>
  names === undefined || names.split(',').some((n) => name.includes(n));
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);

const allJobs: FioJob[] = [
  { name: '4k randwrite QD1', rw: 'randwrite', bs: '4k', iodepth: 1 },
  { name: '4k randwrite QD16', rw: 'randwrite', bs: '4k', iodepth: 16 },
  { name: '4k randread QD1', rw: 'randread', bs: '4k', iodepth: 1 },
  { name: '4k randread QD16', rw: 'randread', bs: '4k', iodepth: 16 },
  { name: '1M seq write QD4', rw: 'write', bs: '1m', iodepth: 4 },
];
const jobs = allJobs.filter((j) => only(values.jobs)(j.name));

const allSetups: (Topology & { name: string })[] = [
  { name: 'meridian fastest, 3 local', mode: 'fastest', sizeBytes: SIZE },
  { name: 'meridian quorum, 3 local', mode: 'quorum', sizeBytes: SIZE },
  { name: 'meridian all, 3 local', mode: 'all', sizeBytes: SIZE },
  { name: 'meridian fastest, 1 local + 2 at 30 ms', mode: 'fastest', farDelayMs: 30, sizeBytes: SIZE },
  {
    // The same with one reply per write to the remote replicas (before cumulative acks).
    name: 'meridian fastest, 1 local + 2 at 30 ms, per-write acks',
    mode: 'fastest',
    farDelayMs: 30,
    sizeBytes: SIZE,
    batchAcks: false,
  },
  {
    name: 'meridian fastest, 1 local over TCP + 2 at 30 ms',
    mode: 'fastest',
    farDelayMs: 30,
    colocated: false,
    sizeBytes: SIZE,
  },
];

const setups = (
  values.colocate
    ? allSetups
    : allSetups.filter((s) => s.colocated !== false).map((s) => ({ ...s, colocated: false }))
).filter((s) => only(values.targets)(s.name));

type Measured = FioResult & { cpuUsPerIo: number };
type Cell = { target: string; job: string; runs: Measured[]; base: Measured[] };

const stops = new Stops();
const cells = new Map<string, Cell>();
const cell = (target: string, job: string): Cell => {
  const key = `${target}|${job}`;
  let c = cells.get(key);
  if (c === undefined) {
    c = { target, job, runs: [], base: [] };
    cells.set(key, c);
  }
  return c;
};

async function measure(uri: string, pids: number[], job: FioJob): Promise<Measured> {
  const { result, cpuSeconds } = await withCpu(pids, () => fio(uri, job, SIZE, seconds));
  return { ...result, cpuUsPerIo: (cpuSeconds * 1e6) / Math.max(1, result.ios) };
}

try {
  // Baseline: nbdkit file plugin on a sparse file in the same temp filesystem.
  const base = await tempDir(stops, 'bench-nbdkit-');
  const img = join(base, 'disk.img');
  await writeFile(img, Buffer.alloc(0));
  await run('truncate', ['-s', String(SIZE), img]);
  const kit = spawn('nbdkit', ['-f', '-i', '127.0.0.1', '-p', '10899', '--exit-with-parent', 'file', img], {
    stdio: 'ignore',
  });
  stops.add(() => void kit.kill());
  await new Promise((r) => setTimeout(r, 500));
  const kitPids = kit.pid === undefined ? [] : [kit.pid];

  const served = [];
  for (const [i, s] of setups.entries()) served.push({ setup: s, ...(await serve(stops, s, `bench${i}`)) });

  for (let round = 0; round < rounds; round++) {
    for (const job of jobs) {
      for (const t of served) {
        const b = await measure('nbd://127.0.0.1:10899', kitPids, job);
        cell('nbdkit file (baseline)', job.name).runs.push(b);
        const m = await measure(t.uri, t.nodePids, job);
        const c = cell(t.setup.name, job.name);
        c.runs.push(m);
        c.base.push(b);
        await t.volume.settled(); // lagging replicas drain before the next measurement
        process.stderr.write(
          `${job.name} | ${t.setup.name}: ${m.iops.toFixed(0)} IOPS p50 ${m.p50us.toFixed(0)} µs ` +
            `(nbdkit ${b.iops.toFixed(0)} IOPS p50 ${b.p50us.toFixed(0)} µs)\n`,
        );
      }
    }
  }
} finally {
  await stops.run();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0
    ? NaN
    : n % 2 === 1
      ? (s[(n - 1) / 2] as number)
      : ((s[n / 2 - 1] as number) + (s[n / 2] as number)) / 2;
}

const rows: string[] = [];
for (const job of jobs) {
  const order = ['nbdkit file (baseline)', ...setups.map((s) => s.name)];
  for (const target of order) {
    const c = cells.get(`${target}|${job.name}`);
    if (c === undefined) continue;
    const m = (f: (r: Measured) => number, xs = c.runs): number => median(xs.map(f));
    const isBase = c.base.length === 0;
    // Ratios against the baseline runs adjacent to this target's runs (median of per-pair ratios).
    const ratio = (f: (r: Measured) => number): string =>
      isBase ? '1' : median(c.runs.map((r, i) => f(r) / f(c.base[i] as Measured))).toFixed(2);
    rows.push(
      `| ${target} | ${job.name} | ${m((r) => r.iops).toFixed(0)} | ${m((r) => r.mibs).toFixed(1)} | ` +
        `${m((r) => r.p50us).toFixed(0)} | ${m((r) => r.p99us).toFixed(0)} | ${m((r) => r.cpuUsPerIo).toFixed(0)} | ` +
        `${ratio((r) => r.p50us)} | ${isBase ? '1' : ratio((r) => r.iops)} |`,
    );
  }
}

const out = [
  `## Run ${new Date().toISOString()}`,
  '',
  `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${process.platform}, Node ${process.version}, ` +
    `shared with other tenants' test clusters. Command: \`node bench/storage/run.ts --seconds ${seconds} ` +
    `--rounds ${rounds}${values.colocate ? '' : ' --no-colocate'}\`; fio --ioengine=nbd, ${SIZE / MiB} MiB device, durability 2. ` +
    'Baseline rows: median over all its runs in this job; ratio columns: Meridian ÷ the nbdkit run just before it.',
  '',
  '| target | job | IOPS | MiB/s | p50 µs | p99 µs | server CPU µs/IO | p50 ÷ nbdkit | IOPS ÷ nbdkit |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows,
  '',
];
process.stdout.write(out.join('\n'));
