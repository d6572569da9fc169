import { createServer, type Server, type Socket } from 'node:net';
import { mkdir, readdir, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { StorageError } from '../errors.ts';
import { SocketReader } from '../io/socket-reader.ts';
import { FrameSink, readFrame, tryReadFrame } from '../protocol/frame-io.ts';
import {
  decodeRequest,
  encodeError,
  encodeResponse,
  MAX_DATA,
  type NodeInfo,
  type Request,
  type Response,
} from '../protocol/messages.ts';
import type { ReplicaLink } from '../protocol/replica-link.ts';
import { LocalReplicaLink, toStorageError } from './local-link.ts';
import { ReplicaVolume, type ReplicaVolumeOptions } from './replica-volume.ts';

export type StorageNodeOptions = {
  readonly nodeId: string;
  /** Directory contributed as capacity; volumes live in `<dir>/volumes/<id>/`. */
  readonly dir: string;
  /** Placement labels, e.g. site, region, provider, tier. */
  readonly labels: Readonly<Record<string, string>>;
  /** Bytes this node offers; volumes are refused past it. */
  readonly capacityBytes: number;
  readonly log?: Partial<ReplicaVolumeOptions>;
  /** Requests processed concurrently per connection before the socket is paused. */
  readonly maxInFlight?: number;
};

const VOLUME_ID = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/**
 * A storage node: serves the replication protocol (see `protocol/messages.ts`) over TCP
 * for the volumes it holds under its directory.
 *
 * Contract: per connection at most `maxInFlight` requests run at once; further frames stay
 * unread in the kernel (TCP backpressure). Requests for one volume apply in arrival order.
 * `close()` stops listening, ends connections and closes every volume's files.
 */
export class StorageNode {
  readonly #opts: StorageNodeOptions;
  readonly #volumes = new Map<string, Promise<ReplicaVolume | undefined>>();
  /** Loaded volumes, for a lookup without an event-loop hop on the I/O path. */
  readonly #loaded = new Map<string, ReplicaVolume>();
  readonly #sockets = new Set<Socket>();
  readonly #logOpts: ReplicaVolumeOptions;
  readonly #links = new Set<LocalReplicaLink>();
  #server: Server | undefined;
  #closed = false;

  constructor(opts: StorageNodeOptions) {
    this.#opts = opts;
    this.#logOpts = { segmentBytes: 16 * 1024 * 1024, retainBytes: 128 * 1024 * 1024, ...opts.log };
  }

  get nodeId(): string {
    return this.#opts.nodeId;
  }

  /** Starts listening; resolves with the bound port. */
  async listen(port = 0, host = '127.0.0.1'): Promise<number> {
    await mkdir(join(this.#opts.dir, 'volumes'), { recursive: true });
    const server = createServer((socket) => this.#serve(socket));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new StorageError('Io', 'no TCP address');
    return addr.port;
  }

  /**
   * A link for a volume frontend in this same process (a co-located replica): requests
   * go straight to this node's handler, the one its TCP connections use, so epoch
   * fencing, seq order and durability are identical; what is saved is the framing, two
   * socket copies and the event-loop hops of a loopback round trip. `close()` of the node
   * takes its links down.
   */
  async connectLocal(): Promise<ReplicaLink> {
    if (this.#closed) throw new StorageError('Unavailable', `node ${this.#opts.nodeId} is closed`);
    await mkdir(join(this.#opts.dir, 'volumes'), { recursive: true });
    const link: LocalReplicaLink = new LocalReplicaLink(
      (req) => this.#handle(req),
      () => this.#links.delete(link),
    );
    this.#links.add(link);
    return link;
  }

  async info(): Promise<NodeInfo> {
    const volumes = await this.#loadAll();
    const fs = await statfs(this.#opts.dir);
    const checksumErrors = volumes.reduce((n, v) => n + v.checksumErrors, 0);
    return {
      nodeId: this.#opts.nodeId,
      labels: this.#opts.labels,
      capacityBytes: this.#opts.capacityBytes,
      allocatedBytes: volumes.reduce((n, v) => n + v.size, 0),
      freeBytes: fs.bavail * fs.bsize,
      health: checksumErrors > 0 ? 'degraded' : 'ok',
      checksumErrors,
      volumes: volumes.length,
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    const server = this.#server;
    this.#server = undefined;
    for (const link of [...this.#links]) link.close();
    for (const s of this.#sockets) s.destroy();
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
    for (const v of this.#volumes.values()) await (await v.catch(() => undefined))?.close();
    this.#volumes.clear();
    this.#loaded.clear();
  }

  async #loadAll(): Promise<ReplicaVolume[]> {
    const names = await readdir(join(this.#opts.dir, 'volumes'));
    const out: ReplicaVolume[] = [];
    for (const n of names) {
      const v = await this.#volume(n);
      if (v !== undefined) out.push(v);
    }
    return out;
  }

  #volume(id: string): Promise<ReplicaVolume | undefined> {
    if (!VOLUME_ID.test(id))
      return Promise.reject(new StorageError('Invalid', `bad volume id ${JSON.stringify(id)}`));
    let v = this.#volumes.get(id);
    if (v === undefined) {
      v = ReplicaVolume.load(join(this.#opts.dir, 'volumes', id), this.#logOpts);
      this.#track(id, v);
    }
    return v;
  }

  #track(id: string, v: Promise<ReplicaVolume | undefined>): void {
    this.#volumes.set(id, v);
    v.then(
      (loaded) => {
        if (loaded !== undefined && this.#volumes.get(id) === v) this.#loaded.set(id, loaded);
      },
      () => this.#volumes.delete(id),
    );
  }

  async #existing(id: string): Promise<ReplicaVolume> {
    const hit = this.#loaded.get(id);
    if (hit !== undefined) return hit;
    const v = await this.#volume(id);
    if (v === undefined) throw new StorageError('NotFound', `volume ${id} not on node ${this.#opts.nodeId}`);
    return v;
  }

  async #openVolume(id: string, size: number, epoch: number): Promise<ReplicaVolume> {
    const existing = await this.#volume(id);
    if (existing !== undefined) {
      if (existing.size !== size)
        throw new StorageError('Invalid', `volume ${id} has size ${existing.size}, not ${size}`);
      return existing;
    }
    const info = await this.info();
    if (info.allocatedBytes + size > this.#opts.capacityBytes) {
      throw new StorageError('NoSpace', `node ${this.#opts.nodeId} cannot hold ${size} more bytes`);
    }
    const created = ReplicaVolume.create(join(this.#opts.dir, 'volumes', id), size, epoch, this.#logOpts);
    this.#track(id, created);
    return created;
  }

  /**
   * A rebuild target: a fresh replica whose history starts after `baseSeq`. A replica
   * left by an unfinished rebuild is discarded first; a complete one is never replaced.
   */
  async #rebuildStart(
    id: string,
    size: number,
    epoch: number,
    base: { seq: number; epoch: number },
  ): Promise<ReplicaVolume> {
    const existing = await this.#volume(id);
    if (existing !== undefined) {
      if (!existing.rebuilding)
        throw new StorageError(
          'Invalid',
          `volume ${id} already has a complete replica on ${this.#opts.nodeId}`,
        );
      this.#volumes.delete(id);
      this.#loaded.delete(id);
      await existing.close();
      await rm(join(this.#opts.dir, 'volumes', id), { recursive: true, force: true });
    }
    const info = await this.info();
    if (info.allocatedBytes + size > this.#opts.capacityBytes) {
      throw new StorageError('NoSpace', `node ${this.#opts.nodeId} cannot hold ${size} more bytes`);
    }
    const created = ReplicaVolume.create(
      join(this.#opts.dir, 'volumes', id),
      size,
      epoch,
      this.#logOpts,
      base,
    );
    this.#track(id, created);
    return created;
  }

  async #handle(req: Request): Promise<Response> {
    switch (req.op) {
      case 'open': {
        const v = await this.#openVolume(req.volume, req.size, req.epoch);
        return { op: 'position', position: await v.open(req.epoch) };
      }
      case 'write': {
        // Loaded volume: the write applies synchronously inside this call, in arrival order.
        const v = this.#loaded.get(req.volume) ?? (await this.#existing(req.volume));
        return { op: 'position', position: await v.write(req.epoch, req.entry, req.fua) };
      }
      case 'writeBatch': {
        const v = this.#loaded.get(req.volume) ?? (await this.#existing(req.volume));
        // Each write is appended in this call, in order; one answer once all have applied.
        const applied = req.entries.map((e) => v.write(req.epoch, e, false));
        await Promise.all(applied);
        return { op: 'position', position: v.position };
      }
      case 'read':
        if (req.length > MAX_DATA)
          throw new StorageError('Invalid', `read of ${req.length} bytes exceeds ${MAX_DATA}`);
        return { op: 'data', data: await (await this.#existing(req.volume)).read(req.offset, req.length) };
      case 'flush':
        return { op: 'position', position: await (await this.#existing(req.volume)).flush(req.epoch) };
      case 'status':
        return { op: 'position', position: (await this.#existing(req.volume)).position };
      case 'catchUp': {
        const max = Math.min(req.maxBytes, MAX_DATA);
        return { op: 'entries', ...(await (await this.#existing(req.volume)).catchUp(req.fromSeq, max)) };
      }
      case 'nodeInfo':
        return { op: 'nodeInfo', info: await this.info() };
      case 'rebuildStart': {
        const base = { seq: req.baseSeq, epoch: req.baseEpoch };
        const v = await this.#rebuildStart(req.volume, req.size, req.epoch, base);
        return { op: 'position', position: await v.open(req.epoch) };
      }
      case 'fill': {
        const v = this.#loaded.get(req.volume) ?? (await this.#existing(req.volume));
        return { op: 'position', position: await v.fill(req.epoch, req.offset, req.data) };
      }
      case 'rebuildDone':
        return { op: 'position', position: await (await this.#existing(req.volume)).rebuildDone(req.epoch) };
      case 'resize': {
        const v = await this.#existing(req.volume);
        const info = await this.info();
        if (info.allocatedBytes - v.size + req.size > this.#opts.capacityBytes)
          throw new StorageError(
            'NoSpace',
            `node ${this.#opts.nodeId} cannot grow ${req.volume} to ${req.size} bytes`,
          );
        return { op: 'position', position: await v.resize(req.size) };
      }
      case 'drop': {
        const v = await this.#volume(req.volume);
        this.#volumes.delete(req.volume);
        this.#loaded.delete(req.volume);
        await v?.close();
        await rm(join(this.#opts.dir, 'volumes', req.volume), { recursive: true, force: true });
        return {
          op: 'position',
          position: { epoch: 0, appliedSeq: 0, durableSeq: 0, appliedEpoch: 0, rebuilding: false },
        };
      }
    }
  }

  #serve(socket: Socket): void {
    this.#sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const reader = new SocketReader(socket, 4 * 1024 * 1024);
    const sink = new FrameSink(socket);
    const max = this.#opts.maxInFlight ?? 64;
    let inFlight = 0;
    let wake: (() => void) | undefined;
    const release = (): void => {
      inFlight--;
      const w = wake;
      wake = undefined;
      w?.();
    };
    const reply = (parts: Buffer[]): void => {
      if (sink.write(parts)) release();
      else void sink.drained().then(release);
    };
    const loop = async (): Promise<void> => {
      for (;;) {
        while (inFlight >= max) await new Promise<void>((resolve) => (wake = resolve));
        // Buffered frames are dispatched synchronously, in arrival order: per-volume order
        // is arrival order, and a burst of writes is group-committed by the replica.
        const body = tryReadFrame(reader) ?? (await readFrame(reader));
        const { id, req } = decodeRequest(body);
        inFlight++;
        this.#handle(req).then(
          (res) => reply(encodeResponse(id, res)),
          (err: unknown) => reply(encodeError(id, toStorageError(err))),
        );
      }
    };
    loop().catch(() => socket.destroy());
  }
}
