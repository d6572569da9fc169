/**
 * Profiling harness: one fio job against one Meridian topology (see `setup.ts`). Run it
 * under `--cpu-prof` (the frontend and co-located node are in this process) and summarise
 * the profile with `bench/storage/cpu-summary.ts`, or under `perf record`.
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof bench/storage/profile.ts --replicas 1 --seconds 5
 *   node bench/storage/profile.ts --replicas 3 --far-delay 30 --iodepth 1
 *   node bench/storage/profile.ts --no-colocated   # replica 0 as its own process, over TCP
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { AckMode } from '../../src/storage/volume/replicated-volume.ts';
import { fio, MiB, serve, Stops, withCpu } from './setup.ts';

const { values } = parseArgs({
  allowNegative: true,
  options: {
    replicas: { type: 'string', default: '1' },
    colocated: { type: 'boolean', default: true },
    'far-delay': { type: 'string', default: '0' },
    seconds: { type: 'string', default: '5' },
    mode: { type: 'string', default: 'fastest' },
    rw: { type: 'string', default: 'randwrite' },
    bs: { type: 'string', default: '4k' },
    iodepth: { type: 'string', default: '16' },
    size: { type: 'string', default: String(256 * MiB) },
    'async-batch-ms': { type: 'string' },
    // Samples this event loop's delay every ms: a timer wakeup per ms, itself a cost.
    'loop-delay': { type: 'boolean', default: false },
  },
});
const size = Number(values.size);
const stops = new Stops();
try {
  const served = await serve(
    stops,
    {
      mode: values.mode as AckMode,
      replicas: Number(values.replicas),
      colocated: values.colocated,
      farDelayMs: Number(values['far-delay']),
      sizeBytes: size,
      ...(values['async-batch-ms'] === undefined ? {} : { asyncBatchMs: Number(values['async-batch-ms']) }),
    },
    'prof',
  );
  const job = { name: 'p', rw: values.rw, bs: values.bs, iodepth: Number(values.iodepth) };
  const loop = monitorEventLoopDelay({ resolution: 1 });
  if (values['loop-delay']) loop.enable();
  const { result, cpuSeconds, selfSeconds, pidSeconds } = await withCpu(served.nodePids, () =>
    fio(served.uri, job, size, Number(values.seconds)),
  );
  process.stdout.write(
    JSON.stringify({
      iops: Math.round(result.iops),
      mibs: result.mibs.toFixed(1),
      p50us: result.p50us,
      p99us: result.p99us,
      // Meridian's CPU (this process + node processes) per I/O: steadier than wall time.
      cpuUsPerIo: Math.round((cpuSeconds * 1e6) / Math.max(1, result.ios)),
      // The same split: this process (frontend + co-located node), then each node process.
      cpuUsPerIoSplit: [selfSeconds, ...pidSeconds].map((s) =>
        Math.round((s * 1e6) / Math.max(1, result.ios)),
      ),
      // This event loop's blocking: a stall here delays every request in flight.
      ...(values['loop-delay']
        ? { loopDelayMs: { p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 } }
        : {}),
      replicas: served.volume.status().replicas.map((r) => ({
        node: r.nodeId,
        link: r.link,
        state: r.state,
        lag: r.lagWrites,
        ewmaMs: r.ewmaMs?.toFixed(3),
      })),
    }) + '\n',
  );
} finally {
  await stops.run();
}
