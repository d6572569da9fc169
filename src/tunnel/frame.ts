/**
 * The tunnel's wire format: small frames carried in binary WebSocket messages.
 *
 * ```
 *  0               4       5               9
 *  +---------------+-------+---------------+----------------------+
 *  | length (u32)  | type  | stream (u32)  | payload (length B)   |
 *  +---------------+-------+---------------+----------------------+
 * ```
 *
 * All integers are big-endian. One WebSocket message carries one or more whole frames (the
 * sender coalesces small frames); a frame never spans two messages. Stream 0 is the session
 * itself (PING, PONG, GOAWAY). Unknown frame types are ignored, so later versions can add
 * frames that older peers skip (as HTTP/2 does).
 */
import { TunnelError } from './errors.ts';

export const FrameType = {
  /** Opens a stream; payload = the opener's header (opaque to the tunnel). */
  Open: 1,
  /** Stream bytes; consumes the receiver's credit for the stream. */
  Data: 2,
  /** Grants the sender `u32` more bytes of credit on the stream. */
  WindowUpdate: 3,
  /** The sender will send no more data on the stream (half-close, like TCP FIN). */
  Close: 4,
  /** Aborts the stream in both directions; payload = `u32` code + UTF-8 message. */
  Reset: 5,
  /** Session liveness probe (stream 0); payload = 8 opaque bytes echoed in the PONG. */
  Ping: 6,
  Pong: 7,
  /** The sender accepts no new streams (stream 0); reserved for graceful shutdown. */
  GoAway: 8,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Reset codes on the wire. */
export const ResetCode = {
  /** The stream's owner gave up on it (destroyed it, or its client went away). */
  Cancel: 1,
  /** The receiver refused to open the stream (too many streams, shutting down). */
  Refused: 2,
  /** The stream broke the protocol (e.g. sent more than its credit). */
  Protocol: 3,
  /** The application behind the stream failed. */
  Internal: 4,
} as const;
export type ResetCode = (typeof ResetCode)[keyof typeof ResetCode];

export const HEADER_BYTES = 9;
/** Largest payload a frame may carry; a larger one is a protocol error. */
export const MAX_FRAME_PAYLOAD = 64 * 1024;
/**
 * Credit every stream starts with in each direction. A receiver that wants a larger window
 * grants the difference with a WINDOW_UPDATE right after the OPEN, so no settings exchange
 * is needed before the first stream.
 */
export const INITIAL_WINDOW = 64 * 1024;
/** Largest window a stream may have (HTTP/2's limit too). */
export const MAX_WINDOW = 2 ** 31 - 1;
/** Largest reset message kept (longer ones are cut). */
export const MAX_RESET_MESSAGE = 1024;
export const PING_PAYLOAD_BYTES = 8;

export interface Frame {
  readonly type: number;
  readonly stream: number;
  /** A view into the received message (not a copy). */
  readonly payload: Buffer;
}

/** The 9-byte header of a frame whose payload is `length` bytes. */
export function frameHeader(type: FrameType, stream: number, length: number): Buffer {
  const h = Buffer.allocUnsafe(HEADER_BYTES);
  h.writeUInt32BE(length, 0);
  h.writeUInt8(type, 4);
  h.writeUInt32BE(stream, 5);
  return h;
}

/** A whole frame in one buffer (for control frames; data frames send header and payload as parts). */
export function encodeFrame(type: FrameType, stream: number, payload?: Uint8Array): Buffer {
  const len = payload?.length ?? 0;
  const b = Buffer.allocUnsafe(HEADER_BYTES + len);
  b.writeUInt32BE(len, 0);
  b.writeUInt8(type, 4);
  b.writeUInt32BE(stream, 5);
  if (payload !== undefined) b.set(payload, HEADER_BYTES);
  return b;
}

export function windowUpdateFrame(stream: number, increment: number): Buffer {
  const p = Buffer.allocUnsafe(4);
  p.writeUInt32BE(increment, 0);
  return encodeFrame(FrameType.WindowUpdate, stream, p);
}

export function resetFrame(stream: number, code: ResetCode, message = ''): Buffer {
  const text = Buffer.from(message, 'utf8').subarray(0, MAX_RESET_MESSAGE);
  const p = Buffer.allocUnsafe(4 + text.length);
  p.writeUInt32BE(code, 0);
  p.set(text, 4);
  return encodeFrame(FrameType.Reset, stream, p);
}

export function parseWindowUpdate(f: Frame): number {
  if (f.payload.length !== 4) throw new TunnelError('Protocol', 'WINDOW_UPDATE payload must be 4 bytes');
  const inc = f.payload.readUInt32BE(0);
  if (inc === 0 || inc > MAX_WINDOW) throw new TunnelError('Protocol', `bad WINDOW_UPDATE increment ${inc}`);
  return inc;
}

export function parseReset(f: Frame): { code: number; message: string } {
  if (f.payload.length < 4) throw new TunnelError('Protocol', 'RESET payload must be at least 4 bytes');
  return {
    code: f.payload.readUInt32BE(0),
    message: f.payload.subarray(4, 4 + MAX_RESET_MESSAGE).toString('utf8'),
  };
}

/**
 * Splits one WebSocket message into its frames. Throws `TunnelError('Protocol')` on a
 * truncated frame or a payload above `MAX_FRAME_PAYLOAD`; frames before the bad one are
 * still yielded (the session is torn down either way).
 */
export function* decodeFrames(message: Buffer): Generator<Frame> {
  let off = 0;
  while (off < message.length) {
    if (message.length - off < HEADER_BYTES) throw new TunnelError('Protocol', 'truncated frame header');
    const length = message.readUInt32BE(off);
    const type = message.readUInt8(off + 4);
    const stream = message.readUInt32BE(off + 5);
    if (length > MAX_FRAME_PAYLOAD)
      throw new TunnelError('Protocol', `frame of ${length} bytes exceeds ${MAX_FRAME_PAYLOAD}`);
    const start = off + HEADER_BYTES;
    if (message.length - start < length) throw new TunnelError('Protocol', 'truncated frame payload');
    yield { type, stream, payload: message.subarray(start, start + length) };
    off = start + length;
  }
}
