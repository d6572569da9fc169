import { randomBytes } from 'node:crypto';
import { systemClock, type Clock, type Timer } from '../kube/clock.ts';
import { TunnelError } from './errors.ts';
import {
  FrameType,
  MAX_FRAME_PAYLOAD,
  PING_PAYLOAD_BYTES,
  ResetCode,
  decodeFrames,
  encodeFrame,
  parseReset,
  parseWindowUpdate,
  resetFrame,
  type Frame,
} from './frame.ts';
import { TunnelStream, type StreamHost } from './stream.ts';
import { MESSAGE_BYTES, messagePool } from './message-pool.ts';
import type { FrameTransport } from './transport.ts';

export interface SessionOptions {
  /** The dialling side opens odd stream ids, the accepting side even ones. */
  readonly role: 'dialer' | 'acceptor';
  /** Called for each stream the peer opens. Without it, every peer-opened stream is refused. */
  readonly onStream?: (stream: TunnelStream) => void;
  /** Initial per-stream receive window (bytes the peer may send ahead of our reader). Default 256 KiB. */
  readonly receiveWindow?: number;
  /**
   * Largest a stream's receive window grows to while its reader keeps up (auto-tuning, see
   * docs/tunnel.md). Default 4 MiB; equal to `receiveWindow` turns growth off.
   */
  readonly maxReceiveWindow?: number;
  /** Most window growth (bytes above the streams' initial windows) all streams together may hold. Default 16 MiB. */
  readonly receiveWindowBudget?: number;
  /** Readable/writable high-water mark of each stream. Default 64 KiB. */
  readonly highWaterMark?: number;
  /** Most concurrent streams the peer may open, and the most this side may open. Default 1024. */
  readonly maxStreams?: number;
  /** Largest DATA payload this side sends (≤ 64 KiB). Default 64 KiB. */
  readonly maxFramePayload?: number;
  /** Most bytes handed to the transport and not yet flushed to the socket. Default 512 KiB. */
  readonly writeBufferBytes?: number;
  /** Time between a PONG and the next PING. Default 3 s. */
  readonly pingIntervalMs?: number;
  /** A PING unanswered this long means the peer is dead or not reading. Default 6 s. */
  readonly pingTimeoutMs?: number;
  readonly clock?: Clock;
}

/** Frames of one message we aim for when coalescing small frames. */
const BATCH_BYTES = 64 * 1024;

/**
 * A stream multiplexer over one message connection (see docs/tunnel.md).
 *
 * Contracts:
 * - Per-stream credit flow control: a stream whose reader stalls holds at most its window
 *   plus a high-water mark of buffered data, and never delays other streams or pings. A
 *   window grows (auto-tuning) only while its reader keeps up, within `maxReceiveWindow`
 *   per stream and `receiveWindowBudget` per session.
 * - Control frames (PING/PONG, WINDOW_UPDATE, RESET, OPEN) are written before any queued
 *   data; data frames of ready streams are interleaved round-robin, one frame per turn.
 * - Every buffer is bounded: per-stream windows, at most `maxStreams` streams each way, at
 *   most `writeBufferBytes` in the transport, a bounded control queue (overflowing it is
 *   treated as a peer that stopped reading).
 * - Liveness: a PING goes out `pingIntervalMs` after the previous PONG; no PONG within
 *   `pingTimeoutMs` of queueing the PING ends the session with `PeerTimeout`. The timeout
 *   runs from when the PING is queued, so a connection too backed up to send it counts as
 *   dead as well.
 * - When the session ends, for any reason, every open stream is destroyed with the
 *   session's error and `closed` resolves (it never rejects).
 */
export class TunnelSession {
  readonly #transport: FrameTransport;
  readonly #onStream: ((s: TunnelStream) => void) | undefined;
  readonly #clock: Clock;
  readonly #receiveWindow: number;
  readonly #maxReceiveWindow: number;
  /** Window growth still available to the session's streams. */
  #growthLeft: number;
  readonly #growthBudget: number;
  readonly #highWaterMark: number;
  readonly #maxStreams: number;
  readonly #writeBufferBytes: number;
  readonly #pingIntervalMs: number;
  readonly #pingTimeoutMs: number;
  readonly #maxControl: number;
  readonly #host: StreamHost;

