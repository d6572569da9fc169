import { closeSync, constants, fdatasync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { blockChecksum } from '../checksum.ts';
import { StorageError } from '../errors.ts';

export const EXTENT_SIZE = 1024 * 1024;
export const BLOCK_SIZE = 4096;
/** Per block: u32 crc, u32 state (0 = never written, reads as zeroes; 1 = written). */
const SUM_ENTRY = 8;
/** Open extents per volume (two fds each); 512 covers 512 MiB of random I/O without reopening. */
const MAX_OPEN_EXTENTS = 512;
const OPEN_RW = constants.O_RDWR | constants.O_CREAT;
const fdatasyncAsync = promisify(fdatasync);

type Extent = { readonly dat: number; readonly sum: number; dirty: boolean; pins: number };

/**
 * A volume's bytes as fixed-size extent files (`e<index>.dat`, sparse) with a sidecar of
 * per-4 KiB-block checksums (`e<index>.sum`).
 *
 * Contract: `write` and `read` are synchronous positional I/O on long-lived fds. They hit
 * the page cache, cost a few µs, and keep ordering trivial (a read sees every write that
 * returned before it; no two writes interleave). The price: a cold read blocks this
 * process's event loop for one disk read, which is why a node runs as its own process.
 * Reads verify every block touched and throw `Checksum` on mismatch. Durability is not
 * this layer's job: `sync()` fdatasyncs (off the event loop) every extent dirtied before
 * the call; writes may continue meanwhile. At most {@link MAX_OPEN_EXTENTS} extents hold
 * open fds (LRU; an extent being synced is pinned, never closed under the fsync).
 */
export class ExtentStore {
  readonly #dir: string;
  readonly #open = new Map<number, Extent>();
  /** Extents written since their last sync whose fds were closed (LRU eviction). */
  readonly #dirtyClosed = new Set<number>();
  #checksumErrors = 0;

  private constructor(dir: string) {
    this.#dir = dir;
  }

  static async open(dir: string): Promise<ExtentStore> {
    await mkdir(dir, { recursive: true });
    return new ExtentStore(dir);
  }

  get checksumErrors(): number {
    return this.#checksumErrors;
  }

  #extent(index: number): Extent {
    const hit = this.#open.get(index);
    if (hit !== undefined) {
      this.#open.delete(index);
      this.#open.set(index, hit);
      return hit;
    }
    if (this.#open.size >= MAX_OPEN_EXTENTS) this.#evictOne();
    const ext: Extent = {
      dat: openSync(join(this.#dir, `e${index}.dat`), OPEN_RW, 0o644),
      sum: openSync(join(this.#dir, `e${index}.sum`), OPEN_RW, 0o644),
      dirty: false,
      pins: 0,
    };
    this.#open.set(index, ext);
    return ext;
  }

  #evictOne(): void {
    for (const [index, ext] of this.#open) {
      if (ext.pins > 0) continue;
      this.#open.delete(index);
      // No fsync on eviction (it made random I/O fsync per write): sync() reopens it.
      if (ext.dirty) this.#dirtyClosed.add(index);
      closeSync(ext.dat);
      closeSync(ext.sum);
      return;
    }
  }

  /** Writes `data` at `offset`; `undefined` data writes zeroes of `length`. */
  write(offset: number, length: number, data: Buffer | undefined): void {
    let done = 0;
    while (done < length) {
      const pos = offset + done;
      const index = Math.floor(pos / EXTENT_SIZE);
      const within = pos % EXTENT_SIZE;
      const n = Math.min(length - done, EXTENT_SIZE - within);
      if (data === undefined && within === 0 && n === EXTENT_SIZE) this.#dropExtent(index);
      else this.#writeInExtent(index, within, data?.subarray(done, done + n) ?? Buffer.alloc(n));
      done += n;
    }
  }

  #dropExtent(index: number): void {
    this.#dirtyClosed.delete(index);
    const ext = this.#open.get(index);
    if (ext !== undefined && ext.pins === 0) {
      this.#open.delete(index);
      closeSync(ext.dat);
      closeSync(ext.sum);
    }
    if (ext !== undefined && ext.pins > 0) {
      // Being fsynced: cannot close under it, so zero it in place instead.
      this.#writeInExtent(index, 0, Buffer.alloc(EXTENT_SIZE));
      return;
    }
    // The unlink itself becomes durable with the next sync of the directory's data: a
    // crash may resurrect the old extent, but only for writes that were never flushed.
    rmSync(join(this.#dir, `e${index}.dat`), { force: true });
    rmSync(join(this.#dir, `e${index}.sum`), { force: true });
  }

  #writeInExtent(index: number, within: number, data: Buffer): void {
    const ext = this.#extent(index);
    const firstBlock = Math.floor(within / BLOCK_SIZE);
    const lastBlock = Math.floor((within + data.length - 1) / BLOCK_SIZE);
    const alignedStart = firstBlock * BLOCK_SIZE;
    const alignedLen = (lastBlock - firstBlock + 1) * BLOCK_SIZE;
    let buf: Buffer;
    if (alignedStart === within && alignedLen === data.length) {
      buf = data;
    } else {
      // Partial blocks: merge with existing bytes so each block's checksum stays whole.
      buf = Buffer.alloc(alignedLen);
      readSync(ext.dat, buf, 0, alignedLen, alignedStart);
      data.copy(buf, within - alignedStart);
    }
    const blocks = lastBlock - firstBlock + 1;
    const sums = Buffer.allocUnsafe(blocks * SUM_ENTRY);
    for (let b = 0; b < blocks; b++) {
      sums.writeUInt32BE(blockChecksum(buf.subarray(b * BLOCK_SIZE, (b + 1) * BLOCK_SIZE)), b * SUM_ENTRY);
      sums.writeUInt32BE(1, b * SUM_ENTRY + 4);
    }
    writeAll(ext.dat, buf, alignedStart);
    writeAll(ext.sum, sums, firstBlock * SUM_ENTRY);
    ext.dirty = true;
  }

  /** Reads `length` bytes at `offset`, verifying block checksums. */
  read(offset: number, length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const pos = offset + done;
      const index = Math.floor(pos / EXTENT_SIZE);
      const within = pos % EXTENT_SIZE;
      const n = Math.min(length - done, EXTENT_SIZE - within);
      this.#readInExtent(index, within, out.subarray(done, done + n));
      done += n;
    }
    return out;
  }

  #readInExtent(index: number, within: number, into: Buffer): void {
    const ext = this.#extent(index);
    const firstBlock = Math.floor(within / BLOCK_SIZE);
    const lastBlock = Math.floor((within + into.length - 1) / BLOCK_SIZE);
    const blocks = lastBlock - firstBlock + 1;
    const aligned = within === firstBlock * BLOCK_SIZE && into.length === blocks * BLOCK_SIZE;
    // Aligned reads land straight in the caller's buffer (no copy).
    const buf = aligned ? into : Buffer.allocUnsafe(blocks * BLOCK_SIZE);
    const got = readSync(ext.dat, buf, 0, buf.length, firstBlock * BLOCK_SIZE);
    if (got < buf.length) buf.fill(0, got); // sparse tail past EOF reads as zeroes
    const sums = Buffer.alloc(blocks * SUM_ENTRY);
    readSync(ext.sum, sums, 0, sums.length, firstBlock * SUM_ENTRY);
    for (let b = 0; b < blocks; b++) {
      const block = buf.subarray(b * BLOCK_SIZE, (b + 1) * BLOCK_SIZE);
      const written = sums.readUInt32BE(b * SUM_ENTRY + 4) === 1;
      const ok = written ? sums.readUInt32BE(b * SUM_ENTRY) === blockChecksum(block) : isZero(block);
      if (!ok) {
        this.#checksumErrors++;
        throw new StorageError(
          'Checksum',
          `checksum mismatch in extent ${index} block ${firstBlock + b} of ${this.#dir}`,
        );
      }
    }
    if (!aligned) buf.copy(into, 0, within - firstBlock * BLOCK_SIZE);
  }

  /** Makes every write that returned before the call durable (fdatasync off the event loop). */
  async sync(): Promise<void> {
    const closed = [...this.#dirtyClosed];
    this.#dirtyClosed.clear();
    const pinned: Extent[] = [];
    for (const ext of this.#open.values()) {
      if (!ext.dirty) continue;
      ext.dirty = false; // writes from here on dirty it again for the next sync
      ext.pins++;
      pinned.push(ext);
    }
    try {
      for (const ext of pinned) await Promise.all([fdatasyncAsync(ext.dat), fdatasyncAsync(ext.sum)]);
      for (const index of closed) {
        for (const suffix of ['dat', 'sum']) {
          const fh = await open(join(this.#dir, `e${index}.${suffix}`), 'r+').catch((e: unknown) => {
            if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // dropped since
            throw e;
          });
          try {
            await fh?.datasync();
          } finally {
            await fh?.close();
          }
        }
      }
    } catch (e) {
      for (const ext of pinned) ext.dirty = true; // not known durable: retry next time
      for (const index of closed) this.#dirtyClosed.add(index);
      throw e;
    } finally {
      for (const ext of pinned) ext.pins--;
    }
  }

  async close(): Promise<void> {
    await this.sync();
    for (const ext of this.#open.values()) {
      closeSync(ext.dat);
      closeSync(ext.sum);
    }
    this.#open.clear();
  }
}

function writeAll(fd: number, buf: Buffer, position: number): void {
  let done = 0;
  while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done, position + done);
}

const ZERO_BLOCK = Buffer.alloc(BLOCK_SIZE);

function isZero(b: Buffer): boolean {
  return b.equals(ZERO_BLOCK);
}
