// The live connection: one Server-Sent Events stream read with fetch(), because EventSource
// cannot send an Authorization header (and a token in the URL would land in logs). The
// server pushes a snapshot, then changes; nothing here polls. When the stream ends (server
// restart, the stream's lifetime, a dropped slow client) it reconnects after a backoff that
// resets once a snapshot arrives, and the fresh snapshot replaces the model.
import type { Change, Snapshot } from '../../src/dashboard/wire.ts';

export const API_STREAM = 'api/stream';

export type LiveStatus = 'connecting' | 'live' | 'reconnecting';

export interface LiveHandlers {
  snapshot(s: Snapshot): void;
  change(c: Change): void;
  status(s: LiveStatus): void;
  /** The hub refused the token (401) or its user (403): stop and ask again. */
  refused(status: number, message: string): void;
}

/** Connects with `token` until the returned function is called or the token is refused. */
export function connect(token: string, h: LiveHandlers): () => void {
  const abort = new AbortController();
  let delay = 1000;
  const run = async (): Promise<void> => {
    for (let first = true; !abort.signal.aborted; first = false) {
      h.status(first ? 'connecting' : 'reconnecting');
      try {
        const res = await fetch(API_STREAM, {
          headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' },
          signal: abort.signal,
          cache: 'no-store',
        });
        if (res.status === 401 || res.status === 403) {
          const body = (await res.json().catch(() => ({}))) as { message?: string };
          h.refused(res.status, body.message ?? res.statusText);
          return;
        }
        if (!res.ok || res.body === null) throw new Error(`stream answered ${res.status}`);
        await readEvents(res.body, (event, data) => {
          if (event === 'snapshot') {
            delay = 1000;
            h.snapshot(JSON.parse(data) as Snapshot);
            h.status('live');
          } else if (event === 'change') {
            h.change(JSON.parse(data) as Change);
          }
        });
      } catch {
        if (abort.signal.aborted) return;
      }
      if (abort.signal.aborted) return;
      h.status('reconnecting');
      await new Promise((r) => setTimeout(r, delay * (0.5 + Math.random())));
      delay = Math.min(delay * 2, 30_000);
    }
  };
  void run();
  return () => abort.abort();
}

/** Parses an SSE byte stream (event + data lines, blank-line separated) into callbacks. */
async function readEvents(body: ReadableStream<Uint8Array>, on: (event: string, data: string) => void) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of frame.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (data.length > 0) on(event, data.join('\n'));
    }
  }
}
