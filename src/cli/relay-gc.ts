import { setFlagsFromString } from 'node:v8';
import { silentLogger, type Logger } from '../kube/log.ts';

/**
 * The garbage-collector settings of the processes that relay bulk bytes: the gateway and the
 * agent (bench/RESULTS.md, Tunnel, runs H–K).
 *
 * Every chunk they relay sits for a moment in a Buffer whose bytes live outside V8's heap
 * (external memory). By default V8 gives external memory a limit of its own, and crossing it
 * starts a full mark-compact of the whole heap; relaying a large response crossed it every
 * 10–20 MB, so both processes spent a fifth of their CPU marking a heap that had barely
 * changed. With external memory counted in the heap's global limit instead
 * (`tuneGcForRelaying`), it grows and shrinks with the heap like any allocation.
 *
 * That limit, though, starts from the old generation's size, and these processes' heaps are
 * small (15–20 MB bundled): the chunks still in flight when a scavenge runs (up to a stream's
 * window) are promoted, and a few tens of MB of them reached the limit — a mark-compact every
 * ~30 MB relayed, up to a third of the gateway's CPU in marking and sweeping (`perf`). Starting
 * the old generation at 64 MB (`RELAY_NODE_FLAGS`) puts the limit above what the chunks in
 * flight and those freed since the last collection add up to: no mark-compact in 1.5 GiB
 * relayed, and 1.5× the throughput at 0.6× the CPU per MB, interleaved on one machine. It is a
 * starting size, not a cap: the heap's limit is unchanged and V8 still collects when it is
 * reached. The price is resident memory: garbage is collected later.
 */

/**
 * V8 reads this flag whenever it recomputes its limits, so setting it at startup, before any
 * traffic, is enough. Flags that size the heap, like `RELAY_NODE_FLAGS`, do nothing once it
 * exists (checked with `--trace-gc`): those go on the command line, and a process started
 * without them says so in an `info` line on `log`.
 */
export function tuneGcForRelaying(log: Logger = silentLogger): void {
  setFlagsFromString('--external-memory-accounted-in-global-limit');
  if (!relayHeapConfigured())
    log.info(
      { missing: RELAY_NODE_FLAGS },
      `node was started without ${RELAY_NODE_FLAGS.join(' ')}: relaying bulk data will spend more ` +
        'CPU in garbage collection (the images set it; see docs/tunnel.md)',
    );
}

/**
 * Node options the gateway and the agent are started with (their images' entry points,
 * `meridian up`, the bench). V8 sizes the heap when the process starts, so this cannot be set
 * from inside, and Node refuses it in `NODE_OPTIONS`: it goes on the `node` command line.
 */
export const RELAY_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=64'];

/** Whether this process was started with an initial old-generation size (`RELAY_NODE_FLAGS`). */
export function relayHeapConfigured(execArgv: readonly string[] = process.execArgv): boolean {
  return execArgv.some((a) => /^--initial-(old-space|heap)-size(=|$)/.test(a));
}
