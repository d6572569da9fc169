// The environment's watchdog: a detached process that outlives its parent. The parent writes
// `pid <n>` and `dir <path>` lines to its stdin; when stdin closes — the parent stopped
// normally, crashed, was killed with SIGKILL, or lost its terminal — the watchdog terminates
// every listed process still alive and removes every listed directory. Event-driven: the
// only trigger is end-of-file on the pipe.
import { rmSync } from 'node:fs';
import { createInterface } from 'node:readline';

const pids = new Set<number>();
const dirs = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

async function cleanUp(): Promise<void> {
  for (const pid of pids) signal(pid, 'SIGTERM');
  const deadline = Date.now() + 5000;
  // Bounded wait for graceful exits; the processes are not our children, so no exit events.
  while ([...pids].some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const pid of pids) if (alive(pid)) signal(pid, 'SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}

// The parent's Ctrl-C reaches this process too only if it shares the process group; it is
// started detached, but ignore the signals anyway so cleanup always finishes.
process.on('SIGINT', () => {});
process.on('SIGHUP', () => {});

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const [kind, value] = [line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)];
  if (kind === 'pid') pids.add(Number(value));
  else if (kind === 'unpid') pids.delete(Number(value));
  else if (kind === 'dir') dirs.add(value);
});
lines.on('close', () => {
  void cleanUp().then(() => process.exit(0));
});
