import { StorageError } from '../errors.ts';

const TWO_32 = 0x1_0000_0000;

/** Writes a non-negative safe integer as a big-endian u64 at `at`. */
export function putU64(buf: Buffer, v: number, at: number): void {
  buf.writeUInt32BE(Math.floor(v / TWO_32), at);
  buf.writeUInt32BE(v >>> 0, at + 4);
}

/** Reads a big-endian u64 at `at`; throws `Protocol` above 2^53 - 1. */
export function getU64(buf: Buffer, at: number): number {
  const hi = buf.readUInt32BE(at);
  if (hi > 0x1f_ffff) throw new StorageError('Protocol', 'u64 out of range');
  return hi * TWO_32 + buf.readUInt32BE(at + 4);
}

/** Big-endian writer over a growable buffer, for small message headers. */
export class BufWriter {
  #buf: Buffer;
  #pos = 0;

  constructor(initial = 64) {
    this.#buf = Buffer.allocUnsafe(initial);
  }

  #ensure(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#pos + n));
    this.#buf.copy(next, 0, 0, this.#pos);
    this.#buf = next;
  }

  u8(v: number): this {
    this.#ensure(1);
    this.#pos = this.#buf.writeUInt8(v, this.#pos);
    return this;
  }
  u16(v: number): this {
    this.#ensure(2);
    this.#pos = this.#buf.writeUInt16BE(v, this.#pos);
    return this;
  }
  u32(v: number): this {
    this.#ensure(4);
    this.#pos = this.#buf.writeUInt32BE(v, this.#pos);
    return this;
  }
  /** Non-negative integers up to 2^53 (two u32 writes: no BigInt on the hot path). */
  u64(v: number): this {
    this.#ensure(8);
    putU64(this.#buf, v, this.#pos);
    this.#pos += 8;
    return this;
  }
  str(s: string): this {
    const bytes = Buffer.from(s, 'utf8');
    this.u32(bytes.length);
    return this.bytes(bytes);
  }
  bytes(b: Buffer): this {
    this.#ensure(b.length);
    b.copy(this.#buf, this.#pos);
    this.#pos += b.length;
    return this;
  }
  finish(): Buffer {
    return this.#buf.subarray(0, this.#pos);
  }
}

/** Big-endian reader; every read is bounds-checked and throws `Protocol` on overrun. */
export class BufReader {
  readonly #buf: Buffer;
  #pos: number;

  constructor(buf: Buffer, pos = 0) {
    this.#buf = buf;
    this.#pos = pos;
  }

  #need(n: number): number {
    if (this.#pos + n > this.#buf.length) throw new StorageError('Protocol', 'message truncated');
    const at = this.#pos;
    this.#pos += n;
    return at;
  }

  get remaining(): number {
    return this.#buf.length - this.#pos;
  }
  u8(): number {
    return this.#buf.readUInt8(this.#need(1));
  }
  u16(): number {
    return this.#buf.readUInt16BE(this.#need(2));
  }
  u32(): number {
    return this.#buf.readUInt32BE(this.#need(4));
  }
  u64(): number {
    return getU64(this.#buf, this.#need(8));
  }
  str(max = 4096): string {
    const n = this.u32();
    if (n > max) throw new StorageError('Protocol', `string longer than ${max}`);
    return this.bytes(n).toString('utf8');
  }
  bytes(n: number): Buffer {
    const at = this.#need(n);
    return this.#buf.subarray(at, at + n);
  }
  rest(): Buffer {
    return this.bytes(this.remaining);
  }
}
