import type { Socket } from 'node:net';
import { StorageError } from '../errors.ts';
import type { SocketReader } from '../io/socket-reader.ts';
import { MAX_FRAME } from './messages.ts';

/** Reads one length-prefixed frame body; rejects frames over {@link MAX_FRAME}. */
export async function readFrame(reader: SocketReader): Promise<Buffer> {
  const head = reader.tryRead(4) ?? (await reader.read(4));
  const len = head.readUInt32BE(0);
  if (len > MAX_FRAME) throw new StorageError('Protocol', `frame of ${len} bytes exceeds ${MAX_FRAME}`);
  return reader.tryRead(len) ?? reader.read(len);
}

/**
 * Batches a socket's writes: everything written in one turn of the event loop (one
 * macrotask plus its microtasks) leaves in a single `writev` when the socket is uncorked
 * on the next tick, instead of one `write` syscall per buffer. Frames never interleave
 * (each `write` call appends its buffers back-to-back, synchronously).
 */
export class FrameSink {
  readonly #socket: Socket;
  #corked = false;
  #drain: Promise<void> | undefined;
  readonly #uncork = (): void => {
    this.#corked = false;
    this.#socket.uncork();
  };

  constructor(socket: Socket) {
    this.#socket = socket;
  }

  /** Queues `parts`; false when the socket's buffer is past its high-water mark (see `drained`). */
  write(parts: readonly Buffer[]): boolean {
    const s = this.#socket;
    if (s.destroyed) return true;
    if (!this.#corked) {
      this.#corked = true;
      s.cork();
      process.nextTick(this.#uncork);
    }
    let ok = true;
    for (const p of parts) ok = s.write(p);
    return ok;
  }

  /**
   * Resolves once the send buffer drained below its high-water mark (or the socket
   * closed). Every waiter of one drain cycle shares one promise and one pair of listeners.
   */
  drained(): Promise<void> {
    const s = this.#socket;
    if (!s.writableNeedDrain || s.destroyed) return Promise.resolve();
    this.#drain ??= new Promise<void>((resolve) => {
      const done = (): void => {
        s.off('drain', done);
        s.off('close', done);
        this.#drain = undefined;
        resolve();
      };
      s.on('drain', done);
      s.on('close', done);
    });
    return this.#drain;
  }
}

/**
 * Writes one frame and resolves when the socket's buffer drained below its high-water
 * mark, so a slow peer throttles the writer instead of growing memory.
 */
export async function writeFrame(sink: FrameSink, parts: readonly Buffer[]): Promise<void> {
  if (!sink.write(parts)) await sink.drained();
}
