/**
 * fio through Meridian vs nbdkit's file plugin (the C baseline) on the same disk, same run.
 *
 *   node bench/storage/run.ts [--seconds 5] > bench/RESULTS-storage.md
 *
 * Meridian setups: each ack mode with three replicas on local in-process nodes, and
 * `fastest` with one local + two replicas behind a 30 ms one-way DelayRelay.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify, parseArgs } from 'node:util';
import { NbdServer } from '../../src/storage/nbd/nbd-server.ts';
import { StorageNode } from '../../src/storage/node/storage-node.ts';
import { ReplicatedVolume, type AckMode } from '../../src/storage/volume/replicated-volume.ts';
import { DelayRelay } from '../../test/storage/delay-relay.ts';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const SIZE = 256 * MiB;
const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' } } });
const seconds = Number(values.seconds);

type Job = { name: string; rw: string; bs: string; iodepth: number };
const jobs: Job[] = [
  { name: '4k randwrite', rw: 'randwrite', bs: '4k', iodepth: 16 },
  { name: '4k randread', rw: 'randread', bs: '4k', iodepth: 16 },
  { name: '1M seq write', rw: 'write', bs: '1m', iodepth: 4 },
];

type Row = { target: string; job: string; iops: number; mibs: number; p50us: number; p99us: number };

async function fio(uri: string, job: Job): Promise<Omit<Row, 'target' | 'job'>> {
  const { stdout } = await run(
    'fio',
    [
      '--name=b',
      '--ioengine=nbd',
      `--uri=${uri}`,
      `--rw=${job.rw}`,
      `--bs=${job.bs}`,
      `--iodepth=${job.iodepth}`,
      `--size=${SIZE}`,
      '--time_based',
      `--runtime=${seconds}`,
      '--output-format=json',
    ],
    { maxBuffer: 16 * MiB },
  );
  type Side = { iops: number; bw_bytes: number; clat_ns: { percentile: Record<string, number> } };
  const j = (JSON.parse(stdout.slice(stdout.indexOf('{'))) as { jobs: { read: Side; write: Side }[] })
    .jobs[0];
  const side = job.rw.includes('read') ? j?.read : j?.write;
  if (side === undefined) throw new Error('no fio result');
  return {
    iops: side.iops,
    mibs: side.bw_bytes / MiB,
    p50us: (side.clat_ns.percentile['50.000000'] ?? 0) / 1000,
    p99us: (side.clat_ns.percentile['99.000000'] ?? 0) / 1000,
  };
}

const dirs: string[] = [];
const stops: (() => Promise<void> | void)[] = [];
const rows: Row[] = [];
try {
  // Baseline: nbdkit file plugin on a file in the same temp filesystem.
  const base = await mkdtemp(join(tmpdir(), 'bench-nbdkit-'));
  dirs.push(base);
  const img = join(base, 'disk.img');
  await writeFile(img, Buffer.alloc(0));
  await run('truncate', ['-s', String(SIZE), img]);
  const kit = spawn('nbdkit', ['-f', '-i', '127.0.0.1', '-p', '10899', '--exit-with-parent', 'file', img], {
    stdio: 'ignore',
  });
  stops.push(() => void kit.kill());
  await new Promise((r) => setTimeout(r, 500));
  for (const job of jobs)
    rows.push({
      target: 'nbdkit file (baseline)',
      job: job.name,
      ...(await fio('nbd://127.0.0.1:10899', job)),
    });

  const setups: { name: string; mode: AckMode; farDelayMs: number }[] = [
    { name: 'meridian fastest, 3 local', mode: 'fastest', farDelayMs: 0 },
    { name: 'meridian quorum, 3 local', mode: 'quorum', farDelayMs: 0 },
    { name: 'meridian all, 3 local', mode: 'all', farDelayMs: 0 },
    { name: 'meridian fastest, 1 local + 2 at 30 ms', mode: 'fastest', farDelayMs: 30 },
  ];
  for (const [i, s] of setups.entries()) {
    const replicas = [];
    for (let k = 0; k < 3; k++) {
      const dir = await mkdtemp(join(tmpdir(), 'bench-node-'));
      dirs.push(dir);
      const node = new StorageNode({ nodeId: `n${k}`, dir, labels: {}, capacityBytes: 4 * SIZE });
      let port = await node.listen();
      stops.push(() => node.close());
      if (k > 0 && s.farDelayMs > 0) {
        const relay = new DelayRelay({ host: '127.0.0.1', port }, s.farDelayMs);
        port = await relay.listen();
        stops.push(() => relay.close());
      }
      replicas.push({ nodeId: `n${k}`, endpoint: { host: '127.0.0.1', port } });
    }
    const id = `bench${i}`;
    const v = await ReplicatedVolume.open({ id, sizeBytes: SIZE, replicas, ackMode: s.mode, durability: 2 });
    stops.push(() => v.close());
    const server = new NbdServer({ exports: new Map([[id, v]]) });
    const port = await server.listen();
    stops.push(() => server.close());
    for (const job of jobs)
      rows.push({ target: s.name, job: job.name, ...(await fio(`nbd://127.0.0.1:${port}/${id}`, job)) });
  }
} finally {
  for (const stop of stops.reverse()) await Promise.resolve(stop()).catch(() => undefined);
  for (const d of dirs) await rm(d, { recursive: true, force: true });
}

const out = [
  `## Run ${new Date().toISOString()}`,
  '',
  `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${process.platform}, Node ${process.version}. ` +
    `Command: \`node bench/storage/run.ts --seconds ${seconds}\`; fio --ioengine=nbd, ${SIZE / MiB} MiB device, durability 2.`,
  '',
  '| target | job | IOPS | MiB/s | p50 µs | p99 µs |',
  '| --- | --- | ---: | ---: | ---: | ---: |',
  ...rows.map(
    (r) =>
      `| ${r.target} | ${r.job} | ${r.iops.toFixed(0)} | ${r.mibs.toFixed(1)} | ${r.p50us.toFixed(0)} | ${r.p99us.toFixed(0)} |`,
  ),
  '',
];
process.stdout.write(out.join('\n'));