  readonly #streams = new Map<number, TunnelStream>();
  /** Streams the peer opened in the message being read, owed their initial window. */
  readonly #opened: TunnelStream[] = [];
  #nextId: number;
  #lastPeerId = 0;
  #localOpen = 0;
  #peerOpen = 0;

  // writer
  #control: Buffer[] = [];
  #pong: Buffer | undefined;
  #ready: TunnelStream[] = [];
  readonly #readySet = new Set<TunnelStream>();
  #inflight = 0;
  #flushQueued = false;

  // liveness
  #ping: { payload: Buffer; sentAt: number; timeout: Timer } | undefined;
  #pingTimer: Timer | undefined;
  #rttMs: number | undefined;
  #pongs = 0;

  #error: TunnelError | undefined;
  #done = false;
  readonly closed: Promise<TunnelError | undefined>;
  #resolveClosed!: (e: TunnelError | undefined) => void;

  constructor(transport: FrameTransport, opts: SessionOptions) {
    this.#transport = transport;
    this.#onStream = opts.onStream;
    this.#clock = opts.clock ?? systemClock;
    this.#receiveWindow = opts.receiveWindow ?? 256 * 1024;
    this.#maxReceiveWindow = Math.max(this.#receiveWindow, opts.maxReceiveWindow ?? 4 * 1024 * 1024);
    this.#growthBudget = Math.max(0, opts.receiveWindowBudget ?? 16 * 1024 * 1024);
    this.#growthLeft = this.#growthBudget;
    this.#highWaterMark = opts.highWaterMark ?? 64 * 1024;
    this.#maxStreams = opts.maxStreams ?? 1024;
    this.#writeBufferBytes = opts.writeBufferBytes ?? 512 * 1024;
    this.#pingIntervalMs = opts.pingIntervalMs ?? 3000;
    this.#pingTimeoutMs = opts.pingTimeoutMs ?? 6000;
    this.#maxControl = 8 * this.#maxStreams + 64;
    this.#nextId = opts.role === 'dialer' ? 1 : 2;
    const maxFramePayload = Math.min(
      MAX_FRAME_PAYLOAD,
      Math.max(1024, opts.maxFramePayload ?? MAX_FRAME_PAYLOAD),
    );
    this.closed = new Promise((r) => (this.#resolveClosed = r));
    this.#host = {
      maxFramePayload,
      markReady: (s) => this.#markReady(s),
      sendControl: (f) => this.#sendControl(f),
      release: (s) => this.#release(s),
      reserveGrowth: (bytes) => {
        const got = Math.max(0, Math.min(bytes, this.#growthLeft));
        this.#growthLeft -= got;
        return got;
      },
      returnGrowth: (bytes) => {
        this.#growthLeft = Math.min(this.#growthBudget, this.#growthLeft + bytes);
      },
      wantRoundTrip: () => this.#measureRoundTrip(),
    };
    transport.onMessage((m) => this.#onMessage(m));
    transport.onClose((err) =>
      this.#end(
        new TunnelError('SessionClosed', `tunnel connection closed${err ? `: ${err.message}` : ''}`, {
          cause: err,
        }),
      ),
    );
    this.#schedulePing(0);
  }

  /** Streams currently open (either side). */
  get streamCount(): number {
    return this.#streams.size;
  }

  /** Round-trip time of the last answered PING. */
  get rttMs(): number | undefined {
    return this.#rttMs;
  }

  /** PINGs the peer has answered so far. */
  get pongs(): number {
    return this.#pongs;
  }

  /** A snapshot of the session's queues and liveness, for metrics and debugging. */
  stats(): {
    streams: number;
    /** Streams with data to send and no credit: their peer's reader is not keeping up. */
    creditBlocked: number;
    unflushedBytes: number;
    controlQueued: number;
    readyStreams: number;
    pongPending: boolean;
    pingOutstandingMs: number | undefined;
    rttMs: number | undefined;
    pongs: number;
    /** Receive-window growth the streams hold now, of `receiveWindowBudget`. */
    windowGrowthBytes: number;
  } {
    let creditBlocked = 0;
    for (const st of this.#streams.values())
      if (st.sendCredit === 0 && st.writableLength > 0) creditBlocked++;
    return {
      streams: this.#streams.size,
      creditBlocked,
      unflushedBytes: this.#inflight,
      controlQueued: this.#control.length,
      readyStreams: this.#ready.length,
      pongPending: this.#pong !== undefined,
      pingOutstandingMs: this.#ping === undefined ? undefined : this.#clock.now() - this.#ping.sentAt,
      rttMs: this.#rttMs,
      pongs: this.#pongs,
      windowGrowthBytes: this.#growthBudget - this.#growthLeft,
    };
  }

  /** Why the session ended, once it has. */
  get error(): TunnelError | undefined {
    return this.#error;
  }

  get isClosed(): boolean {
    return this.#done;
  }

  /**
   * Opens a stream; `header` (≤ 64 KiB) tells the peer what it is for. Writes may start at
   * once: data waits for the peer's credit. Throws `SessionClosed` after the session ended
   * and `Limit` when `maxStreams` local streams are open; a peer that refuses the stream
   * destroys it with `Refused`.
   */
  open(header: Uint8Array = Buffer.alloc(0)): TunnelStream {
    if (this.#done) throw this.#error ?? new TunnelError('SessionClosed', 'session closed');
    if (this.#localOpen >= this.#maxStreams)
      throw new TunnelError('Limit', `${this.#maxStreams} streams already open on this tunnel`);
    if (header.length > MAX_FRAME_PAYLOAD) throw new RangeError('stream header above 64 KiB');
    if (this.#nextId > 0xffff_fffe) throw new TunnelError('Limit', 'stream ids exhausted; reconnect');
    const id = this.#nextId;
    this.#nextId += 2;
    const s = new TunnelStream(this.#host, id, Buffer.from(header), {
      receiveWindow: this.#receiveWindow,
      maxReceiveWindow: this.#maxReceiveWindow,
      highWaterMark: this.#highWaterMark,
    });
    this.#streams.set(id, s);
    this.#localOpen++;
    this.#sendControl(encodeFrame(FrameType.Open, id, header));
    const grant = s.initialGrant();
    if (grant !== undefined) this.#sendControl(grant);
    return s;
  }

  /** Orderly close: streams are destroyed with `SessionClosed`, then the connection closes. */
  close(): void {
    if (this.#done) return;
    this.#end(new TunnelError('SessionClosed', 'session closed locally'));
    this.#transport.close();
  }

  /** Immediate teardown with `err` (streams see it). */
  destroy(err: TunnelError): void {
    if (this.#done) return;
    this.#end(err);
    this.#transport.terminate();
  }

  // ---- receiving -------------------------------------------------------------------------

  #onMessage(m: Buffer): void {
    if (this.#done) return;
    try {
      for (const f of decodeFrames(m)) {
        this.#onFrame(f);
        if (this.#done) break;
      }
      // Streams the peer opened in this message get their window now, unless the peer
      // already closed its side (a request without a body): no WINDOW_UPDATE for nothing.
      for (const s of this.#opened) {
        const grant = s.initialGrant();
        if (grant !== undefined) this.#sendControl(grant);
      }
      this.#opened.length = 0;
    } catch (err) {
      this.#opened.length = 0;
      this.destroy(
        err instanceof TunnelError ? err : new TunnelError('Protocol', String(err), { cause: err }),
      );
    }
  }

  #onFrame(f: Frame): void {
    switch (f.type) {
      case FrameType.Open:
        this.#onOpen(f);
        return;
      case FrameType.Data:
        this.#streams.get(f.stream)?.receiveData(f.payload);
        return;
      case FrameType.WindowUpdate: {
        const inc = parseWindowUpdate(f);
        this.#streams.get(f.stream)?.receiveCredit(inc);
        return;
      }
      case FrameType.Close:
        this.#streams.get(f.stream)?.receiveFin();
        return;
      case FrameType.Reset: {
        const { code, message } = parseReset(f);
        const s = this.#streams.get(f.stream);
        if (s === undefined) return;
        const refused = code === ResetCode.Refused;
        s.receiveReset(
          new TunnelError(
            refused ? 'Refused' : 'Reset',
            `stream ${f.stream} ${refused ? 'refused' : 'reset'} by peer: ${message}`,
            {
              resetCode: code,
            },
          ),
        );
        return;
      }
      case FrameType.Ping:
        if (f.payload.length !== PING_PAYLOAD_BYTES) throw new TunnelError('Protocol', 'bad PING payload');
        // Only the latest PONG is kept: a ping flood cannot grow the queue.
        this.#pong = encodeFrame(FrameType.Pong, 0, f.payload);
        this.#scheduleFlush();
        return;
      case FrameType.Pong:
        this.#onPong(f.payload);
        return;
      default:
        // Unknown (newer) frame types are ignored.
        return;
    }
  }

  #onOpen(f: Frame): void {
    const peerParity = this.#nextId % 2 === 1 ? 0 : 1;
    if (f.stream === 0 || f.stream % 2 !== peerParity || f.stream <= this.#lastPeerId)
      throw new TunnelError('Protocol', `bad OPEN stream id ${f.stream}`);
    this.#lastPeerId = f.stream;
    if (this.#onStream === undefined || this.#peerOpen >= this.#maxStreams) {
      this.#sendControl(
        resetFrame(
          f.stream,
          ResetCode.Refused,
          this.#onStream ? `more than ${this.#maxStreams} streams` : 'not accepting streams',
        ),
      );
      return;
    }
    const s = new TunnelStream(this.#host, f.stream, Buffer.from(f.payload), {
      receiveWindow: this.#receiveWindow,
      maxReceiveWindow: this.#maxReceiveWindow,
      highWaterMark: this.#highWaterMark,
    });
    this.#streams.set(f.stream, s);
    this.#peerOpen++;
    this.#opened.push(s);
    try {
      this.#onStream(s);
    } catch (err) {
      s.destroy(err instanceof Error ? err : new Error(String(err)));
    }
  }

  // ---- liveness ----------------------------------------------------------------------------

  #schedulePing(afterMs: number): void {
    this.#pingTimer = this.#clock.setTimer(afterMs, () => this.#sendPing());
  }

  #sendPing(): void {
    if (this.#done) return;
    const payload = randomBytes(PING_PAYLOAD_BYTES);
    const timeout = this.#clock.setTimer(this.#pingTimeoutMs, () =>
      this.destroy(
        new TunnelError('PeerTimeout', `peer did not answer a ping within ${this.#pingTimeoutMs} ms`),
      ),
    );
    this.#ping = { payload, sentAt: this.#clock.now(), timeout };
    for (const s of this.#streams.values()) s.roundTripStarted();
    // Pings jump the control queue.
    this.#control.unshift(encodeFrame(FrameType.Ping, 0, payload));
    this.#scheduleFlush();
  }

  #onPong(payload: Buffer): void {
    const p = this.#ping;
    if (p === undefined || !p.payload.equals(payload)) return;
    p.timeout.cancel();
    this.#ping = undefined;
    this.#rttMs = this.#clock.now() - p.sentAt;
    this.#pongs++;
    for (const s of this.#streams.values()) s.roundTripEnded();
    this.#schedulePing(this.#pingIntervalMs);
  }

  /**
   * A stream's window may be too small: send the next PING now rather than at the liveness
   * interval, so its round trip measures what the reader takes per round trip (the BDP ping
   * of gRPC). At most one PING is outstanding, so this adds at most one PING per round trip,
   * and only while windows can still grow.
   */
  #measureRoundTrip(): void {
    if (this.#done || this.#ping !== undefined || this.#growthLeft === 0) return;
    this.#pingTimer?.cancel();
    this.#pingTimer = undefined;
    this.#sendPing();
  }

  // ---- writing -----------------------------------------------------------------------------

  #markReady(s: TunnelStream): void {
    if (this.#done || this.#readySet.has(s)) return;
    this.#readySet.add(s);
    this.#ready.push(s);
    this.#scheduleFlush();
  }

  #sendControl(frame: Buffer): void {
    if (this.#done) return;
    if (this.#control.length >= this.#maxControl) {
      this.destroy(new TunnelError('PeerTimeout', 'control queue full: the peer is not reading'));
      return;
    }
    this.#control.push(frame);
    this.#scheduleFlush();
  }

  /**
   * Flushes once the event loop has run the I/O callbacks ready now (setImmediate, not a
   * microtask): every socket read of this turn is framed first, so a stream fed 16 KiB TLS
   * records goes out in 64 KiB messages — a quarter of the messages, writes and message
   * buffers at both ends — at the cost of microseconds, not a timer.
   */
  #scheduleFlush(): void {
    if (this.#flushQueued || this.#done) return;
    this.#flushQueued = true;
    setImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#flushQueued = false;
    if (this.#done) return;
    let parts: Buffer[] = [];
    let bytes = 0;
    const emit = (): void => {
      if (parts.length === 0) return;
      // Several frames become one message: copied into a pooled buffer, given back once sent.
      const pooled = parts.length > 1 && bytes <= messagePool.size ? messagePool.take() : undefined;
      let msg: Buffer;
      if (pooled !== undefined) {
        let off = 0;
        for (const p of parts) off += p.copy(pooled, off);
        msg = pooled.subarray(0, bytes);
      } else msg = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, bytes);
      parts = [];
      bytes = 0;
      this.#inflight += msg.length;
      this.#transport.send(msg, (err) => {
        this.#inflight -= msg.length;
        if (pooled !== undefined) messagePool.give(pooled);
        if (err !== undefined) {
          this.destroy(
            new TunnelError('SessionClosed', `tunnel write failed: ${err.message}`, { cause: err }),
          );
          return;
        }
        if (this.#control.length > 0 || this.#pong !== undefined || this.#ready.length > 0)
          this.#scheduleFlush();
      });
    };
    // A frame never spans two messages: one that would overflow the message starts the next.
    const add = (frame: readonly Buffer[]): void => {
      let n = 0;
      for (const p of frame) n += p.length;
      if (bytes > 0 && bytes + n > MESSAGE_BYTES) emit();
      for (const p of frame) parts.push(p);
      bytes += n;
    };
    while (this.#inflight + bytes < this.#writeBufferBytes && !this.#done) {
      if (this.#pong !== undefined) {
        add([this.#pong]);
        this.#pong = undefined;
      } else if (this.#control.length > 0) {
        add([this.#control.shift() as Buffer]);
      } else {
        const s = this.#ready.shift();
        if (s === undefined) break;
        this.#readySet.delete(s);
        const r = s.pullFrame();
        if (r === undefined) continue;
        add(r.parts);
        if (r.more) this.#markReady(s);
      }
      if (bytes >= BATCH_BYTES) emit();
    }
    emit();
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  #release(s: TunnelStream): void {
    if (this.#streams.get(s.id) !== s) return;
    this.#streams.delete(s.id);
    if (s.id % 2 === this.#nextId % 2) this.#localOpen--;
    else this.#peerOpen--;
    this.#readySet.delete(s);
  }

  #end(err: TunnelError): void {
    if (this.#done) return;
    this.#error = err;
    this.#pingTimer?.cancel();
    this.#ping?.timeout.cancel();
    // Streams first (they must not send anything), then mark done.
    const streams = [...this.#streams.values()];
    this.#done = true;
    this.#control = [];
    this.#ready = [];
    this.#readySet.clear();
    for (const s of streams) s.receiveReset(err);
    this.#streams.clear();
    this.#resolveClosed(err);
  }
}
