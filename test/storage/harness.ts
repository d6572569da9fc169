import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { NbdServer } from '../../src/storage/nbd/nbd-server.ts';
import { StorageNode } from '../../src/storage/node/storage-node.ts';
import { ReplicatedVolume, type AckMode } from '../../src/storage/volume/replicated-volume.ts';

export const MiB = 1024 * 1024;
export const run = promisify(execFile);

/** Something a test started and must stop, newest first, even when the test fails. */
export class Cleanup {
  readonly #steps: (() => Promise<void> | void)[] = [];
  add(step: () => Promise<void> | void): void {
    this.#steps.push(step);
  }
  async run(): Promise<void> {
    for (const step of this.#steps.reverse()) await Promise.resolve(step()).catch(() => undefined);
  }
}

export async function tempDir(cleanup: Cleanup, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts `count` in-process storage nodes on 127.0.0.1. */
export async function startNodes(
  cleanup: Cleanup,
  count: number,
): Promise<{ nodeId: string; port: number }[]> {
  const out: { nodeId: string; port: number }[] = [];
  for (let i = 0; i < count; i++) {
    const nodeId = `n${i + 1}`;
    const node = new StorageNode({
      nodeId,
      dir: await tempDir(cleanup, `meridian-${nodeId}-`),
      labels: { site: `s${i + 1}` },
      capacityBytes: 1024 * MiB,
    });
    const port = await node.listen();
    cleanup.add(() => node.close());
    out.push({ nodeId, port });
  }
  return out;
}

/** A replicated volume over `ports`, exported by an NBD server; returns the NBD URI. */
export async function exportVolume(
  cleanup: Cleanup,
  nodes: readonly { nodeId: string; port: number }[],
  opts: { id?: string; sizeBytes: number; ackMode?: AckMode; durability?: number },
): Promise<{ volume: ReplicatedVolume; uri: string; port: number }> {
  const id = opts.id ?? 'vol1';
  const volume = await ReplicatedVolume.open({
    id,
    sizeBytes: opts.sizeBytes,
    replicas: nodes.map((n) => ({ nodeId: n.nodeId, endpoint: { host: '127.0.0.1', port: n.port } })),
    ackMode: opts.ackMode ?? 'fastest',
    durability: opts.durability ?? nodes.length,
  });
  cleanup.add(() => volume.close());
  const server = new NbdServer({ exports: new Map([[id, volume]]) });
  const port = await server.listen();
  cleanup.add(() => server.close());
  return { volume, uri: `nbd://127.0.0.1:${port}/${id}`, port };
}

/** Runs a storage node as a child process (`src/storage/node/main.ts`); resolves once it listens. */
export async function spawnNode(
  cleanup: Cleanup,
  opts: { id: string; dir: string; port?: number; labels?: string },
): Promise<{ port: number; kill: () => Promise<void> }> {
  const args = [
    'src/storage/node/main.ts',
    '--id',
    opts.id,
    '--dir',
    opts.dir,
    '--port',
    String(opts.port ?? 0),
  ];
  if (opts.labels !== undefined) args.push('--labels', opts.labels);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  cleanup.add(kill);
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (c: Buffer) => {
      buf += c.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(buf.slice(0, nl));
    });
    child.once('exit', (code) => reject(new Error(`storage node ${opts.id} exited with ${code}`)));
  });
  return { port: (JSON.parse(line) as { port: number }).port, kill };
}

/** Runs a volume frontend process (`src/storage/frontend/main.ts`); resolves once it serves NBD. */
export async function spawnFrontend(
  cleanup: Cleanup,
  args: readonly string[],
): Promise<{ port: number; epoch: number; kill: () => Promise<void>; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, ['src/storage/frontend/main.ts', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  cleanup.add(kill);
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (c: Buffer) => {
      buf += c.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(buf.slice(0, nl));
    });
    child.once('exit', (code) => reject(new Error(`volume frontend exited with ${code}`)));
  });
  const { port, epoch } = JSON.parse(line) as { port: number; epoch: number };
  return { port, epoch, kill, exited };
}

export type FioJob = { error: number; read: { io_bytes: number }; write: { io_bytes: number } };

/**
 * Runs Debian's fio with its nbd engine; resolves with the job's result even when fio
 * fails (a fault test expects that), with the exit code.
 */
export async function fio(
  cwd: string,
  args: readonly string[],
): Promise<{ code: number; job: FioJob | undefined; stderr: string }> {
  const child = spawn('fio', ['--output-format=json', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await new Promise<number>((resolve) => child.once('exit', (c) => resolve(c ?? -1)));
  const at = out.indexOf('{');
  const job = at < 0 ? undefined : (JSON.parse(out.slice(at)) as { jobs: FioJob[] }).jobs[0];
  return { code, job, stderr: err };
}
