import type { Socket } from 'node:net';
import { StorageError } from '../errors.ts';
import type { SocketReader } from '../io/socket-reader.ts';
import { MAX_FRAME } from './messages.ts';

/** Reads one length-prefixed frame body; rejects frames over {@link MAX_FRAME}. */
export async function readFrame(reader: SocketReader): Promise<Buffer> {
  const len = (await reader.read(4)).readUInt32BE(0);
  if (len > MAX_FRAME) throw new StorageError('Protocol', `frame of ${len} bytes exceeds ${MAX_FRAME}`);
  return reader.read(len);
}

/**
 * Writes buffers back-to-back (no other frame can interleave: writes are synchronous) and
 * resolves when the socket's buffer drained below its high-water mark, so a slow peer
 * throttles the writer instead of growing memory.
 */
export async function writeFrame(socket: Socket, parts: Buffer[]): Promise<void> {
  let ok = true;
  for (const p of parts) ok = socket.write(p);
  if (ok || socket.destroyed) return;
  await new Promise<void>((resolve) => {
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}
