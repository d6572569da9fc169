/**
 * Failures of the tunnel, one class with a stable `code`:
 * - `Reset`: the peer reset the stream (`resetCode`, and its message, say why);
 * - `Refused`: the peer refused to open the stream (too many streams, shutting down);
 * - `SessionClosed`: the connection under the stream closed or failed (`cause` says how);
 * - `PeerTimeout`: the peer did not answer a ping in time — it is dead or not reading;
 * - `Protocol`: the peer broke the framing or flow-control rules; the session is torn down;
 * - `Limit`: a local bound was hit (too many streams opened on this session).
 */
export type TunnelErrorCode = 'Reset' | 'Refused' | 'SessionClosed' | 'PeerTimeout' | 'Protocol' | 'Limit';

export class TunnelError extends Error {
  readonly code: TunnelErrorCode;
  /** The wire reset code, for `Reset` and `Refused`. */
  readonly resetCode: number | undefined;

  constructor(code: TunnelErrorCode, message: string, opts: { resetCode?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = `Tunnel${code}Error`;
    this.code = code;
    this.resetCode = opts.resetCode;
  }
}
