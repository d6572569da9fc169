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
  /** Created by a rebuild that has not finished: extents incomplete (see `fill`). */
  readonly rebuilding?: boolean;
};

export type ReplicaVolumeOptions = WriteLogOptions & {
  /**
   * Checkpoint (fdatasync extents, let old log go) after this many bytes of writes;
   * default `retainBytes`. Each checkpoint forces writeback of every dirty extent page,
   * so a short interval costs disk and CPU (and stalls writers on ext4 locks); a long
   * one lengthens log replay after a crash.
   */
  readonly checkpointBytes?: number;
};

/** Writes appended to the log in one turn, committed together. */
type Batch = { readonly done: Promise<void>; resolve: () => void; reject: (e: unknown) => void };

/** Unapplied log bytes past which extents are brought up to date at once, not after the turn. */
const MAX_UNAPPLIED_BYTES = 8 * 1024 * 1024;

/**
 * One volume's replica on a storage node: extents + write log + persisted state.
 *
 * Contract:
 * - Writes apply strictly in seq order (`appliedSeq + 1`); a gap throws `SeqGapError`, a
 *   repeat of an applied seq with the same epoch is acknowledged again (idempotent retry).
 * - A request whose epoch is below the replica's throws `StaleEpochError`; a higher epoch
 *   is adopted and persisted before anything is acknowledged under it.
 * - **Applied** (what `write` resolving and `appliedSeq` mean): the write's log record is
 *   in the OS page cache, so it survives a crash of this process (restart replays the
 *   log past the last checkpoint), not a crash of the host. `flush()` and FUA writes
 *   fdatasync the log: **durable** (`durableSeq`), survives power loss.
 * - Group commit: writes arriving in one turn of the event loop are queued and their log
 *   records written with one `pwritev` in a microtask at the end of that turn; each
 *   write resolves after that. Concurrent FLUSH/FUA share fdatasyncs.
 * - Extents are brought up to date after the batch is acknowledged (a `setImmediate`
 *   later, or at once past 8 MiB pending), never before the log record exists (a crash
 *   in between is repaired by replay). A read first applies everything pending, so it
 *   sees every write that arrived before it.
 * - Epoch changes go through one queue and requests arriving meanwhile queue behind
 *   them. Checkpoints (extent fdatasync, state file, log trim) run in the background
 *   and never stall writes.
 */
