/**
 * Profiling harness: one Meridian volume on local in-process storage nodes, exported over
 * NBD, driven by fio (4k random write by default). Run it under `--cpu-prof` and summarise
 * the profile with `bench/storage/cpu-summary.ts`.
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof bench/storage/profile.ts --replicas 1 --seconds 5
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { NbdServer } from '../../src/storage/nbd/nbd-server.ts';
import { StorageNode } from '../../src/storage/node/storage-node.ts';
import { ReplicatedVolume, type AckMode } from '../../src/storage/volume/replicated-volume.ts';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const { values } = parseArgs({
  options: {
    replicas: { type: 'string', default: '1' },
    seconds: { type: 'string', default: '5' },
    mode: { type: 'string', default: 'fastest' },
    rw: { type: 'string', default: 'randwrite' },
    bs: { type: 'string', default: '4k' },
    iodepth: { type: 'string', default: '16' },
    size: { type: 'string', default: String(256 * MiB) },
  },
});
const n = Number(values.replicas);
const size = Number(values.size);
const dirs: string[] = [];
const stops: (() => Promise<void> | void)[] = [];
try {
  const replicas = [];
  for (let k = 0; k < n; k++) {
    const dir = await mkdtemp(join(tmpdir(), 'prof-node-'));
    dirs.push(dir);
    const node = new StorageNode({ nodeId: `n${k}`, dir, labels: {}, capacityBytes: 4 * size });
    const port = await node.listen();
    stops.push(() => node.close());
    replicas.push({ nodeId: `n${k}`, endpoint: { host: '127.0.0.1', port } });
  }
  const v = await ReplicatedVolume.open({
    id: 'prof',
    sizeBytes: size,
    replicas,
    ackMode: values.mode as AckMode,
    durability: Math.min(2, n),
  });
  stops.push(() => v.close());
  const server = new NbdServer({ exports: new Map([['prof', v]]) });
  const port = await server.listen();
  stops.push(() => server.close());
  const cpu0 = process.cpuUsage();
  const { stdout } = await run(
    'fio',
    [
      '--name=p',
      '--ioengine=nbd',
      `--uri=nbd://127.0.0.1:${port}/prof`,
      `--rw=${values.rw}`,
      `--bs=${values.bs}`,
      `--iodepth=${values.iodepth}`,
      `--size=${size}`,
      '--time_based',
      `--runtime=${values.seconds}`,
      '--output-format=json',
    ],
    { maxBuffer: 16 * MiB },
  );
  const cpu = process.cpuUsage(cpu0);
  type Side = {
    iops: number;
    bw_bytes: number;
    total_ios: number;
    clat_ns: { percentile: Record<string, number> };
  };
  const j = (JSON.parse(stdout.slice(stdout.indexOf('{'))) as { jobs: { read: Side; write: Side }[] })
    .jobs[0];
  const side = values.rw.includes('read') ? j?.read : j?.write;
  process.stdout.write(
    JSON.stringify({
      iops: Math.round(side?.iops ?? 0),
      mibs: ((side?.bw_bytes ?? 0) / MiB).toFixed(1),
      p50us: (side?.clat_ns.percentile['50.000000'] ?? 0) / 1000,
      p99us: (side?.clat_ns.percentile['99.000000'] ?? 0) / 1000,
      // This process's CPU (frontend + nodes) per I/O: steadier than wall time on a shared box.
      cpuUsPerIo: Math.round((cpu.user + cpu.system) / Math.max(1, side?.total_ios ?? 0)),
    }) + '\n',
  );
} finally {
  for (const stop of stops.reverse()) await Promise.resolve(stop()).catch(() => undefined);
  for (const d of dirs) await rm(d, { recursive: true, force: true });
}
