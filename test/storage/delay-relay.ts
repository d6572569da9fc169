import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * The tests' WAN emulator (these kernels have no `tc netem`): a TCP relay that delivers
 * every segment `delayMs` after it arrived, independently in each direction, preserving
 * order. Buffers are bounded: past `maxBufferedBytes` queued in one direction the sending
 * side is paused until the queue drains below half.
 */
export class DelayRelay {
  readonly #target: { host: string; port: number };
  readonly #maxBuffered: number;
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  /** Bytes delivered from clients to the target so far (all connections). */
  #upstreamBytes = 0;
  #upstreamWaiters: { bytes: number; resolve: () => void }[] = [];
  delayMs: number;

  constructor(target: { host: string; port: number }, delayMs: number, maxBufferedBytes = 8 * 1024 * 1024) {
    this.#target = target;
    this.delayMs = delayMs;
    this.#maxBuffered = maxBufferedBytes;
  }

  /** Listens on 127.0.0.1 (`port` 0 = any; a fixed port lets a healed link come back where it was). */
  async listen(port = 0): Promise<number> {
    const server = createServer((client) => {
      const upstream = connect(this.#target);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.setNoDelay(true);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      this.#pipe(client, upstream, true);
      this.#pipe(upstream, client, false);
    });
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('relay has no address');
    return addr.port;
  }

  /** Resolves once `bytes` have been delivered from clients to the target (event-driven). */
  upstreamBytes(bytes: number): Promise<void> {
    if (this.#upstreamBytes >= bytes) return Promise.resolve();
    return new Promise((resolve) => this.#upstreamWaiters.push({ bytes, resolve }));
  }

  #countUpstream(n: number): void {
    this.#upstreamBytes += n;
    if (this.#upstreamWaiters.length === 0) return;
    const total = this.#upstreamBytes;
    this.#upstreamWaiters = this.#upstreamWaiters.filter((w) => {
      if (w.bytes > total) return true;
      w.resolve();
      return false;
    });
  }

  #pipe(from: Socket, to: Socket, upstream: boolean): void {
    const queue: { due: number; chunk: Buffer }[] = [];
    let bytes = 0;
    let timer: NodeJS.Timeout | undefined;
    let ended = false;
    const deliver = (): void => {
      timer = undefined;
      const now = performance.now();
      while (queue.length > 0 && (queue[0]?.due ?? Infinity) <= now + 0.5) {
        const { chunk } = queue.shift() as { due: number; chunk: Buffer };
        bytes -= chunk.length;
        to.write(chunk);
        if (upstream) this.#countUpstream(chunk.length);
      }
      if (bytes < this.#maxBuffered / 2 && from.isPaused()) from.resume();
      if (queue.length > 0)
        timer = setTimeout(deliver, Math.max(0, (queue[0]?.due ?? 0) - performance.now()));
      else if (ended) to.end();
    };
    from.on('data', (chunk: Buffer) => {
      queue.push({ due: performance.now() + this.delayMs, chunk });
      bytes += chunk.length;
      if (bytes >= this.#maxBuffered) from.pause();
      timer ??= setTimeout(deliver, this.delayMs);
    });
    from.on('end', () => {
      ended = true;
      if (queue.length === 0) to.end();
    });
    from.on('close', () => {
      if (timer !== undefined && to.destroyed) clearTimeout(timer);
    });
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    const server = this.#server;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
