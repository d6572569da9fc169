import type { Socket } from 'node:net';
import { StorageError } from '../errors.ts';

/**
 * Reads exact byte counts from a socket with a bounded buffer.
 *
 * Contract: at most `max(maxBuffered, bytes wanted by the pending read)` bytes are held;
 * past that the socket is paused, so a fast sender is throttled by TCP instead of
 * growing memory. `read` rejects with `Unavailable` once the socket ended and too few
 * bytes remain. Only one `read` may be pending at a time.
 */
export class SocketReader {
  readonly #socket: Socket;
  readonly #maxBuffered: number;
  #chunks: Buffer[] = [];
  #length = 0;
  #wanted = 0;
  #ended = false;
  #wake: (() => void) | undefined;
  readonly #onData: (chunk: Buffer) => void;
  readonly #onEnd: () => void;

  constructor(socket: Socket, maxBuffered: number) {
    this.#socket = socket;
    this.#maxBuffered = maxBuffered;
    this.#onData = (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#length += chunk.length;
      if (this.#length >= Math.max(this.#maxBuffered, this.#wanted)) socket.pause();
      this.#notify();
    };
    this.#onEnd = (): void => {
      this.#ended = true;
      this.#notify();
    };
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onEnd);
    socket.on('error', this.#onEnd);
  }

  /**
   * Stops reading the socket (another reader takes it over, e.g. a TLS layer after
   * STARTTLS). Returns bytes already buffered but not yet read.
   */
  detach(): Buffer {
    this.#socket.off('data', this.#onData);
    this.#socket.off('end', this.#onEnd);
    this.#socket.off('close', this.#onEnd);
    this.#socket.off('error', this.#onEnd);
    const rest = Buffer.concat(this.#chunks);
    this.#chunks = [];
    this.#length = 0;
    return rest;
  }

  /** Bytes currently buffered (for tests and metrics). */
  get buffered(): number {
    return this.#length;
  }

  /** The big-endian u32 at the front, without consuming it; undefined if under 4 bytes. */
  peekU32(): number | undefined {
    if (this.#length < 4) return undefined;
    const first = this.#chunks[0] as Buffer;
    if (first.length >= 4) return first.readUInt32BE(0);
    let v = 0;
    let got = 0;
    for (const c of this.#chunks) {
      for (let i = 0; i < c.length && got < 4; i++, got++) v = v * 256 + (c[i] as number);
      if (got === 4) break;
    }
    return v;
  }

  /** Exactly `n` bytes if already buffered (no promise, no event-loop hop), else undefined. */
  tryRead(n: number): Buffer | undefined {
    if (this.#length < n) return undefined;
    const out = this.#take(n);
    if (this.#length < this.#maxBuffered && this.#socket.isPaused() && !this.#ended) this.#socket.resume();
    return out;
  }

  /** Resolves with exactly `n` bytes, or rejects if the stream ends first. */
  async read(n: number): Promise<Buffer> {
    this.#wanted = n;
    while (this.#length < n) {
      if (this.#ended) throw new StorageError('Unavailable', 'connection closed');
      if (this.#socket.isPaused()) this.#socket.resume();
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
    this.#wanted = 0;
    const out = this.#take(n);
    if (this.#length < this.#maxBuffered && this.#socket.isPaused() && !this.#ended) this.#socket.resume();
    return out;
  }

  #take(n: number): Buffer {
    const first = this.#chunks[0];
    if (first !== undefined && first.length >= n) {
      this.#length -= n;
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[0];
      if (chunk === undefined) throw new StorageError('Protocol', 'reader underflow');
      const take = Math.min(chunk.length, n - filled);
      chunk.copy(out, filled, 0, take);
      filled += take;
      if (take === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(take);
    }
    this.#length -= n;
    return out;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
