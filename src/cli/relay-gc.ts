import { setFlagsFromString } from 'node:v8';

/**
 * The garbage-collector setting of the processes that relay bulk bytes: the gateway and the
 * agent.
 *
 * Every chunk they relay sits for a moment in a Buffer whose bytes live outside V8's heap
 * (external memory). By default V8 gives external memory a limit of its own, and crossing it
 * starts a full mark-compact of the whole heap; relaying a large response crossed it every
 * 10–20 MB, so both processes spent a fifth of their CPU marking a heap that had barely
 * changed (bench/RESULTS.md, Tunnel, runs H and I). With external memory counted in the heap's
 * global limit instead, it grows and shrinks with the heap like any allocation: 40 % less CPU
 * per MB and 1.5× the throughput, old and new interleaved on one machine, and the memory the
 * agent holds after gigabytes relayed no higher.
 *
 * V8 reads the flag whenever it recomputes its limits, so setting it at startup, before any
 * traffic, is enough (`v8.setFlagsFromString` warns only about flags that change the heap's
 * shape once it exists).
 */
export function tuneGcForRelaying(): void {
  setFlagsFromString('--external-memory-accounted-in-global-limit');
}
