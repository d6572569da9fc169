import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { SeqGapError, StaleEpochError, StorageError } from '../errors.ts';
import { SerialQueue } from '../io/serial-queue.ts';
import type { ReplicaPosition, WriteEntry } from '../protocol/messages.ts';
import { ExtentStore } from './extent-store.ts';
import { WriteLog, type WriteLogOptions } from './write-log.ts';

type State = {
  readonly size: number;
  readonly epoch: number;
  /** Every write ≤ this seq is durable in the extent files. */
  readonly checkpointSeq: number;
  readonly checkpointEpoch: number;
};

export type ReplicaVolumeOptions = WriteLogOptions;

/**
 * One volume's replica on a storage node: extents + write log + persisted state.
 *
 * Contract:
 * - Writes apply strictly in seq order (`appliedSeq + 1`); a gap throws `SeqGapError`, a
 *   repeat of an applied seq with the same epoch is acknowledged again (idempotent retry).
 * - A request whose epoch is below the replica's throws `StaleEpochError`; a higher epoch
 *   is adopted and persisted before anything is acknowledged under it.
 * - A write is appended to the log before it is applied; `flush()` and FUA writes fsync the
 *   log, so `durableSeq` survives power loss. Restart replays the log past the checkpoint,
 *   so it resumes at the last durable (at least) write.
 * - Requests take effect in arrival order: a read sees every write that arrived before it.
 *   Writes and reads run synchronously (page cache) when nothing slower is queued; epoch
 *   changes and checkpoint state go through one queue, and requests arriving meanwhile
 *   queue behind them. fdatasyncs (FLUSH, FUA, checkpoints) run off the event loop while
 *   later writes keep applying; concurrent FLUSH/FUA share fdatasyncs (group commit).
 */
export class ReplicaVolume {
  readonly #dir: string;
  readonly #extents: ExtentStore;
  readonly #log: WriteLog;
  readonly #queue = new SerialQueue();
  readonly #segmentBytes: number;
  #state: State;
  #bytesSinceCheckpoint = 0;
  /** The background checkpoint in flight, if any (close waits for it: it uses our fds). */
  #checkpointing: Promise<void> | undefined;
  #checkpointError: unknown;

  private constructor(dir: string, extents: ExtentStore, log: WriteLog, state: State, segmentBytes: number) {
    this.#dir = dir;
    this.#extents = extents;
    this.#log = log;
    this.#state = state;
    this.#segmentBytes = segmentBytes;
  }

