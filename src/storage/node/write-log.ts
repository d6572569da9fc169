import { closeSync, constants, fdatasync, ftruncateSync, openSync, writevSync } from 'node:fs';
import { mkdir, open, readdir, rm, type FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { StorageError } from '../errors.ts';
import { putU64 } from '../io/codec.ts';
import type { WriteEntry, WriteKind } from '../protocol/messages.ts';

const MAGIC = 0x4d57414c; // "MWAL"
const HEADER = 44;
const kinds: WriteKind[] = ['data', 'zero', 'trim'];
const OPEN_RW = constants.O_RDWR | constants.O_CREAT;
const fdatasyncAsync = promisify(fdatasync);
/** Linux's limit on iovecs per `pwritev`. */
const IOV_MAX = 1024;

type Segment = {
  readonly firstSeq: number;
  readonly path: string;
  /** File offset of each record; record i has seq firstSeq + i. */
  readonly offsets: number[];
  readonly epochs: number[];
  size: number;
};

export type WriteLogOptions = {
  /** Rotate to a new segment file past this size. */
  readonly segmentBytes: number;
  /** Keep at least this many bytes of history for catch-up (older checkpointed segments go). */
  readonly retainBytes: number;
};

/**
 * A replica's write log: every applied write as (epoch, seq, kind, offset, length, data),
 * in seq order, in segment files `log-<firstSeq>.wal`.
 *
 * Contract: seqs are contiguous (the replica only appends `appendedSeq + 1`). `append`
 * only queues a record in memory; `commit()` writes every queued record into the page
 * cache with one `pwritev` (group append: a turn of the event loop with N writes costs
 * one syscall, not N), after which `lastSeq` covers them. `sync()` commits and makes
 * everything committed durable. On open, a torn or corrupt tail (failed CRC) is cut off:
 * those writes were never acknowledged as durable. Memory: one offset and epoch per
 * retained record, bounded by `retainBytes` plus one segment, plus the queued records.
 */
export class WriteLog {
  readonly #dir: string;
  readonly #opts: WriteLogOptions;
  readonly #segments: Segment[] = [];
  /** fd of the tail segment (positional writes, never O_APPEND). */
  #fd: number;
  /** fds of rotated segments whose records are not yet known durable. */
  readonly #retired: number[] = [];
  /** A segment file was created since the directory was last fsynced. */
  #dirDirty = false;
  #durableSeq: number;
  #syncing: Promise<void> | undefined;
  /** Records appended but not yet committed, and their iovecs (header, payload). */
  readonly #queued: WriteEntry[] = [];
  readonly #iov: Buffer[] = [];
  #queuedBytes = 0;
  /**
   * Records committed by an internal commit (segment rotation, `sync`, `close`) that no
   * `commit()` call has returned yet: the replica applies to its extents exactly what
   * `commit()` returns, so none may be dropped on the way.
   */
  #unreported: WriteEntry[] = [];

  private constructor(dir: string, opts: WriteLogOptions, fd: number, durableSeq: number) {
    this.#dir = dir;
    this.#opts = opts;
    this.#fd = fd;
    this.#durableSeq = durableSeq;
  }

  /** Opens (or creates) the log; `startAfter` is the seq preceding the first record if empty. */
  static async open(dir: string, opts: WriteLogOptions, startAfter: number): Promise<WriteLog> {
    await mkdir(dir, { recursive: true });
    const segments: Segment[] = [];
    const names = (await readdir(dir)).filter((n) => /^log-\d+\.wal$/.test(n)).sort();
    for (const name of names) {
      const firstSeq = Number(name.slice(4, -4));
      const seg = await scanSegment(join(dir, name), firstSeq);
      const prev = segments.at(-1);
      const contiguous = prev === undefined || prev.firstSeq + prev.offsets.length === firstSeq;
      if (!contiguous || seg.offsets.length === 0) {
        await rm(seg.path, { force: true });
        continue;
      }
      segments.push(seg);
    }
    if (segments.length === 0) segments.push(emptySegment(dir, startAfter + 1));
    const tail = segments.at(-1) as Segment;
    const fd = openSync(tail.path, OPEN_RW, 0o644);
    ftruncateSync(fd, tail.size);
    const tailSeq = tail.firstSeq + tail.offsets.length - 1;
    // Records that survived a restart are treated as durable, as before this change.
    const log = new WriteLog(dir, opts, fd, tailSeq);
    log.#segments.push(...segments);
    log.#dirDirty = true;
    return log;
  }

  /** Seq of the last committed record (or the seq before the first, if empty). */
  get lastSeq(): number {
    const tail = this.#segments.at(-1) as Segment;
    return tail.firstSeq + tail.offsets.length - 1;
  }

  /** Seq of the last appended record, committed or queued. */
  get appendedSeq(): number {
    return this.lastSeq + this.#queued.length;
  }

  /** Records appended but not yet committed. */
  get queued(): number {
    return this.#queued.length;
  }

  /** `commit()` has records to return: queued ones, or ones an internal commit wrote. */
  get needsCommit(): boolean {
    return this.#queued.length > 0 || this.#unreported.length > 0;
  }

  /** Commits the queued records and keeps them for the next `commit()` to return. */
  #commitInternal(): void {
    for (const e of this.#commitQueued()) this.#unreported.push(e);
  }

  /** Every record up to this seq has been fdatasynced. */
  get durableSeq(): number {
    return this.#durableSeq;
  }

  /** Oldest `fromSeq` that `read` can serve: records after it are all retained. */
  get oldestFrom(): number {
    return (this.#segments[0] as Segment).firstSeq - 1;
  }

  get bytes(): number {
    return this.#segments.reduce((n, s) => n + s.size, 0);
  }

  /** Epoch of record `seq` (committed or queued), or undefined if not retained. */
  epochOf(seq: number): number | undefined {
    const last = this.lastSeq;
    if (seq > last) return this.#queued[seq - last - 1]?.epoch;
    for (let i = this.#segments.length - 1; i >= 0; i--) {
      const s = this.#segments[i] as Segment;
      const at = seq - s.firstSeq;
      if (at >= s.epochs.length) return undefined;
      if (at >= 0) return s.epochs[at];
    }
    return undefined;
  }

  /**
   * Queues one record (no syscall). It reaches the page cache at the next `commit()`.
   * The payload buffer is referenced, not copied, until then.
   */
  append(e: WriteEntry): void {
    if (e.seq !== this.appendedSeq + 1)
      throw new StorageError('SeqGap', `log append ${e.seq} after ${this.appendedSeq}`);
    const tail = this.#segments.at(-1) as Segment;
    if (tail.size + this.#queuedBytes >= this.#opts.segmentBytes) {
      this.#commitInternal(); // the queued records belong to the current segment
      this.#rotate(e.seq);
    }
    const header = encodeHeader(e);
    this.#queued.push(e);
    this.#iov.push(header);
    this.#queuedBytes += header.length;
    if (e.data !== undefined && e.data.length > 0) {
      this.#iov.push(e.data);
      this.#queuedBytes += e.data.length;
    }
  }

  /**
   * Writes every queued record into the page cache: `pwritev` of all their headers and
   * payloads at the tail (IOV_MAX at a time). On failure (disk full, I/O error) none of
   * them counts: they are dropped, `lastSeq` stays, and the next append reuses the space.
   * Returns the committed records, with any an internal commit wrote since the last call.
   */
  commit(): readonly WriteEntry[] {
    const records = this.#commitQueued();
    if (this.#unreported.length === 0) return records;
    const all = this.#unreported;
    this.#unreported = [];
    for (const e of records) all.push(e);
    return all;
  }

  #commitQueued(): readonly WriteEntry[] {
    if (this.#queued.length === 0) return [];
    const tail = this.#segments.at(-1) as Segment;
    const iov = this.#iov.splice(0);
    const records = this.#queued.splice(0);
    const total = this.#queuedBytes;
    this.#queuedBytes = 0;
    let written = 0;
    for (let i = 0; i < iov.length; i += IOV_MAX) {
      const part = iov.length <= IOV_MAX ? iov : iov.slice(i, i + IOV_MAX);
      let want = 0;
      for (const b of part) want += b.length;
      const n = writevSync(this.#fd, part, tail.size + written);
      written += n;
      if (n !== want) throw new StorageError('Io', `short log write (${written} of ${total} bytes)`);
    }
    let at = tail.size;
    for (const e of records) {
      tail.offsets.push(at);
      tail.epochs.push(e.epoch);
      at += HEADER + (e.data?.length ?? 0);
    }
    tail.size = at;
    return records;
  }

  /** Starts a new segment without blocking: the old fd is fdatasynced by the next sync. */
  #rotate(firstSeq: number): Segment {
    const seg = emptySegment(this.#dir, firstSeq);
    const fd = openSync(seg.path, OPEN_RW | constants.O_TRUNC, 0o644);
    this.#retired.push(this.#fd);
    this.#fd = fd;
    this.#segments.push(seg);
    this.#dirDirty = true;
    return seg;
  }

  /**
   * Makes every record appended before the call durable. Group commit: callers that
   * arrive while an fdatasync runs share the next one, so N concurrent FLUSH/FUA requests
   * cost at most two fdatasyncs, not N.
   */
  async sync(): Promise<void> {
    this.#commitInternal();
    const target = this.lastSeq;
    while (this.#durableSeq < target) {
      if (this.#syncing === undefined) {
        this.#syncing = this.#syncOnce().finally(() => {
          this.#syncing = undefined;
        });
      }
      await this.#syncing;
    }
  }

  async #syncOnce(): Promise<void> {
    const upTo = this.lastSeq;
    const fd = this.#fd;
    // fds stay open until their fdatasync finished: only this (single-flight) path closes them.
    const retired = this.#retired.splice(0);
    try {
      for (const old of retired) await fdatasyncAsync(old);
      await fdatasyncAsync(fd);
      if (this.#dirDirty) {
        this.#dirDirty = false;
        const d = await open(this.#dir, 'r');
        try {
          await d.sync(); // new segment files' directory entries
        } finally {
          await d.close();
        }
      }
    } catch (e) {
      this.#retired.unshift(...retired);
      throw e;
    }
    for (const old of retired) closeSync(old);
    this.#durableSeq = Math.max(this.#durableSeq, upTo);
  }

  /**
   * Drops whole segments whose records are all ≤ `checkpointSeq` (already durable in the
   * extents) while more than `retainBytes` of history remains.
   */
  async trim(checkpointSeq: number): Promise<void> {
    while (
      this.#segments.length > 1 &&
      this.bytes - (this.#segments[0] as Segment).size >= this.#opts.retainBytes
    ) {
      const head = this.#segments[0] as Segment;
      if (head.firstSeq + head.offsets.length - 1 > checkpointSeq) return;
      this.#segments.shift();
      await rm(head.path, { force: true });
    }
  }

  /** Records with seq in (afterSeq, ...] up to about `maxBytes` of payload, at least one. */
  async read(afterSeq: number, maxBytes: number): Promise<WriteEntry[]> {
    if (afterSeq < this.oldestFrom) {
      throw new StorageError(
        'LogTruncated',
        `log starts after seq ${this.oldestFrom}; ${afterSeq} requested`,
      );
    }
    this.#commitInternal();
    const out: WriteEntry[] = [];
    let bytes = 0;
    // Snapshot: appends may run between awaits; records appended later are not returned.
    for (const seg of [...this.#segments]) {
      const count = seg.offsets.length;
      const start = afterSeq + 1 - seg.firstSeq;
      if (start >= count) continue;
      const fh = await open(seg.path, 'r').catch((e: unknown) => {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT')
          throw new StorageError('LogTruncated', `segment ${seg.firstSeq} trimmed during read`);
        throw e;
      });
      try {
        for (let i = Math.max(0, start); i < count; i++) {
          const e = await readRecord(fh, seg.offsets[i] as number);
          out.push(e);
          bytes += e.data?.length ?? 0;
          if (bytes >= maxBytes) return out;
        }
      } finally {
        await fh.close();
      }
    }
    return out;
  }

  /** Records after `afterSeq`, for replay into extents on startup. */
  async *replay(afterSeq: number): AsyncGenerator<WriteEntry> {
    let from = Math.max(afterSeq, this.oldestFrom);
    for (;;) {
      const batch = await this.read(from, 8 * 1024 * 1024);
      if (batch.length === 0) return;
      yield* batch;
      from = (batch.at(-1) as WriteEntry).seq;
    }
  }

  async close(): Promise<void> {
    await this.sync();
    await this.#syncing;
    for (const old of this.#retired.splice(0)) closeSync(old);
    closeSync(this.#fd);
  }
}

function emptySegment(dir: string, firstSeq: number): Segment {
  return {
    firstSeq,
    path: join(dir, `log-${String(firstSeq).padStart(16, '0')}.wal`),
    offsets: [],
    epochs: [],
    size: 0,
  };
}

/** The record header; its CRC covers header bytes 8.. and the payload. */
function encodeHeader(e: WriteEntry): Buffer {
  const dataLen = e.data?.length ?? 0;
  const h = Buffer.allocUnsafe(HEADER);
  h.writeUInt32BE(MAGIC, 0);
  putU64(h, e.epoch, 8);
  putU64(h, e.seq, 16);
  h.writeUInt8(kinds.indexOf(e.kind), 24);
  h.fill(0, 25, 28);
  putU64(h, e.offset, 28);
  h.writeUInt32BE(e.length, 36);
  h.writeUInt32BE(dataLen, 40);
  const crc = crc32(h.subarray(8));
  h.writeUInt32BE(dataLen > 0 ? crc32(e.data as Buffer, crc) : crc, 4);
  return h;
}

function decodeHeader(
  h: Buffer,
): { entry: Omit<WriteEntry, 'data'>; dataLen: number; crc: number } | undefined {
  if (h.readUInt32BE(0) !== MAGIC) return undefined;
  const kind = kinds[h.readUInt8(24)];
  if (kind === undefined) return undefined;
  return {
    entry: {
      epoch: readU64(h, 8),
      seq: readU64(h, 16),
      kind,
      offset: readU64(h, 28),
      length: h.readUInt32BE(36),
    },
    dataLen: h.readUInt32BE(40),
    crc: h.readUInt32BE(4),
  };
}

async function readRecord(fh: FileHandle, at: number): Promise<WriteEntry> {
  const h = Buffer.alloc(HEADER);
  await fh.read(h, 0, HEADER, at);
  const d = decodeHeader(h);
  if (d === undefined) throw new StorageError('Io', `corrupt log record at ${at}`);
  const data = Buffer.alloc(d.dataLen);
  if (d.dataLen > 0) await fh.read(data, 0, d.dataLen, at + HEADER);
  return { ...d.entry, data: d.entry.kind === 'data' ? data : undefined };
}

/** Reads a segment's record index, stopping at the first torn or corrupt record. */
async function scanSegment(path: string, firstSeq: number): Promise<Segment> {
  const seg: Segment = { firstSeq, path, offsets: [], epochs: [], size: 0 };
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const h = Buffer.alloc(HEADER);
    let at = 0;
    while (at + HEADER <= size) {
      await fh.read(h, 0, HEADER, at);
      const d = decodeHeader(h);
      if (d === undefined || d.entry.seq !== firstSeq + seg.offsets.length || at + HEADER + d.dataLen > size)
        break;
      const body = Buffer.alloc(HEADER - 8 + d.dataLen);
      h.copy(body, 0, 8);
      await fh.read(body, HEADER - 8, d.dataLen, at + HEADER);
      if (crc32(body) !== d.crc) break;
      seg.offsets.push(at);
      seg.epochs.push(d.entry.epoch);
      at += HEADER + d.dataLen;
    }
    seg.size = at;
  } finally {
    await fh.close();
  }
  return seg;
}

/** u64 from a record header; corrupt values are caught by the record's CRC, not here. */
function readU64(h: Buffer, at: number): number {
  return h.readUInt32BE(at) * 0x1_0000_0000 + h.readUInt32BE(at + 4);
}
