// Nothing outlives the environment's owner: not on a normal stop, not when the owner is
// interrupted (Ctrl-C reaches its whole process group), not when it is killed outright.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

const holder = fileURLToPath(new URL('../support/hold-environment.ts', import.meta.url));

/** Alive and not a zombie (an exited child of a non-reaping init still answers kill 0). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Owners started here: one a failed assertion left running would keep the test run from ending. */
const owners: ChildProcess[] = [];
after(() => {
  for (const c of owners) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    try {
      process.kill(-c.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

async function startOwner(): Promise<{ child: ChildProcess; dir: string; pids: number[] }> {
  // Detached: its own process group, like a test run started from a terminal.
  const child = spawn(process.execPath, [holder], { detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
  owners.push(child);
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      if (out.includes('\n')) resolve(out.split('\n')[0]!);
    });
    child.once('exit', (code) => reject(new Error(`environment owner exited early (${code})`)));
  });
  const { dir, pids } = JSON.parse(line) as { dir: string; pids: number[] };
  assert.ok(
    pids.length >= 6,
    `expected etcd, 2 API servers, 2 controller managers, scheduler, kwok; got ${pids.length}`,
  );
  assert.ok(pids.every(alive) && existsSync(dir));
  return { child, dir, pids };
}

async function assertAllGone(pids: number[], dir: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while ((pids.some(alive) || existsSync(dir)) && Date.now() < deadline) await sleep(200);
  assert.deepEqual(pids.filter(alive), [], 'no process left');
  assert.equal(existsSync(dir), false, `${dir} removed`);
}

test('Ctrl-C (SIGINT to the process group) leaves no process or directory behind', async () => {
  const { child, dir, pids } = await startOwner();
  process.kill(-child.pid!, 'SIGINT');
  await assertAllGone(pids, dir);
});

test('killing the owner with SIGKILL leaves no process or directory behind', async () => {
  const { child, dir, pids } = await startOwner();
  process.kill(child.pid!, 'SIGKILL');
  await assertAllGone(pids, dir);
});

test('a normal stop leaves no process or directory behind', async () => {
  const { child, dir, pids } = await startOwner();
  process.kill(child.pid!, 'SIGTERM');
  await assertAllGone(pids, dir);
});
