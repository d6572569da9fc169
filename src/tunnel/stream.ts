import { Duplex } from 'node:stream';
import { TunnelError } from './errors.ts';
import {
  FrameType,
  INITIAL_WINDOW,
  MAX_WINDOW,
  ResetCode,
  encodeFrame,
  frameHeader,
  resetFrame,
  windowUpdateFrame,
} from './frame.ts';

/** What a stream needs from its session. Internal to the tunnel. */
export interface StreamHost {
  readonly maxFramePayload: number;
  /** The stream has data or a FIN it can send now: pull it with `pullFrame`. */
  markReady(s: TunnelStream): void;
  /** Queue a control frame (WINDOW_UPDATE, RESET) ahead of all data. */
  sendControl(frame: Buffer): void;
  /** Both directions are finished or the stream was reset: forget it. */
  release(s: TunnelStream): void;
  /**
   * Takes up to `bytes` of window growth from the session's budget; returns what it got
   * (possibly 0). The stream hands it back with `returnGrowth` when it is released.
   */
  reserveGrowth(bytes: number): number;
  returnGrowth(bytes: number): void;
  /** The stream's reader keeps up and its window could grow: measure a round trip soon. */
  wantRoundTrip(): void;
}

export interface StreamOptions {
  /** Initial per-stream receive window: the most bytes the peer may have in flight to us. */
  readonly receiveWindow: number;
  /** Largest the receive window may grow to while the reader keeps up (≥ `receiveWindow`). */
  readonly maxReceiveWindow: number;
  readonly highWaterMark: number;
}

type Callback = (err?: Error | null) => void;

/**
 * One multiplexed stream: a Node `Duplex` with backpressure both ways.
 *
 * Contracts:
 * - Writing: a write's callback runs once its last byte is framed for the connection, which
 *   happens only while the peer has granted credit. A peer that stops reading this stream
 *   stops its writers — and only its writers. `end()` sends a CLOSE (half-close): the peer's
 *   readable side ends, its writable side stays open.
 * - Reading: the peer may send at most the current window ahead of what this stream's
 *   reader has taken. Credit is returned as the reader takes data, in WINDOW_UPDATEs of at
 *   least a quarter window. The window starts at `receiveWindow` and doubles (up to
 *   `maxReceiveWindow`, within the session's budget) when the reader takes half of it within
 *   one PING round trip; growth is granted only along with credit the reader freed, so
 *   buffered bytes per stream stay bounded by the window granted so far plus the readable
 *   high-water mark.
 * - `destroy()` before both directions finished sends a RESET (code Cancel); a RESET from
 *   the peer destroys the stream with `TunnelError('Reset')`; a session failure destroys it
 *   with the session's error. Listen for `'error'`.
 */
export class TunnelStream extends Duplex {
  /** Stream id: odd when the dialling side opened it, even when the accepting side did. */
  readonly id: number;
  /** The OPEN payload: what the opener said this stream is for (opaque to the tunnel). */
  readonly header: Buffer;

  readonly #host: StreamHost;
  /** The receive window granted so far: it only grows, and only while the reader keeps up. */
  #window: number;
  readonly #baseWindow: number;
  readonly #maxWindow: number;
  /** Growth the peer has not been told about yet: sent with the next credit the reader frees. */
  #owedGrowth = 0;
  /** Bytes the reader has taken over the stream's life, and that count when the last PING left. */
  #takenTotal = 0;
  #takenAtPing = 0;
  // send side
  #credit = INITIAL_WINDOW;
  #pending: { buf: Buffer; off: number; cb: Callback } | undefined;
  #finCb: Callback | undefined;
  #sentFin = false;
  // receive side
  #queue: Buffer[] = [];
  #queued = 0;
  /** Bytes the peer may still send before running out of credit. */
  #receivable: number;
  /** Bytes handed to the reader whose credit has not yet been returned. */
  #taken = 0;
  #wantRead = false;
  #recvFin = false;
  #pushedEnd = false;
  // lifecycle
  #reset = false;
  #released = false;

