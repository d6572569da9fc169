import { HEADER_BYTES, MAX_FRAME_PAYLOAD } from './frame.ts';

/**
 * Largest message a session assembles from several frames: one full DATA frame plus room for
 * the small control frames that ride along with it.
 */
export const MESSAGE_BYTES = HEADER_BYTES + MAX_FRAME_PAYLOAD + 4 * 1024;

/**
 * Reusable buffers for outgoing messages. A WebSocket message is one buffer, so a session
 * copies each message's frames into one either way; taking that buffer from here instead of
 * allocating it keeps a bulk transfer from allocating a fresh 64 KiB ArrayBuffer (external
 * memory, for the garbage collector to account and free) per message.
 *
 * A buffer is given back only once the transport has handed its bytes to the socket (the
 * send callback), so nothing still queued is ever overwritten. Bounded: at most `maxFree`
 * buffers wait here; any beyond that are left to the garbage collector.
 */
export class MessagePool {
  readonly #size: number;
  readonly #maxFree: number;
  readonly #free: Buffer[] = [];

  constructor(size: number, maxFree: number) {
    this.#size = size;
    this.#maxFree = maxFree;
  }

  /** Bytes in each buffer. */
  get size(): number {
    return this.#size;
  }

  /** Buffers waiting for reuse. */
  get freeCount(): number {
    return this.#free.length;
  }

  /** A buffer of `size` bytes with arbitrary contents. */
  take(): Buffer {
    return this.#free.pop() ?? Buffer.allocUnsafeSlow(this.#size);
  }

  /** Returns a buffer from `take` whose bytes are no longer referenced anywhere. */
  give(b: Buffer): void {
    if (b.length === this.#size && this.#free.length < this.#maxFree) this.#free.push(b);
  }
}

/**
 * The process's pool, shared by every session: 32 buffers (~2.2 MiB) cover the write buffers
 * of a few saturated tunnels; a gateway with many busy tunnels allocates past it as before.
 */
export const messagePool = new MessagePool(MESSAGE_BYTES, 32);
