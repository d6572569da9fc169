import type { Duplex } from 'node:stream';
import type { TunnelStream } from './stream.ts';

/**
 * Joins a tunnel stream and a byte connection (an upgraded HTTP socket) in both directions,
 * like a TCP proxy:
 * - each side's end of input becomes a half-close of the other (FIN ↔ CLOSE);
 * - the connection closing after a clean end leaves the stream to finish delivering what it
 *   already carries (no RESET that would drop in-flight bytes); closing without a clean end,
 *   or failing, resets the stream;
 * - the stream failing (reset by the peer, tunnel lost) destroys the connection.
 */
export function splice(stream: TunnelStream, conn: Duplex): void {
  conn.pipe(stream);
  stream.pipe(conn);
  conn.on('error', (err: Error) => stream.destroy(err));
  conn.on('close', () => {
    if (!stream.writableEnded) {
      stream.destroy(new Error('connection closed'));
      return;
    }
    // Nothing can be written to the connection any more: drain what still arrives.
    stream.unpipe(conn);
    stream.resume();
  });
  stream.on('error', () => conn.destroy());
}