  /** Internal: created by `TunnelSession`. */
  constructor(host: StreamHost, id: number, header: Buffer, opts: StreamOptions) {
    super({
      allowHalfOpen: true,
      readableHighWaterMark: opts.highWaterMark,
      writableHighWaterMark: opts.highWaterMark,
    });
    this.id = id;
    this.header = header;
    this.#host = host;
    this.#window = Math.min(MAX_WINDOW, Math.max(INITIAL_WINDOW, opts.receiveWindow));
    this.#baseWindow = this.#window;
    this.#maxWindow = Math.min(MAX_WINDOW, Math.max(this.#window, opts.maxReceiveWindow));
    this.#receivable = this.#window;
  }

  /**
   * Internal: the WINDOW_UPDATE granting the window above the protocol's initial one, if any
   * is still of use (not after the peer's CLOSE or a reset).
   */
  initialGrant(): Buffer | undefined {
    return this.#window > INITIAL_WINDOW && !this.#recvFin && !this.#reset
      ? windowUpdateFrame(this.id, this.#window - INITIAL_WINDOW)
      : undefined;
  }

  /** Bytes received but not yet taken by the reader (for tests and metrics). */
  get bufferedIn(): number {
    return this.#queued + this.readableLength;
  }

  /** Whether the peer has closed its direction (its CLOSE arrived; buffered data may remain). */
  get finReceived(): boolean {
    return this.#recvFin;
  }

  /** The receive window granted to the peer so far (starts at `receiveWindow`, may grow). */
  get receiveWindow(): number {
    return this.#window;
  }

  /** Credit the peer has granted and this side has not used. */
  get sendCredit(): number {
    return this.#credit;
  }

  // ---- Duplex ----------------------------------------------------------------------------

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: Callback): void {
    if (chunk.length === 0) {
      cb();
      return;
    }
    this.#pending = { buf: chunk, off: 0, cb };
    if (this.#credit > 0) this.#host.markReady(this);
  }

  override _final(cb: Callback): void {
    this.#finCb = cb;
    this.#host.markReady(this);
  }

  override _read(): void {
    this.#wantRead = true;
    this.#deliver();
  }

  override _destroy(err: Error | null, cb: Callback): void {
    if (!this.#released && !this.#reset && !(this.#sentFin && this.#recvFin)) {
      this.#host.sendControl(resetFrame(this.id, ResetCode.Cancel, err?.message ?? 'stream destroyed'));
    }
    this.#reset = true;
    this.#pending = undefined;
    this.#finCb = undefined;
    this.#queue = [];
    this.#queued = 0;
    this.#release();
    cb(err);
  }

  // ---- called by the session ---------------------------------------------------------------

  /**
   * Internal: the next frame this stream can send, as buffers to write in order, and whether
   * it has more to send right away. Undefined when it has nothing sendable.
   */
  pullFrame(): { parts: Buffer[]; more: boolean } | undefined {
    if (this.#reset) return undefined;
    const p = this.#pending;
    if (p !== undefined) {
      if (this.#credit <= 0) return undefined;
      const n = Math.min(this.#credit, this.#host.maxFramePayload, p.buf.length - p.off);
      const payload = p.buf.subarray(p.off, p.off + n);
      p.off += n;
      this.#credit -= n;
      if (p.off === p.buf.length) {
        this.#pending = undefined;
        p.cb();
      }
      return {
        parts: [frameHeader(FrameType.Data, this.id, n), payload],
        more: this.#hasSendable(),
      };
    }
    if (this.#finCb !== undefined && !this.#sentFin) {
      const cb = this.#finCb;
      this.#finCb = undefined;
      this.#sentFin = true;
      cb();
      if (this.#recvFin) this.#release();
      return { parts: [encodeFrame(FrameType.Close, this.id)], more: false };
    }
    return undefined;
  }

  /** Internal: DATA from the peer. Throws `Protocol` when the peer exceeded its credit. */
  receiveData(payload: Buffer): void {
    if (this.#reset) return;
    if (this.#recvFin) throw new TunnelError('Protocol', `DATA after CLOSE on stream ${this.id}`);
    if (payload.length > this.#receivable)
      throw new TunnelError(
        'Protocol',
        `stream ${this.id}: peer sent ${payload.length} bytes with ${this.#receivable} of credit`,
      );
    this.#receivable -= payload.length;
    if (payload.length === 0) return;
    this.#queue.push(payload);
    this.#queued += payload.length;
    this.#deliver();
  }

  /** Internal: the peer's CLOSE (half-close). */
  receiveFin(): void {
    if (this.#reset || this.#recvFin) return;
    this.#recvFin = true;
    this.#deliver();
    if (this.#sentFin) this.#release();
  }

  /** Internal: the peer's WINDOW_UPDATE. */
  receiveCredit(increment: number): void {
    if (this.#reset) return;
    if (this.#credit + increment > MAX_WINDOW)
      throw new TunnelError('Protocol', `stream ${this.id}: window above ${MAX_WINDOW}`);
    this.#credit += increment;
    if (this.#hasSendable()) this.#host.markReady(this);
  }

  /** Internal: the session sent a PING; a round-trip measurement starts. */
  roundTripStarted(): void {
    this.#takenAtPing = this.#takenTotal;
  }

  /**
   * Internal: the PONG for that PING came back. If the reader took at least half the window
   * within that one round trip, the window — not the reader or the sender — limits the
   * stream (the sender spends a round trip waiting for credit), so the window doubles, up to
   * `maxReceiveWindow` and what the session's budget still has (BDP-style auto-tuning, as in
   * gRPC and quic-go). The growth is granted with the next credit the reader frees, never
   * before: a stream whose reader stalls keeps the window it has.
   */
  roundTripEnded(): void {
    const took = this.#takenTotal - this.#takenAtPing;
    if (this.#reset || this.#recvFin || this.#window >= this.#maxWindow || took < this.#window / 2) return;
    const got = this.#host.reserveGrowth(Math.min(this.#window, this.#maxWindow - this.#window));
    if (got === 0) return;
    this.#window += got;
    this.#owedGrowth += got;
  }

  /** Internal: the peer's RESET, or the session going away (`err` given, nothing sent). */
  receiveReset(err: TunnelError): void {
    if (this.#reset) return;
    this.#reset = true;
    this.#release();
    this.destroy(err);
  }

  // ---- internals ---------------------------------------------------------------------------

  #hasSendable(): boolean {
    if (this.#reset) return false;
    if (this.#pending !== undefined) return this.#credit > 0;
    return this.#finCb !== undefined && !this.#sentFin;
  }

  #deliver(): void {
    while (this.#wantRead && this.#queue.length > 0 && !this.destroyed) {
      const c = this.#queue.shift() as Buffer;
      this.#queued -= c.length;
      this.#taken += c.length;
      this.#takenTotal += c.length;
      this.#wantRead = this.push(c);
    }
    if (this.#queue.length === 0 && this.#recvFin && !this.#pushedEnd && !this.destroyed) {
      this.#pushedEnd = true;
      this.push(null);
    }
    // Return credit in batches of at least a quarter window (owed growth goes with the first
    // credit the reader frees); none is needed after the peer's FIN.
    if (
      !this.#recvFin &&
      !this.#reset &&
      (this.#taken >= this.#window / 4 || (this.#owedGrowth > 0 && this.#taken > 0))
    ) {
      const grant = this.#taken + this.#owedGrowth;
      this.#host.sendControl(windowUpdateFrame(this.id, grant));
      this.#receivable += grant;
      this.#taken = 0;
      this.#owedGrowth = 0;
      if (this.#window < this.#maxWindow) this.#host.wantRoundTrip();
    }
  }

  #release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#host.returnGrowth(this.#window - this.#baseWindow);
    this.#host.release(this);
  }
}
