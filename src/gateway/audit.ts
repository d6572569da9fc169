import type { Writable } from 'node:stream';
import type { AuditRecord } from './proxy.ts';

/** One audit line as written: the record plus when it ended and what it is. */
export interface AuditLine extends AuditRecord {
  readonly kind: 'meridian.proxy.audit';
  /** When the request ended (RFC 3339, ms). */
  readonly time: string;
}

export interface JsonAuditOptions {
  /** Stop writing (and count drops) while more than this much is unflushed. Default 8 MiB. */
  readonly maxBufferedBytes?: number;
  readonly now?: () => Date;
}

/**
 * An audit sink writing one JSON object per line (`AuditLine`) to `out` (a file or stdout),
 * for log shippers. Bounded: when `out` cannot keep up and more than `maxBufferedBytes` wait
 * unflushed, records are dropped and counted, and the next line written carries
 * `droppedBefore` — a lost record is visible, and memory stays bounded. Lines are written at
 * the end of the event-loop turn that produced them.
 */
export function jsonLinesAudit(out: Writable, o: JsonAuditOptions = {}): (r: AuditRecord) => void {
  const max = o.maxBufferedBytes ?? 8 * 1024 * 1024;
  const now = o.now ?? (() => new Date());
  let dropped = 0;
  let corked = false;
  return (r) => {
    if (out.writableLength > max || out.destroyed) {
      dropped++;
      return;
    }
    const line = {
      kind: 'meridian.proxy.audit',
      time: now().toISOString(),
      ...r,
      ...(dropped > 0 ? { droppedBefore: dropped } : {}),
    };
    dropped = 0;
    // Lines of one event-loop turn leave in one write: a file write per request would cost a
    // thread-pool round trip and a wake-up of the loop each.
    if (!corked) {
      corked = true;
      out.cork();
      setImmediate(() => {
        corked = false;
        out.uncork();
      });
    }
    out.write(`${JSON.stringify(line)}\n`);
  };
}
