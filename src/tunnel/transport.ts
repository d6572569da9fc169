import type { WebSocket } from 'ws';

/**
 * A message-oriented connection a `TunnelSession` runs over. Messages arrive whole and in
 * order; `send` calls back once the message has left user space (its bytes were handed to
 * the socket), which is what bounds the session's write buffer.
 */
export interface FrameTransport {
  send(message: Buffer, cb: (err?: Error) => void): void;
  /** Orderly close after queued messages. */
  close(): void;
  /** Immediate teardown (dead peer, protocol error). */
  terminate(): void;
  /** Set once, before any message can arrive. */
  onMessage(fn: (message: Buffer) => void): void;
  /** Called once when the connection is gone, with the reason when it failed. */
  onClose(fn: (err?: Error) => void): void;
}

/** Messages kept for a session not yet attached before the peer counts as misbehaving. */
const MAX_EARLY_MESSAGES = 1024;

/**
 * A `ws` WebSocket as a transport. Text messages are a protocol error (the tunnel speaks
 * only binary). Compression is never used: tunnelled bytes are often already compressed,
 * and deflate costs more CPU than it saves on the links the tunnel targets.
 *
 * Wrap the socket as soon as it exists — before `'open'` on the dialling side: messages
 * that arrive before `onMessage` is set (the peer's first PING can follow the handshake in
 * the same TCP segment) are kept, up to a bound, and delivered in order once it is.
 */
export function webSocketTransport(ws: WebSocket): FrameTransport {
  let closedWith: { err: Error | undefined } | undefined;
  const closeHandlers: ((err?: Error) => void)[] = [];
  let lastError: Error | undefined;
  let handler: ((m: Buffer) => void) | undefined;
  const early: Buffer[] = [];
  ws.on('error', (err: Error) => {
    lastError = err;
  });
  ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
    if (!isBinary) {
      lastError = new Error('text message on a tunnel connection');
      ws.terminate();
      return;
    }
    const m = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    if (handler !== undefined && early.length === 0) {
      handler(m);
      return;
    }
    if (early.length >= MAX_EARLY_MESSAGES) {
      lastError = new Error('too many messages before the session started');
      ws.terminate();
      return;
    }
    early.push(m);
  });
  ws.once('close', (code: number, reason: Buffer) => {
    const err =
      lastError ??
      (code === 1000
        ? undefined
        : new Error(`websocket closed (${code}${reason.length > 0 ? `: ${reason.toString('utf8')}` : ''})`));
    closedWith = { err };
    for (const fn of closeHandlers) fn(err);
  });
  return {
    send(message, cb) {
      if (ws.readyState !== ws.OPEN) {
        queueMicrotask(() => cb(new Error('websocket is not open')));
        return;
      }
      ws.send(message, { binary: true, compress: false }, (err) => cb(err ?? undefined));
    },
    close() {
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(1000);
    },
    terminate() {
      ws.terminate();
    },
    onMessage(fn) {
      handler = fn;
      if (early.length > 0)
        queueMicrotask(() => {
          while (early.length > 0) fn(early.shift() as Buffer);
        });
    },
    onClose(fn) {
      if (closedWith !== undefined) queueMicrotask(() => fn(closedWith?.err));
      else closeHandlers.push(fn);
    },
  };
}