  /** Loads an existing replica, replaying its log; undefined if none exists in `dir`. */
  static async load(dir: string, opts: ReplicaVolumeOptions): Promise<ReplicaVolume | undefined> {
    let state: State;
    try {
      state = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as State;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const extents = await ExtentStore.open(join(dir, 'extents'));
    const log = await WriteLog.open(join(dir, 'log'), opts, state.checkpointSeq);
    for await (const e of log.replay(state.checkpointSeq)) applyTo(extents, e);
    return new ReplicaVolume(dir, extents, log, state, opts.segmentBytes);
  }

  static async create(
    dir: string,
    size: number,
    epoch: number,
    opts: ReplicaVolumeOptions,
  ): Promise<ReplicaVolume> {
    await mkdir(dir, { recursive: true });
    const state: State = { size, epoch, checkpointSeq: 0, checkpointEpoch: 0 };
    await writeState(dir, state);
    const created = await ReplicaVolume.load(dir, opts);
    if (created === undefined) throw new StorageError('Io', `replica state vanished in ${dir}`);
    return created;
  }

  get size(): number {
    return this.#state.size;
  }

  get checksumErrors(): number {
    return this.#extents.checksumErrors;
  }

  /** The last background checkpoint failure, if the latest attempt failed. */
  get checkpointError(): unknown {
    return this.#checkpointError;
  }

  get position(): ReplicaPosition {
    const applied = this.#log.lastSeq;
    return {
      epoch: this.#state.epoch,
      appliedSeq: applied,
      durableSeq: this.#log.durableSeq,
      appliedEpoch: this.#log.epochOf(applied) ?? this.#state.checkpointEpoch,
    };
  }

  /** Registers a frontend at `epoch` (adopting it if newer); returns the position. */
  open(epoch: number): Promise<ReplicaPosition> {
    return this.#queue.run(async () => {
      await this.#checkEpoch(epoch);
      return this.position;
    });
  }

  /** Applies `entry` under fencing epoch `epoch` (≥ `entry.epoch`). */
  async write(epoch: number, entry: WriteEntry, fua: boolean): Promise<ReplicaPosition> {
    if (this.#queue.idle && epoch === this.#state.epoch) this.#apply(epoch, entry);
    else
      await this.#queue.run(async () => {
        await this.#checkEpoch(epoch);
        this.#apply(epoch, entry);
      });
    if (fua) await this.#log.sync();
    return this.position;
  }

  /** Synchronous: log append + extent write, both positional writes into the page cache. */
  #apply(epoch: number, entry: WriteEntry): void {
    if (entry.epoch > epoch)
      throw new StorageError('Invalid', `entry epoch ${entry.epoch} above request epoch ${epoch}`);
    const applied = this.#log.lastSeq;
    if (entry.seq <= applied) {
      const had = this.#log.epochOf(entry.seq);
      if (had !== undefined && had !== entry.epoch) {
        throw new StorageError(
          'Invalid',
          `seq ${entry.seq} was applied at epoch ${had}, not ${entry.epoch}: replica diverged`,
        );
      }
      return;
    }
    if (entry.seq !== applied + 1) throw new SeqGapError(entry.seq, applied);
    if (entry.offset + entry.length > this.#state.size) {
      throw new StorageError(
        'Invalid',
        `write [${entry.offset}, +${entry.length}) beyond size ${this.#state.size}`,
      );
    }
    this.#log.append(entry);
    applyTo(this.#extents, entry);
    this.#bytesSinceCheckpoint += entry.data?.length ?? 64;
    if (this.#bytesSinceCheckpoint >= this.#segmentBytes && this.#checkpointing === undefined) {
      this.#checkpointing = this.#checkpoint().then(
        () => {
          this.#checkpointError = undefined;
          this.#checkpointing = undefined;
        },
        (e: unknown) => {
          this.#checkpointError = e; // retried at the next threshold
          this.#checkpointing = undefined;
        },
      );
    }
  }

  async read(offset: number, length: number): Promise<Buffer> {
    // Behind a queued epoch change or checkpoint state write: keep arrival order.
    if (!this.#queue.idle) await this.#queue.run(() => Promise.resolve());
    if (offset + length > this.#state.size) {
      throw new StorageError('Invalid', `read [${offset}, +${length}) beyond size ${this.#state.size}`);
    }
    return this.#extents.read(offset, length);
  }

  /** Makes every applied write durable. */
  async flush(epoch: number): Promise<ReplicaPosition> {
    if (!this.#queue.idle || epoch !== this.#state.epoch)
      await this.#queue.run(() => this.#checkEpoch(epoch));
    await this.#log.sync();
    return this.position;
  }

  /** Log records after `fromSeq` (bounded by `maxBytes`) and the epoch of record `fromSeq`. */
  async catchUp(fromSeq: number, maxBytes: number): Promise<{ baseEpoch: number; entries: WriteEntry[] }> {
    const baseEpoch =
      fromSeq === 0
        ? 0
        : (this.#log.epochOf(fromSeq) ??
          (fromSeq === this.#state.checkpointSeq ? this.#state.checkpointEpoch : undefined));
    if (baseEpoch === undefined)
      throw new StorageError('LogTruncated', `seq ${fromSeq} is no longer in the log`);
    return { baseEpoch, entries: await this.#log.read(fromSeq, maxBytes) };
  }

  async close(): Promise<void> {
    await this.#checkpointing;
    await this.#queue.run(async () => {
      await this.#log.close();
      await this.#extents.close();
    });
  }

  async #checkEpoch(epoch: number): Promise<void> {
    if (epoch < this.#state.epoch) throw new StaleEpochError(epoch, this.#state.epoch);
    if (epoch > this.#state.epoch) {
      this.#state = { ...this.#state, epoch };
      await writeState(this.#dir, this.#state);
    }
  }

  /**
   * Extents durable up to seq S → log history up to S may go. Runs in the background:
   * writes after S keep applying (the fsyncs cover at least everything before S).
   */
  async #checkpoint(): Promise<void> {
    const seq = this.#log.lastSeq;
    const epoch = this.#log.epochOf(seq) ?? this.#state.checkpointEpoch;
    const bytes = this.#bytesSinceCheckpoint;
    await this.#extents.sync();
    await this.#log.sync();
    await this.#queue.run(async () => {
      this.#state = { ...this.#state, checkpointSeq: seq, checkpointEpoch: epoch };
      await writeState(this.#dir, this.#state);
    });
    this.#bytesSinceCheckpoint -= bytes;
    await this.#log.trim(seq);
  }
}

function applyTo(extents: ExtentStore, e: WriteEntry): void {
  extents.write(e.offset, e.length, e.kind === 'data' ? e.data : undefined);
}

/** Atomic replace: write a temp file, fsync it, rename over the old one, fsync the dir. */
async function writeState(dir: string, state: State): Promise<void> {
  const tmp = join(dir, 'state.json.tmp');
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(JSON.stringify(state));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(dir, 'state.json'));
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
