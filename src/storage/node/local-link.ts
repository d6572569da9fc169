import { StorageError } from '../errors.ts';
import type { NodeInfo, ReplicaPosition, Request, Response, WriteEntry } from '../protocol/messages.ts';
import type { ReplicaLink } from '../protocol/replica-link.ts';

/**
 * A co-located frontend's link to a storage node in the same process: each call goes
 * straight to the node's request handler (the same one its TCP connections use), so
 * epoch fencing, seq order and durability are the node's own, with no framing, no
 * socket and no copy of write payloads (the node writes them to its files before the
 * call returns, it does not keep them).
 *
 * Down: after `close()` (by the frontend, or by the node's `close()`) calls reject with
 * `Unavailable`, including calls still pending (their effect on the node may or may not
 * have happened, as with a dropped TCP connection).
 */
export class LocalReplicaLink implements ReplicaLink {
  readonly #handle: (req: Request) => Promise<Response>;
  readonly #onClose: () => void;
  readonly closed: Promise<void>;
  #resolveClosed!: () => void;
  #down: StorageError | undefined;

  constructor(handle: (req: Request) => Promise<Response>, onClose: () => void) {
    this.#handle = handle;
    this.#onClose = onClose;
    this.closed = new Promise<void>((resolve) => {
      this.#resolveClosed = resolve;
    });
  }

  get isDown(): boolean {
    return this.#down !== undefined;
  }

  close(): void {
    if (this.#down !== undefined) return;
    this.#down = new StorageError('Unavailable', 'co-located replica link closed');
    this.#onClose();
    this.#resolveClosed();
  }

  #call(req: Request): Promise<Response> {
    if (this.#down !== undefined) return Promise.reject(this.#down);
    return this.#handle(req).then(
      (res) => {
        if (this.#down !== undefined) throw this.#down;
        return res;
      },
      (err: unknown) => {
        throw this.#down ?? toStorageError(err);
      },
    );
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

/** Same mapping as the TCP path: anything that is not a `StorageError` is `Io`. */
export function toStorageError(err: unknown): StorageError {
  if (err instanceof StorageError) return err;
  return new StorageError('Io', err instanceof Error ? err.message : String(err), { cause: err });
}