export class ReplicaVolume {
  readonly #dir: string;
  readonly #extents: ExtentStore;
  readonly #log: WriteLog;
  readonly #queue = new SerialQueue();
  /** Serialises `state.json` replacements (epoch changes, checkpoints). */
  readonly #stateWrites = new SerialQueue();
  readonly #checkpointBytes: number;
  #state: State;
  #bytesSinceCheckpoint = 0;
  /** The background checkpoint in flight, if any (close waits for it: it uses our fds). */
  #checkpointing: Promise<void> | undefined;
  #checkpointError: unknown;
  /** The batch being appended this turn. */
  #batch: Batch | undefined;
  readonly #commitTask = (): void => {
    try {
      this.#commitNow();
    } catch {
      // the batch's writers were rejected with the error
    }
  };
  /** Committed to the log, not yet written to the extents, in seq order. */
  #unapplied: WriteEntry[] = [];
  #unappliedBytes = 0;
  #applyScheduled = false;
  /** Extents could not be updated: the replica refuses I/O until restarted (replay repairs). */
  #applyError: StorageError | undefined;

  private constructor(
    dir: string,
    extents: ExtentStore,
    log: WriteLog,
    state: State,
    checkpointBytes: number,
  ) {
    this.#dir = dir;
    this.#extents = extents;
    this.#log = log;
    this.#state = state;
    this.#checkpointBytes = checkpointBytes;
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
    return new ReplicaVolume(dir, extents, log, state, opts.checkpointBytes ?? opts.retainBytes);
  }

  /**
   * Creates an empty replica. With `base` it is a rebuild target: its history starts after
   * `base.seq` (whose entry had epoch `base.epoch`) and it stays `rebuilding` until
   * `rebuildDone()`; the bytes before that come through `fill`.
   */
  static async create(
    dir: string,
    size: number,
    epoch: number,
    opts: ReplicaVolumeOptions,
    base?: { readonly seq: number; readonly epoch: number },
  ): Promise<ReplicaVolume> {
    await mkdir(dir, { recursive: true });
    const state: State =
      base === undefined
        ? { size, epoch, checkpointSeq: 0, checkpointEpoch: 0 }
        : { size, epoch, checkpointSeq: base.seq, checkpointEpoch: base.epoch, rebuilding: true };
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
      rebuilding: this.#state.rebuilding === true,
    };
  }

  /** Grows the volume (persisted before it answers); extents are sparse, so nothing else moves. */
  resize(size: number): Promise<ReplicaPosition> {
    return this.#queue.run(async () => {
      if (size < this.#state.size)
        throw new StorageError('Invalid', `cannot shrink from ${this.#state.size} to ${size} bytes`);
      if (size > this.#state.size) {
        await this.#stateWrites.run(async () => {
          this.#state = { ...this.#state, size };
          await writeState(this.#dir, this.#state);
        });
      }
      return this.position;
    });
  }

  get rebuilding(): boolean {
    return this.#state.rebuilding === true;
  }

  /**
   * Rebuild copy: writes `data` at `offset` straight into the extents, after every write
   * that arrived before it (so, on one connection, in call order with the writes around
   * it). Only while `rebuilding`. Not logged: `rebuildDone` fsyncs the extents.
   */
  async fill(epoch: number, offset: number, data: Buffer): Promise<ReplicaPosition> {
    const apply = (): ReplicaPosition => {
      if (this.#state.rebuilding !== true)
        throw new StorageError('Invalid', 'fill is only accepted while the replica is rebuilding');
      if (offset + data.length > this.#state.size)
        throw new StorageError(
          'Invalid',
          `fill [${offset}, +${data.length}) beyond size ${this.#state.size}`,
        );
      if (this.#applyError !== undefined) throw this.#applyError;
      this.#drain();
      this.#extents.write(offset, data.length, data);
      return this.position;
    };
    if (this.#queue.idle && epoch === this.#state.epoch) return apply();
    return this.#queue.run(async () => {
      await this.#checkEpoch(epoch);
      return apply();
    });
  }

  /** Ends a rebuild: extents and log made durable, then the `rebuilding` mark is cleared. */
  rebuildDone(epoch: number): Promise<ReplicaPosition> {
    return this.#queue.run(async () => {
      await this.#checkEpoch(epoch);
      this.#drain();
      await this.#extents.sync();
      await this.#log.sync();
      await this.#stateWrites.run(async () => {
        this.#state = { ...this.#state, rebuilding: false };
        await writeState(this.#dir, this.#state);
      });
      return this.position;
    });
  }

  /** Registers a frontend at `epoch` (adopting it if newer); returns the position. */
  open(epoch: number): Promise<ReplicaPosition> {
    return this.#queue.run(async () => {
      await this.#checkEpoch(epoch);
      return this.position;
    });
  }

  /**
   * Applies `entry` under fencing epoch `epoch` (≥ `entry.epoch`); resolves once its log
   * record is in the page cache (with `fua`: fdatasynced).
   */
  async write(epoch: number, entry: WriteEntry, fua: boolean): Promise<ReplicaPosition> {
    if (this.#queue.idle && epoch === this.#state.epoch) await this.#append(epoch, entry);
    else
      await this.#queue.run(async () => {
        await this.#checkEpoch(epoch);
        await this.#append(epoch, entry);
      });
    if (fua) await this.#log.sync();
    return this.position;
  }

  /** Validates and queues `entry`; the returned promise settles when its batch is committed. */
  #append(epoch: number, entry: WriteEntry): Promise<void> | undefined {
    if (this.#applyError !== undefined) throw this.#applyError;
    if (entry.epoch > epoch)
      throw new StorageError('Invalid', `entry epoch ${entry.epoch} above request epoch ${epoch}`);
    const appended = this.#log.appendedSeq;
    if (entry.seq <= appended) {
      const had = this.#log.epochOf(entry.seq);
      if (had !== undefined && had !== entry.epoch) {
        throw new StorageError(
          'Invalid',
          `seq ${entry.seq} was applied at epoch ${had}, not ${entry.epoch}: replica diverged`,
        );
      }
      // A retry: acknowledged once whatever batch holds it is committed.
      return entry.seq > this.#log.lastSeq ? this.#batch?.done : undefined;
    }
    if (entry.seq !== appended + 1) throw new SeqGapError(entry.seq, this.#log.lastSeq);
    if (entry.offset + entry.length > this.#state.size) {
      throw new StorageError(
        'Invalid',
        `write [${entry.offset}, +${entry.length}) beyond size ${this.#state.size}`,
      );
    }
    this.#log.append(entry);
    if (this.#batch === undefined) {
      let resolve!: () => void;
      let reject!: (e: unknown) => void;
      const done = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.#batch = { done, resolve, reject };
      queueMicrotask(this.#commitTask);
    }
    return this.#batch.done;
  }

  /** Writes the queued log records (one `pwritev`) and settles their batch. Synchronous. */
  #commitNow(): void {
    const batch = this.#batch;
    this.#batch = undefined;
    if (!this.#log.needsCommit) {
      batch?.resolve();
      return;
    }
    let committed: readonly WriteEntry[];
    try {
      committed = this.#log.commit();
    } catch (e) {
      batch?.reject(e);
      throw e;
    }
    batch?.resolve();
    for (const e of committed) {
      this.#unapplied.push(e);
      const bytes = e.data?.length ?? 64;
      this.#unappliedBytes += bytes;
      this.#bytesSinceCheckpoint += bytes;
    }
    if (this.#unappliedBytes >= MAX_UNAPPLIED_BYTES) this.#applyPending();
    else if (!this.#applyScheduled) {
      this.#applyScheduled = true;
      setImmediate(() => {
        this.#applyScheduled = false;
        this.#applyPending();
      });
    }
    if (this.#bytesSinceCheckpoint >= this.#checkpointBytes && this.#checkpointing === undefined) {
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

  /** Commits the log and brings the extents up to date with everything appended. */
  #drain(): void {
    if (this.#log.needsCommit) this.#commitNow();
    this.#applyPending();
  }

  #applyPending(): void {
    if (this.#unapplied.length === 0) return;
    const entries = this.#unapplied;
    this.#unapplied = [];
    this.#unappliedBytes = 0;
    for (const [i, e] of entries.entries()) {
      try {
        applyTo(this.#extents, e);
      } catch (err) {
        // The log holds these writes; the extents do not. Refuse I/O until a restart
        // replays the log (the node reports the error on every request meanwhile).
        this.#unapplied = entries.slice(i);
        this.#applyError = new StorageError('Io', `extent write failed: ${String(err)}`, { cause: err });
        return;
      }
    }
  }

  async read(offset: number, length: number): Promise<Buffer> {
    // Behind a queued epoch change: keep arrival order.
    if (!this.#queue.idle) await this.#queue.run(() => Promise.resolve());
    if (offset + length > this.#state.size) {
      throw new StorageError('Invalid', `read [${offset}, +${length}) beyond size ${this.#state.size}`);
    }
    this.#drain();
    if (this.#applyError !== undefined) throw this.#applyError;
    return this.#extents.read(offset, length);
  }

  /** Makes every applied write durable. */
  async flush(epoch: number): Promise<ReplicaPosition> {
    if (!this.#queue.idle || epoch !== this.#state.epoch)
      await this.#queue.run(() => this.#checkEpoch(epoch));
    if (this.#log.needsCommit) this.#commitNow();
    await this.#log.sync();
    return this.position;
  }

  /** Log records after `fromSeq` (bounded by `maxBytes`) and the epoch of record `fromSeq`. */
  async catchUp(fromSeq: number, maxBytes: number): Promise<{ baseEpoch: number; entries: WriteEntry[] }> {
    if (this.#log.needsCommit) this.#commitNow();
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
      try {
        this.#drain();
      } finally {
        await this.#log.close();
        await this.#extents.close();
      }
    });
  }

  async #checkEpoch(epoch: number): Promise<void> {
    if (epoch < this.#state.epoch) throw new StaleEpochError(epoch, this.#state.epoch);
    if (epoch > this.#state.epoch) {
      // Inside the I/O queue: no write is acknowledged under `epoch` before it is stored.
      await this.#stateWrites.run(async () => {
        this.#state = { ...this.#state, epoch: Math.max(epoch, this.#state.epoch) };
        await writeState(this.#dir, this.#state);
      });
    }
  }

  /**
   * Extents durable up to seq S → log history up to S may go. Runs in the background:
   * writes after S keep applying (the fsyncs cover at least everything before S).
   */
  async #checkpoint(): Promise<void> {
    this.#drain();
    const seq = this.#log.lastSeq;
    const epoch = this.#log.epochOf(seq) ?? this.#state.checkpointEpoch;
    const bytes = this.#bytesSinceCheckpoint;
    await this.#extents.sync();
    await this.#log.sync();
    await this.#stateWrites.run(async () => {
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
