// What a process has used so far, read from /proc (Linux): for CPU per MB and memory figures.
import { readFile } from 'node:fs/promises';

/** USER_HZ: 100 on every Linux this runs on (`getconf CLK_TCK`). */
const CLOCK_TICKS = 100;

/** CPU time (user + system) process `pid` has used so far, in ms. */
export async function processCpuMs(pid: number): Promise<number> {
  // Fields after the command name: state is field 3, utime 14 and stime 15 (clock ticks).
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).replace(/^.*\) /, '').split(' ');
  return ((Number(stat[11]) + Number(stat[12])) * 1000) / CLOCK_TICKS;
}

/** Resident memory of process `pid`, in KiB. */
export async function processRssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
}
