import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

/** One process started by the supervisor. */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  /** Resolves with the exit code (or the signal name) when the process ends. */
  readonly exited: Promise<number | string>;
  /** True until the process has exited. */
  running(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
  /** The last `bytes` of the process's log, for error messages. */
  logTail(bytes?: number): string;
}

export interface SpawnOptions {
  readonly args: readonly string[];
  readonly logPath: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/**
 * Starts and owns processes, and guarantees they end with their owner.
 *
 * Guarantees: `stopAll()` ends every process it started. If the owning node process dies
 * without calling it (crash, SIGKILL, a test runner's timeout, Ctrl-C), a detached watchdog
 * notices its stdin pipe close and ends them, then removes the directories registered with
 * `removeOnExit`. Children share the owner's process group, so a terminal's Ctrl-C reaches
 * them directly as well.
 */
export class Supervisor {
  readonly #processes = new Map<number, ManagedProcess>();
  readonly #watchdog: ChildProcess;

  constructor() {
    const script = fileURLToPath(new URL('./watchdog.ts', import.meta.url));
    this.#watchdog = spawn(process.execPath, [script], {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    this.#watchdog.unref();
    (this.#watchdog.stdin as Socket).unref();
  }

  /** Registers a directory the watchdog deletes if the owner dies without cleaning up. */
  removeOnExit(dir: string): void {
    this.#tell(`dir ${dir}`);
  }

  start(name: string, command: string, opts: SpawnOptions): ManagedProcess {
    const log = openSync(opts.logPath, 'a');
    let child: ChildProcess;
    try {
      child = spawn(command, opts.args, {
        stdio: ['ignore', log, log],
        env: opts.env ?? process.env,
        cwd: opts.cwd,
      });
    } finally {
      closeSync(log);
    }
    const pid = child.pid;
    if (pid === undefined) throw new Error(`${name}: could not start ${command}`);
    this.#tell(`pid ${pid}`);
    let done = false;
    const exited = new Promise<number | string>((resolve) => {
      child.once('exit', (code, sig) => {
        done = true;
        this.#processes.delete(pid);
        this.#tell(`unpid ${pid}`);
        resolve(code ?? sig ?? 'unknown');
      });
      child.once('error', (err) => {
        done = true;
        this.#processes.delete(pid);
        resolve(err.message);
      });
    });
    const managed: ManagedProcess = {
      name,
      pid,
      logPath: opts.logPath,
      exited,
      running: () => !done,
      stop: async (graceMs = 5000) => {
        if (done) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      },
      logTail: (bytes = 4000) => {
        try {
          const text = readFileSync(opts.logPath, 'utf8');
          return text.slice(-bytes);
        } catch {
          return '';
        }
      },
    };
    this.#processes.set(pid, managed);
    return managed;
  }

  processes(): ManagedProcess[] {
    return [...this.#processes.values()];
  }

  /** Stops every running process (in parallel), then lets the watchdog exit. */
  async stopAll(graceMs = 5000): Promise<void> {
    await Promise.all(this.processes().map((p) => p.stop(graceMs)));
  }

  /** Ends the watchdog; it removes the registered directories on its way out. */
  release(): Promise<void> {
    const exited = new Promise<void>((resolve) => {
      if (this.#watchdog.exitCode !== null) resolve();
      else this.#watchdog.once('exit', () => resolve());
    });
    // Keep the event loop alive until the watchdog has finished its own cleanup.
    this.#watchdog.ref();
    this.#watchdog.stdin?.end();
    return exited;
  }

  #tell(line: string): void {
    this.#watchdog.stdin?.write(`${line}\n`);
  }
}
