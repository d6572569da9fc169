/**
 * Resident memory and CPU time of processes from /proc (Linux): VmRSS now, VmHWM (the kernel's peak
 * resident set) and a sampler for the peak of the summed VmRSS of a changing process tree.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

const KiB_PER_MiB = 1024;

function statusField(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined; // gone
  }
}

/** Current resident set in MiB, 0 when the process is gone. */
export function rssMiB(pid: number): number {
  return (statusField(pid, 'VmRSS') ?? 0) / KiB_PER_MiB;
}

/** Peak resident set (VmHWM) in MiB since start or the last `resetPeak`, 0 when gone. */
export function hwmMiB(pid: number): number {
  return (statusField(pid, 'VmHWM') ?? 0) / KiB_PER_MiB;
}

/**
 * Resets the process's VmHWM to its current RSS (`5` to /proc/<pid>/clear_refs, Linux ≥ 4.0;
 * needs the right to ptrace it, i.e. our own child). Returns false when the kernel refused.
 */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** `pid` and every live descendant (by scanning /proc for parent pids). */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid …: comm may contain spaces and parentheses, so split after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // exited while scanning
    }
  }
  const out: number[] = [];
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop() as number;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

export interface MemorySeries {
  /** Peak of the summed VmRSS over the samples, MiB. */
  readonly peakRssMiB: number;
  /**
   * Peak of the summed VmHWM (the kernel's own peak, so nothing between samples is missed) of
   * the live processes, over the samples, MiB. A process that exited counts with its last
   * sampled VmHWM (at most `intervalMs` old) while it was part of the sum.
   */
  readonly hwmMiB: number;
  /** CPU seconds used during the sampling by every process seen (first to last sample of each). */
  readonly cpuSeconds: number;
  /** [ms since start, summed RSS MiB] every `intervalMs`. */
  readonly samples: readonly (readonly [number, number])[];
}

/**
 * Samples the summed VmRSS and VmHWM of `roots()` and their descendants every `intervalMs`
 * until `stop()` (call it while the processes still run, for a last sample).
 */
export function sampleMemory(roots: () => readonly number[], intervalMs = 1000): { stop(): MemorySeries } {
  const t0 = performance.now();
  const samples: [number, number][] = [];
  let peak = 0;
  let peakHwm = 0;
  const cpu = new Map<number, { first: number; last: number }>();
  const tick = (): void => {
    const pids = [...new Set(roots().flatMap((p) => processTree(p)))];
    for (const p of pids) {
      const c = cpuSeconds(p);
      const seen = cpu.get(p);
      if (seen === undefined) cpu.set(p, { first: c, last: c });
      else seen.last = Math.max(seen.last, c);
    }
    const sum = pids.reduce((a, p) => a + rssMiB(p), 0);
    peak = Math.max(peak, sum);
    peakHwm = Math.max(
      peakHwm,
      pids.reduce((a, p) => a + hwmMiB(p), 0),
    );
    samples.push([Math.round(performance.now() - t0), Math.round(sum)]);
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      tick();
      const used = [...cpu.values()].reduce((a, c) => a + c.last - c.first, 0);
      return {
        peakRssMiB: Math.round(peak),
        hwmMiB: Math.round(peakHwm),
        cpuSeconds: Math.round(used * 10) / 10,
        samples,
      };
    },
  };
}

/** CPU time (user + system) the process has used, in seconds; 0 when gone. Assumes USER_HZ = 100. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After "pid (comm) ", field 3 (state) is index 0; utime (14) and stime (15) are 11 and 12.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}
