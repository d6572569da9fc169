import { mkdir, open, readdir, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { StorageError } from '../errors.ts';
import type { WriteEntry, WriteKind } from '../protocol/messages.ts';

const MAGIC = 0x4d57414c; // "MWAL"
const HEADER = 44;
const kinds: WriteKind[] = ['data', 'zero', 'trim'];

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
 * Contract: seqs are contiguous (the replica only appends `lastSeq + 1`). `sync()` makes
 * everything appended durable. On open, a torn or corrupt tail (failed CRC) is cut off:
 * those writes were never acknowledged as durable. Memory: one offset and epoch per
 * retained record, bounded by `retainBytes` plus one segment.
 */
export class WriteLog {
  readonly #dir: string;
  readonly #opts: WriteLogOptions;
  readonly #segments: Segment[] = [];
  #fh: FileHandle | undefined;
  #dirty = false;

  private constructor(dir: string, opts: WriteLogOptions) {
    this.#dir = dir;
    this.#opts = opts;
  }

  /** Opens (or creates) the log; `startAfter` is the seq preceding the first record if empty. */
  static async open(dir: string, opts: WriteLogOptions, startAfter: number): Promise<WriteLog> {
    await mkdir(dir, { recursive: true });
    const log = new WriteLog(dir, opts);
    const names = (await readdir(dir)).filter((n) => /^log-\d+\.wal$/.test(n)).sort();
    for (const name of names) {
      const firstSeq = Number(name.slice(4, -4));
      const seg = await scanSegment(join(dir, name), firstSeq);
      const prev = log.#segments.at(-1);
      const contiguous = prev === undefined || prev.firstSeq + prev.offsets.length === firstSeq;
      if (!contiguous || seg.offsets.length === 0) {
        await rm(seg.path, { force: true });
        continue;
      }
      log.#segments.push(seg);
    }
    if (log.#segments.length === 0) log.#segments.push(emptySegment(dir, startAfter + 1));
    const tail = log.#segments.at(-1) as Segment;
    log.#fh = await open(tail.path, 'a+');
    await log.#fh.truncate(tail.size);
    return log;
  }

  /** Seq of the last record (or the seq before the first, if empty). */
  get lastSeq(): number {
    const tail = this.#segments.at(-1) as Segment;
    return tail.firstSeq + tail.offsets.length - 1;
  }

  /** Oldest `fromSeq` that `read` can serve: records after it are all retained. */
  get oldestFrom(): number {
    return (this.#segments[0] as Segment).firstSeq - 1;
  }

  get bytes(): number {
    return this.#segments.reduce((n, s) => n + s.size, 0);
  }

  /** Epoch of record `seq`, or undefined if not retained. */
  epochOf(seq: number): number | undefined {
    for (const s of this.#segments) {
      const i = seq - s.firstSeq;
      if (i >= 0 && i < s.epochs.length) return s.epochs[i];
    }
    return undefined;
  }

  async append(e: WriteEntry): Promise<void> {
    if (e.seq !== this.lastSeq + 1)
      throw new StorageError('SeqGap', `log append ${e.seq} after ${this.lastSeq}`);
    let tail = this.#segments.at(-1) as Segment;
    if (tail.size >= this.#opts.segmentBytes) tail = await this.#rotate(e.seq);
    const rec = encodeRecord(e);
    await (this.#fh as FileHandle).write(rec, 0, rec.length, tail.size);
    tail.offsets.push(tail.size);
    tail.epochs.push(e.epoch);
    tail.size += rec.length;
    this.#dirty = true;
  }

  async #rotate(firstSeq: number): Promise<Segment> {
    const fh = this.#fh as FileHandle;
    await fh.datasync();
    await fh.close();
    const seg = emptySegment(this.#dir, firstSeq);
    this.#segments.push(seg);
    this.#fh = await open(seg.path, 'a+');
    return seg;
  }

  async sync(): Promise<void> {
    if (!this.#dirty) return;
    this.#dirty = false;
    await (this.#fh as FileHandle).datasync();
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
    const out: WriteEntry[] = [];
    let bytes = 0;
    for (const seg of this.#segments) {
      const start = afterSeq + 1 - seg.firstSeq;
      if (start >= seg.offsets.length) continue;
      const fh = await open(seg.path, 'r');
      try {
        for (let i = Math.max(0, start); i < seg.offsets.length; i++) {
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
    await this.#fh?.close();
    this.#fh = undefined;
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

function encodeRecord(e: WriteEntry): Buffer {
  const dataLen = e.data?.length ?? 0;
  const rec = Buffer.allocUnsafe(HEADER + dataLen);
  rec.writeUInt32BE(MAGIC, 0);
  rec.writeBigUInt64BE(BigInt(e.epoch), 8);
  rec.writeBigUInt64BE(BigInt(e.seq), 16);
  rec.writeUInt8(kinds.indexOf(e.kind), 24);
  rec.fill(0, 25, 28);
  rec.writeBigUInt64BE(BigInt(e.offset), 28);
  rec.writeUInt32BE(e.length, 36);
  rec.writeUInt32BE(dataLen, 40);
  e.data?.copy(rec, HEADER);
  rec.writeUInt32BE(crc32(rec.subarray(8)), 4);
  return rec;
}

function decodeHeader(
  h: Buffer,
): { entry: Omit<WriteEntry, 'data'>; dataLen: number; crc: number } | undefined {
  if (h.readUInt32BE(0) !== MAGIC) return undefined;
  const kind = kinds[h.readUInt8(24)];
  if (kind === undefined) return undefined;
  return {
    entry: {
      epoch: Number(h.readBigUInt64BE(8)),
      seq: Number(h.readBigUInt64BE(16)),
      kind,
      offset: Number(h.readBigUInt64BE(28)),
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
