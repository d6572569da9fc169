import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { blockChecksum } from '../checksum.ts';
import { StorageError } from '../errors.ts';

export const EXTENT_SIZE = 1024 * 1024;
export const BLOCK_SIZE = 4096;
/** Per block: u32 crc, u32 state (0 = never written, reads as zeroes; 1 = written). */
const SUM_ENTRY = 8;
const MAX_OPEN_EXTENTS = 128;

type Extent = { dat: FileHandle; sum: FileHandle; dirty: boolean };

/**
 * A volume's bytes as fixed-size extent files (`e<index>.dat`, sparse) with a sidecar of
 * per-4 KiB-block checksums (`e<index>.sum`).
 *
 * Contract: callers serialize calls (the replica's queue does). Reads verify every block
 * touched and throw `Checksum` on mismatch. Durability is not this layer's job: writes
 * reach the page cache; `sync()` fsyncs every extent dirtied since the last `sync()`.
 * At most {@link MAX_OPEN_EXTENTS} extents hold open file handles (LRU).
 */
export class ExtentStore {
  readonly #dir: string;
  readonly #open = new Map<number, Extent>();
  /** Extents written since the last `sync()` whose handles were closed (LRU eviction). */
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

  async #extent(index: number): Promise<Extent> {
    const hit = this.#open.get(index);
    if (hit !== undefined) {
      this.#open.delete(index);
      this.#open.set(index, hit);
      return hit;
    }
    if (this.#open.size >= MAX_OPEN_EXTENTS) {
      const [oldest, ext] = this.#open.entries().next().value as [number, Extent];
      this.#open.delete(oldest);
      // No fsync on eviction (it made random I/O fsync per write): sync() reopens it.
      if (ext.dirty) this.#dirtyClosed.add(oldest);
      await Promise.all([ext.dat.close(), ext.sum.close()]);
    }
    const ext: Extent = {
      dat: await openCreate(join(this.#dir, `e${index}.dat`)),
      sum: await openCreate(join(this.#dir, `e${index}.sum`)),
      dirty: false,
    };
    this.#open.set(index, ext);
    return ext;
  }

  async #close(ext: Extent): Promise<void> {
    if (ext.dirty) await Promise.all([ext.dat.datasync(), ext.sum.datasync()]);
    await Promise.all([ext.dat.close(), ext.sum.close()]);
  }

  /** Writes `data` at `offset`; `undefined` data writes zeroes of `length`. */
  async write(offset: number, length: number, data: Buffer | undefined): Promise<void> {
    let done = 0;
    while (done < length) {
      const pos = offset + done;
      const index = Math.floor(pos / EXTENT_SIZE);
      const within = pos % EXTENT_SIZE;
      const n = Math.min(length - done, EXTENT_SIZE - within);
      if (data === undefined && within === 0 && n === EXTENT_SIZE) await this.#dropExtent(index);
      else await this.#writeInExtent(index, within, data?.subarray(done, done + n) ?? Buffer.alloc(n));
      done += n;
    }
  }

  async #dropExtent(index: number): Promise<void> {
    this.#dirtyClosed.delete(index);
    const ext = this.#open.get(index);
    if (ext !== undefined) {
      this.#open.delete(index);
      ext.dirty = false;
      await this.#close(ext);
    }
    await rm(join(this.#dir, `e${index}.dat`), { force: true });
    await rm(join(this.#dir, `e${index}.sum`), { force: true });
  }

  async #writeInExtent(index: number, within: number, data: Buffer): Promise<void> {
    const ext = await this.#extent(index);
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
      await ext.dat.read(buf, 0, alignedLen, alignedStart);
      data.copy(buf, within - alignedStart);
    }
    const sums = Buffer.allocUnsafe((lastBlock - firstBlock + 1) * SUM_ENTRY);
    for (let b = 0; b <= lastBlock - firstBlock; b++) {
      sums.writeUInt32BE(blockChecksum(buf.subarray(b * BLOCK_SIZE, (b + 1) * BLOCK_SIZE)), b * SUM_ENTRY);
      sums.writeUInt32BE(1, b * SUM_ENTRY + 4);
    }
    await ext.dat.write(buf, 0, alignedLen, alignedStart);
    await ext.sum.write(sums, 0, sums.length, firstBlock * SUM_ENTRY);
    ext.dirty = true;
  }

  /** Reads `length` bytes at `offset`, verifying block checksums. */
  async read(offset: number, length: number): Promise<Buffer> {
    const out = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const pos = offset + done;
      const index = Math.floor(pos / EXTENT_SIZE);
      const within = pos % EXTENT_SIZE;
      const n = Math.min(length - done, EXTENT_SIZE - within);
      await this.#readInExtent(index, within, out.subarray(done, done + n));
      done += n;
    }
    return out;
  }

  async #readInExtent(index: number, within: number, into: Buffer): Promise<void> {
    const ext = await this.#extent(index);
    const firstBlock = Math.floor(within / BLOCK_SIZE);
    const lastBlock = Math.floor((within + into.length - 1) / BLOCK_SIZE);
    const blocks = lastBlock - firstBlock + 1;
    const buf = Buffer.alloc(blocks * BLOCK_SIZE);
    const sums = Buffer.alloc(blocks * SUM_ENTRY);
    await ext.dat.read(buf, 0, buf.length, firstBlock * BLOCK_SIZE);
    await ext.sum.read(sums, 0, sums.length, firstBlock * SUM_ENTRY);
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
    buf.copy(into, 0, within - firstBlock * BLOCK_SIZE);
  }

  /** Makes every write so far durable (fsync of dirtied extent files). */
  async sync(): Promise<void> {
    for (const index of [...this.#dirtyClosed]) {
      this.#dirtyClosed.delete(index);
      for (const suffix of ['dat', 'sum']) {
        const fh = await open(join(this.#dir, `e${index}.${suffix}`), 'r+');
        try {
          await fh.datasync();
        } finally {
          await fh.close();
        }
      }
    }
    for (const ext of this.#open.values()) {
      if (!ext.dirty) continue;
      await Promise.all([ext.dat.datasync(), ext.sum.datasync()]);
      ext.dirty = false;
    }
  }

  async close(): Promise<void> {
    for (const ext of this.#open.values()) await this.#close(ext);
    this.#open.clear();
  }
}

async function openCreate(path: string): Promise<FileHandle> {
  await (await open(path, 'a')).close();
  return open(path, 'r+');
}

function isZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i += 8) if (b.readBigUInt64LE(i) !== 0n) return false;
  return true;
}
