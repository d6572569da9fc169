import type { Socket } from 'node:net';
import { StorageError } from '../errors.ts';
import type { SocketReader } from '../io/socket-reader.ts';
import { MAX_FRAME } from './messages.ts';

/**
 * One whole frame's body if it is already buffered (no promise, no event-loop hop: a
 * burst of frames is handled in one synchronous run), else undefined.
 */
export function tryReadFrame(reader: SocketReader): Buffer | undefined {
  const len = reader.peekU32();
  if (len === undefined || reader.buffered < 4 + len) return undefined;
  if (len > MAX_FRAME) throw new StorageError('Protocol', `frame of ${len} bytes exceeds ${MAX_FRAME}`);
  reader.tryRead(4);
  return reader.tryRead(len);
}

/** Reads one length-prefixed frame body; rejects frames over {@link MAX_FRAME}. */
export async function readFrame(reader: SocketReader): Promise<Buffer> {
  const head = reader.tryRead(4) ?? (await reader.read(4));
  const len = head.readUInt32BE(0);
  if (len > MAX_FRAME) throw new StorageError('Protocol', `frame of ${len} bytes exceeds ${MAX_FRAME}`);
  return reader.tryRead(len) ?? reader.read(len);
}

/** Parts at most this big are copied into one buffer per flush; larger ones go by reference. */
const COALESCE_MAX = 64 * 1024;

/**
 * Batches a socket's writes: everything written in one turn of the event loop (one
 * macrotask plus its microtasks) leaves in one `write` when the batch is flushed on the
 * next tick. Small parts (headers, replies, 4 KiB payloads) are copied into one buffer,
 * so a turn with 16 replies costs one syscall and one stream write, not 16; large
 * payloads are passed by reference in a corked run (one `writev`). Frames never
 * interleave: each `write` call appends its parts back-to-back, synchronously.
 */
export class FrameSink {
  readonly #socket: Socket;
  #parts: Buffer[] = [];
  #bytes = 0;
  #scheduled = false;
  #drain: Promise<void> | undefined;
  readonly #flush = (): void => {
    this.#scheduled = false;
    const parts = this.#parts;
    const bytes = this.#bytes;
    this.#parts = [];
    this.#bytes = 0;
    const s = this.#socket;
    if (s.destroyed || parts.length === 0) return;
    if (parts.length === 1) s.write(parts[0] as Buffer);
    else if (bytes <= COALESCE_MAX) s.write(Buffer.concat(parts, bytes));
    else {
      s.cork();
      let run: Buffer[] = [];
      let runBytes = 0;
      const flushRun = (): void => {
        if (run.length > 0) s.write(run.length === 1 ? (run[0] as Buffer) : Buffer.concat(run, runBytes));
        run = [];
        runBytes = 0;
      };
      for (const p of parts) {
        if (p.length > COALESCE_MAX / 4 || runBytes + p.length > COALESCE_MAX) flushRun();
        if (p.length > COALESCE_MAX / 4) s.write(p);
        else {
          run.push(p);
          runBytes += p.length;
        }
      }
      flushRun();
      s.uncork();
    }
  };

  constructor(socket: Socket) {
    this.#socket = socket;
  }

  /** Queues `parts`; false when the socket's buffer will be past its high-water mark (see `drained`). */
  write(parts: readonly Buffer[]): boolean {
    const s = this.#socket;
    if (s.destroyed) return true;
    for (const p of parts) {
      this.#parts.push(p);
      this.#bytes += p.length;
    }
    if (!this.#scheduled) {
      this.#scheduled = true;
      process.nextTick(this.#flush);
    }
    return this.#bytes + s.writableLength < s.writableHighWaterMark;
  }

  /**
   * Resolves once the send buffer drained below its high-water mark (or the socket
   * closed). Every waiter of one drain cycle shares one promise and one pair of listeners.
   */
  drained(): Promise<void> {
    const s = this.#socket;
    if (s.destroyed || this.#bytes + s.writableLength < s.writableHighWaterMark) return Promise.resolve();
    this.#drain ??= new Promise<void>((resolve) => {
      const done = (): void => {
        s.off('drain', done);
        s.off('close', done);
        this.#drain = undefined;
        resolve();
      };
      // After this turn's flush the socket either wrote everything (no 'drain' will come)
      // or is past its mark and emits 'drain' later.
      process.nextTick(() => {
        if (s.destroyed || !s.writableNeedDrain) done();
        else {
          s.on('drain', done);
          s.on('close', done);
        }
      });
    });
    return this.#drain;
  }
}
