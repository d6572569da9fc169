/**
 * One Server-Sent Events client with a bounded buffer. Writes go straight to the socket while
 * it keeps up; once the socket's buffer passes `highWaterBytes`, changes wait in a queue
 * coalesced by key (a cluster updated ten times is sent once, latest first-come order kept);
 * when that queue passes `maxQueued` keys the client is too slow and is dropped — it
 * reconnects and starts again from a fresh snapshot, which costs the server nothing extra.
 */
import type { ServerResponse } from 'node:http';

export interface SseOptions {
  /** Bytes the socket may hold before changes are queued. Default 256 KiB. */
  readonly highWaterBytes?: number;
  /** Queued (coalesced) changes before the client is dropped. Default 1000. */
  readonly maxQueued?: number;
  /** A comment line this often keeps idle connections open through proxies. Default 25 s. */
  readonly keepAliveMs?: number;
}

export class SseClient {
  readonly #res: ServerResponse;
  readonly #highWater: number;
  readonly #maxQueued: number;
  readonly #queue = new Map<string, string>();
  readonly #keepAlive: NodeJS.Timeout;
  #closed = false;
  /** Resolves when the connection ends, for whatever reason. */
  readonly closed: Promise<'client' | 'slow' | 'server'>;
  #resolveClosed: (why: 'client' | 'slow' | 'server') => void = () => {};

  constructor(res: ServerResponse, opts: SseOptions = {}) {
    this.#res = res;
    this.#highWater = opts.highWaterBytes ?? 256 * 1024;
    this.#maxQueued = opts.maxQueued ?? 1000;
    this.closed = new Promise((r) => (this.#resolveClosed = r));
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    res.on('close', () => this.#end('client'));
    res.on('drain', () => this.#flush());
    this.#keepAlive = setInterval(() => this.#write(': keep-alive\n\n'), opts.keepAliveMs ?? 25_000);
    this.#keepAlive.unref();
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /** Sends `event` now, or queues it under `key` (replacing an older queued one) if the client lags. */
  send(event: string, data: unknown, key = `${event}:${Math.random()}`): void {
    if (this.#closed) return;
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    if (this.#queue.size === 0 && this.#res.writableLength < this.#highWater) {
      this.#write(frame);
      return;
    }
    this.#queue.delete(key);
    this.#queue.set(key, frame);
    if (this.#queue.size > this.#maxQueued) this.#end('slow');
  }

  /** Ends the stream from the server side. */
  close(): void {
    this.#end('server');
  }

  #write(frame: string): void {
    if (!this.#closed) this.#res.write(frame);
  }

  #flush(): void {
    for (const [key, frame] of this.#queue) {
      if (this.#res.writableLength >= this.#highWater) return;
      this.#queue.delete(key);
      this.#write(frame);
    }
  }

  #end(why: 'client' | 'slow' | 'server'): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#keepAlive);
    this.#queue.clear();
    if (why === 'slow') this.#res.destroy();
    else this.#res.end();
    this.#resolveClosed(why);
  }
}
