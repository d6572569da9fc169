import { connect, type Socket } from 'node:net';
import { SeqGapError, StaleEpochError, StorageError } from '../errors.ts';
import { SocketReader } from '../io/socket-reader.ts';
import { FrameSink, readFrame, tryReadFrame } from '../protocol/frame-io.ts';
import {
  decodeResponse,
  encodeRequest,
  isErrorReply,
  type ErrorReply,
  type NodeInfo,
  type ReplicaPosition,
  type Request,
  type Response,
  type WriteEntry,
} from '../protocol/messages.ts';
import type { ReplicaLink } from '../protocol/replica-link.ts';

export type Endpoint = { readonly host: string; readonly port: number };

type Pending = { resolve: (r: Response) => void; reject: (e: Error) => void };

/**
 * A pipelined connection to one storage node.
 *
 * Contract: at most `maxInFlight` requests are on the wire; later ones wait in call order.
 * When the connection drops every pending request rejects with `Unavailable` and the
 * client stays closed (`closed` resolves); the owner decides when to reconnect.
 * Error replies become typed errors (`StaleEpochError`, `SeqGapError`, `StorageError`).
 */
export class ReplicaClient implements ReplicaLink {
  readonly #socket: Socket;
  readonly #sink: FrameSink;
  readonly #pending = new Map<number, Pending>();
  readonly #maxInFlight: number;
  readonly #backlog: Buffer[][] = [];
  #inFlight = 0;
  readonly closed: Promise<void>;
  #nextId = 1;
  #down: Error | undefined;

  private constructor(socket: Socket, maxInFlight: number) {
    this.#socket = socket;
    this.#sink = new FrameSink(socket);
    this.#maxInFlight = maxInFlight;
    const reader = new SocketReader(socket, 4 * 1024 * 1024);
    this.closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => socket.destroy());
    void this.closed.then(() => this.#fail(new StorageError('Unavailable', 'replica connection closed')));
    const loop = async (): Promise<void> => {
      for (;;) {
        const { id, result } = decodeResponse(tryReadFrame(reader) ?? (await readFrame(reader)));
        const p = this.#pending.get(id);
        if (p === undefined) throw new StorageError('Protocol', `response for unknown request ${id}`);
        this.#pending.delete(id);
        this.#replied();
        if (isErrorReply(result)) p.reject(toError(result));
        else p.resolve(result);
      }
    };
    loop().catch(() => socket.destroy());
  }

  /**
   * `maxInFlight` bounds requests (and, via the frontend's lag bound, bytes) on the wire;
   * it must cover one round trip's worth of writes or a far replica's throughput is
   * capped at maxInFlight / RTT (128 at 60 ms RTT was ~2,100 writes/s).
   */
  static async connect(ep: Endpoint, maxInFlight = 4096): Promise<ReplicaClient> {
    const socket = connect({ host: ep.host, port: ep.port, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new ReplicaClient(socket, maxInFlight);
  }

  get isDown(): boolean {
    return this.#down !== undefined;
  }

  close(): void {
    this.#socket.destroy();
  }

  /**
   * Sends synchronously when under the in-flight bound, else queues the encoded frame in a
   * FIFO backlog sent as replies free slots. Either way frames leave in call order (the
   * frontend relies on that for seq order; a semaphore handing slots to waiters through
   * promises could let a later caller overtake). The backlog holds frames whose payloads
   * the frontend already holds in its lag-bounded ring, so it adds no unbounded memory.
   */
  #call(req: Request): Promise<Response> {
    if (this.#down !== undefined) return Promise.reject(this.#down);
    const id = this.#nextId;
    this.#nextId = (this.#nextId % 0xffffffff) + 1;
    const res = new Promise<Response>((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    const parts = encodeRequest(id, req);
    if (this.#inFlight < this.#maxInFlight && this.#backlog.length === 0) this.#send(parts);
    else this.#backlog.push(parts);
    return res;
  }

  #send(parts: Buffer[]): void {
    this.#inFlight++;
    this.#sink.write(parts);
  }

  #replied(): void {
    this.#inFlight--;
    while (this.#inFlight < this.#maxInFlight) {
      const next = this.#backlog.shift();
      if (next === undefined) return;
      this.#send(next);
    }
  }

  #fail(err: Error): void {
    this.#down = err;
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    this.#backlog.length = 0;
  }

  async open(volume: string, size: number, epoch: number): Promise<ReplicaPosition> {
    return position(await this.#call({ op: 'open', volume, size, epoch }));
  }
  async write(volume: string, epoch: number, entry: WriteEntry, fua: boolean): Promise<ReplicaPosition> {
    return position(await this.#call({ op: 'write', volume, epoch, entry, fua }));
  }
  async writeBatch(volume: string, epoch: number, entries: readonly WriteEntry[]): Promise<ReplicaPosition> {
    return position(await this.#call({ op: 'writeBatch', volume, epoch, entries }));
  }
  async read(volume: string, offset: number, length: number): Promise<Buffer> {
    const r = await this.#call({ op: 'read', volume, offset, length });
    if (r.op !== 'data') throw new StorageError('Protocol', `expected data, got ${r.op}`);
    return r.data;
  }
  async flush(volume: string, epoch: number): Promise<ReplicaPosition> {
    return position(await this.#call({ op: 'flush', volume, epoch }));
  }
  async status(volume: string): Promise<ReplicaPosition> {
    return position(await this.#call({ op: 'status', volume }));
  }
  async catchUp(
    volume: string,
    fromSeq: number,
    maxBytes: number,
  ): Promise<{ baseEpoch: number; entries: WriteEntry[] }> {
    const r = await this.#call({ op: 'catchUp', volume, fromSeq, maxBytes });
    if (r.op !== 'entries') throw new StorageError('Protocol', `expected entries, got ${r.op}`);
    return r;
  }
  async nodeInfo(): Promise<NodeInfo> {
    const r = await this.#call({ op: 'nodeInfo' });
    if (r.op !== 'nodeInfo') throw new StorageError('Protocol', `expected nodeInfo, got ${r.op}`);
    return r.info;
  }
  async rebuildStart(
    volume: string,
    size: number,
    epoch: number,
    baseSeq: number,
    baseEpoch: number,
  ): Promise<ReplicaPosition> {
    return position(await this.#call({ op: 'rebuildStart', volume, size, epoch, baseSeq, baseEpoch }));
  }
  async fill(volume: string, epoch: number, offset: number, data: Buffer): Promise<ReplicaPosition> {
    return position(await this.#call({ op: 'fill', volume, epoch, offset, data }));
  }
  async rebuildDone(volume: string, epoch: number): Promise<ReplicaPosition> {
    return position(await this.#call({ op: 'rebuildDone', volume, epoch }));
  }
  async resize(volume: string, size: number): Promise<ReplicaPosition> {
    return position(await this.#call({ op: 'resize', volume, size }));
  }
  async drop(volume: string): Promise<void> {
    await this.#call({ op: 'drop', volume });
  }
}

function position(r: Response): ReplicaPosition {
  if (r.op !== 'position') throw new StorageError('Protocol', `expected position, got ${r.op}`);
  return r.position;
}

function toError(e: ErrorReply): Error {
  if (e.code === 'StaleEpoch') return new StaleEpochError(0, e.currentEpoch);
  if (e.code === 'SeqGap') return new SeqGapError(0, e.appliedSeq);
  return new StorageError(e.code, e.message);
}
