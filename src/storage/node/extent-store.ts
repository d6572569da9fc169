import { closeSync, constants, fdatasync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { blockChecksum } from '../checksum.ts';
import { StorageError } from '../errors.ts';

/**
 * 16 MiB: creating an extent's two files costs ~1-2 ms on the test VMs' ext4; at 1 MiB a
 * fresh volume paid that every 256 random 4 KiB writes (11% of CPU in the profile).
 */
export const EXTENT_SIZE = 16 * 1024 * 1024;
export const BLOCK_SIZE = 4096;
/** Per block: u32 crc, u32 state (0 = never written, reads as zeroes; 1 = written). */
const SUM_ENTRY = 8;
/** Open extents per volume (two fds and 32 KiB of checksums each): a 2 GiB hot set. */
const MAX_OPEN_EXTENTS = 128;
const OPEN_RW = constants.O_RDWR | constants.O_CREAT;
const fdatasyncAsync = promisify(fdatasync);

const SUMS_BYTES = (EXTENT_SIZE / BLOCK_SIZE) * SUM_ENTRY;

type Extent = {
  readonly dat: number;
  readonly sum: number;
  /** The whole `.sum` file, authoritative while the extent is open; written back lazily. */
  readonly sums: Buffer;
  sumsDirty: boolean;
  /** Data written since the last sync. */
  dirty: boolean;
  pins: number;
};

/**
 * A volume's bytes as fixed-size extent files (`e<index>.dat`, sparse) with a sidecar of
 * per-4 KiB-block checksums (`e<index>.sum`).
 *
 * Contract: `write` and `read` are synchronous positional I/O on long-lived fds. They hit
 * the page cache, cost a few µs, and keep ordering trivial (a read sees every write that
 * returned before it; no two writes interleave). The price: a cold read blocks this
 * process's event loop for one disk read, which is why a node runs as its own process.
 * Reads verify every block touched and throw `Checksum` on mismatch. An open extent's
 * checksums live in memory and reach the `.sum` file at `sync()`, eviction and close (one
 * syscall per write saved): after a process crash, blocks written since the last `sync()`
 * may disagree with their stored checksum, which is why the replica replays its log from
 * the last checkpoint (taken only after `sync()`) before serving. Durability is not this
 * layer's job: `sync()` fdatasyncs (off the event loop) every extent dirtied before the
 * call; writes may continue meanwhile. At most {@link MAX_OPEN_EXTENTS} extents hold
 * open fds (LRU; an extent being synced is pinned, never closed under the fsync).
 */
export class ExtentStore {
  readonly #dir: string;
  readonly #open = new Map<number, Extent>();
  /** Extents written since their last sync whose fds were closed (LRU eviction). */
  readonly #dirtyClosed = new Set<number>();
  /** Extent files may have been created or removed since the directory was last fsynced. */
  #dirDirty = false;
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
    this.#dirDirty = true; // the open may have created the files
    const sum = openSync(join(this.#dir, `e${index}.sum`), OPEN_RW, 0o644);
    const sums = Buffer.alloc(SUMS_BYTES);
    readSync(sum, sums, 0, SUMS_BYTES, 0); // short (or empty) file: the rest stays "never written"
    const dat = openSync(join(this.#dir, `e${index}.dat`), OPEN_RW, 0o644);
    const ext: Extent = { dat, sum, sums, sumsDirty: false, dirty: false, pins: 0 };
    this.#open.set(index, ext);
    return ext;
  }

  #evictOne(): void {
    for (const [index, ext] of this.#open) {
      if (ext.pins > 0) continue;
      this.#open.delete(index);
      // No fsync on eviction (it made random I/O fsync per write): sync() reopens it.
      writeSums(ext);
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
    // The unlink becomes durable with the directory fsync in the next sync(), before any
    // checkpoint can let the log record of this zeroing go.
    this.#dirDirty = true;
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
    writeAll(ext.dat, buf, alignedStart);
    for (let b = 0; b < blocks; b++) {
      const at = (firstBlock + b) * SUM_ENTRY;
      ext.sums.writeUInt32BE(blockChecksum(buf.subarray(b * BLOCK_SIZE, (b + 1) * BLOCK_SIZE)), at);
      ext.sums.writeUInt32BE(1, at + 4);
    }
    ext.sumsDirty = true;
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
    const sums = ext.sums;
    for (let b = 0; b < blocks; b++) {
      const block = buf.subarray(b * BLOCK_SIZE, (b + 1) * BLOCK_SIZE);
      const at = (firstBlock + b) * SUM_ENTRY;
      const written = sums.readUInt32BE(at + 4) === 1;
      const ok = written ? sums.readUInt32BE(at) === blockChecksum(block) : isZero(block);
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
    const dirDirty = this.#dirDirty;
    this.#dirDirty = false;
    const pinned: Extent[] = [];
    for (const ext of this.#open.values()) {
      if (!ext.dirty) continue;
      writeSums(ext);
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
      if (dirDirty) {
        const d = await open(this.#dir, 'r');
        try {
          await d.sync();
        } finally {
          await d.close();
        }
      }
    } catch (e) {
      if (dirDirty) this.#dirDirty = true;
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
      writeSums(ext);
      closeSync(ext.dat);
      closeSync(ext.sum);
    }
    this.#open.clear();
  }
}

function writeSums(ext: Extent): void {
  if (!ext.sumsDirty) return;
  writeAll(ext.sum, ext.sums, 0);
  ext.sumsDirty = false;
}

function writeAll(fd: number, buf: Buffer, position: number): void {
  let done = 0;
  while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done, position + done);
}

const ZERO_BLOCK = Buffer.alloc(BLOCK_SIZE);

function isZero(b: Buffer): boolean {
  return b.equals(ZERO_BLOCK);
}
