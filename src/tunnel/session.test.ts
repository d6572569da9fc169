// The multiplexer over real WebSockets on loopback: many streams, a stalled reader beside a
// bulk transfer, half-close, reset, refusal, protocol violations and dead-peer detection.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, connect, type AddressInfo, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { TunnelError } from './errors.ts';
import { FrameType, INITIAL_WINDOW, decodeFrames, encodeFrame, frameHeader, type Frame } from './frame.ts';
import { MESSAGE_BYTES, messagePool } from './message-pool.ts';
import { TunnelSession, type SessionOptions } from './session.ts';
import type { TunnelStream } from './stream.ts';
import { webSocketTransport } from './transport.ts';

type Side = Omit<SessionOptions, 'role'>;

interface Pair {
  readonly dialer: TunnelSession;
  readonly acceptor: TunnelSession;
  /** Present when the pair was built with `relay: true`. */
  readonly relay?: Relay;
  close(): Promise<void>;
}

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A bounded wait: rejects (naming `what`) if `p` has not settled after `ms`. Not a timing assertion. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not done after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A TCP relay between the two tunnel ends. `stop()` makes it stop forwarding in both
 * directions while keeping both TCP connections open: this is a FAKE dead peer (the test
 * cannot freeze a real process's network), standing in for a peer that hangs, stops
 * reading, or is cut off by a network that drops packets without resetting connections.
 */
interface Relay {
  readonly port: number;
  stop(): void;
  close(): Promise<void>;
}

/**
 * `delayMs` holds every chunk that long before forwarding it (in order), in each direction: a
 * long round trip, so that a stream's window — not the machine's speed — limits its rate.
 */
async function startRelay(targetPort: number, delayMs = 0): Promise<Relay> {
  const sockets: Socket[] = [];
  let stopped = false;
  const server = createTcpServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.push(client, upstream);
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      from.on('data', (d: Buffer) => {
        if (stopped) return;
        if (delayMs === 0) to.write(d);
        else setTimeout(() => stopped || to.destroyed || to.write(d), delayMs);
      });
      // Once stopped, not even a close gets through: each side must find out by itself.
      from.on('error', () => stopped || to.destroy());
      from.on('close', () => stopped || to.destroy());
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    stop() {
      stopped = true;
      // Stop reading too, so the senders' kernel buffers fill up as with a hung peer.
      for (const s of sockets) s.pause();
    },
    async close() {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

async function pair(
  opts: { dialer?: Side; acceptor?: Side; relay?: boolean; relayDelayMs?: number } = {},
): Promise<Pair> {
  const http = createHttpServer();
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false, maxPayload: 1 << 20 });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const accepted = new Promise<TunnelSession>((resolve) =>
    wss.once('connection', (ws) =>
      resolve(new TunnelSession(webSocketTransport(ws), { role: 'acceptor', ...opts.acceptor })),
    ),
  );
  const relay =
    opts.relay || opts.relayDelayMs !== undefined
      ? await startRelay((http.address() as AddressInfo).port, opts.relayDelayMs)
      : undefined;
  const port = relay?.port ?? (http.address() as AddressInfo).port;
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false, maxPayload: 1 << 20 });
  const transport = webSocketTransport(ws); // before 'open' (see webSocketTransport)
  await once(ws, 'open');
  const dialer = new TunnelSession(transport, { role: 'dialer', ...opts.dialer });
  const acceptor = await accepted;
  const close = async () => {
    dialer.close();
    acceptor.close();
    await relay?.close();
    for (const c of wss.clients) c.terminate();
    wss.close();
    http.closeAllConnections();
    http.close();
  };
  cleanups.push(close);
  return { dialer, acceptor, ...(relay ? { relay } : {}), close };
}

/** Reads to the end without destroying the stream (a `for await` would, ending its write side too). */
function readAll(s: TunnelStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.once('end', () => resolve(Buffer.concat(chunks)));
    s.once('error', reject);
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Writes `total` bytes in 64 KiB chunks, respecting backpressure; resolves when all are accepted. */
async function writeBytes(s: TunnelStream, total: number, end = true): Promise<void> {
  const chunk = randomBytes(64 * 1024);
  for (let sent = 0; sent < total; sent += chunk.length) {
    if (!s.write(chunk.subarray(0, Math.min(chunk.length, total - sent)))) await once(s, 'drain');
  }
  if (end) s.end();
}

/**
 * A real acceptor session facing a hand-written peer: the returned raw WebSocket sends raw
 * frames, and every message the session sends is handed to `onMessage`.
 */
async function rawPeer(acceptor: Side, onMessage: (m: Buffer) => void): Promise<WebSocket> {
  const http = createHttpServer();
  const wss = new WebSocketServer({ server: http });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  wss.once('connection', (ws) => {
    const session = new TunnelSession(webSocketTransport(ws), { role: 'acceptor', ...acceptor });
    cleanups.push(async () => session.close());
  });
  const ws = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}/`);
  ws.on('message', onMessage);
  cleanups.push(async () => {
    ws.terminate();
    wss.close();
    http.close();
  });
  await once(ws, 'open');
  return ws;
}

describe('TunnelSession over a WebSocket on loopback', () => {
  test('a stream carries its header and bytes both ways', async () => {
    const p = await pair({
      acceptor: {
        onStream: (s) => {
          assert.equal(s.header.toString(), 'echo please');
          s.pipe(s);
        },
      },
    });
    const s = p.dialer.open(Buffer.from('echo please'));
    const payload = randomBytes(1_000_000);
    s.end(payload);
    const back = await within(readAll(s), 60_000, 'echo');
    assert.equal(sha(back), sha(payload));
    await within(
      waitFor(() => s.destroyed),
      10_000,
      'stream auto-destroyed once both directions ended',
    );
    assert.equal(p.dialer.streamCount, 0);
    assert.equal(p.acceptor.streamCount, 0);
    await p.close();
  });

  test('200 concurrent streams each echo their own data intact', async () => {
    const p = await pair({ acceptor: { onStream: (s) => s.pipe(s) } });
    const results = await within(
      Promise.all(
        Array.from({ length: 200 }, async (_, i) => {
          const s = p.dialer.open(Buffer.from(`s${i}`));
          const data = randomBytes(20_000 + i * 997);
          const reading = readAll(s);
          await writeBytesFrom(s, data);
          return sha(await reading) === sha(data);
        }),
      ),
      120_000,
      '200 streams',
    );
    assert.ok(results.every(Boolean));
    assert.equal(p.dialer.streamCount, 0);
    await p.close();
  });

  test('both sides can open streams', async () => {
    const p = await pair({
      dialer: { onStream: (s) => s.end(Buffer.concat([Buffer.from('dialer got '), s.header])) },
      acceptor: { onStream: (s) => s.end(Buffer.concat([Buffer.from('acceptor got '), s.header])) },
    });
    const fromDialer = p.dialer.open(Buffer.from('a'));
    fromDialer.end();
    const fromAcceptor = p.acceptor.open(Buffer.from('b'));
    fromAcceptor.end();
    assert.equal((await readAll(fromDialer)).toString(), 'acceptor got a');
    assert.equal((await readAll(fromAcceptor)).toString(), 'dialer got b');
    assert.equal(fromDialer.id % 2, 1);
    assert.equal(fromAcceptor.id % 2, 0);
    await p.close();
  });

  test('a stalled reader holds only its window while another stream moves megabytes and pings flow', async () => {
    const window = 256 * 1024;
    const bulkBytes = 24 * 1024 * 1024;
    let stalledWriter: TunnelStream | undefined;
    let stalledAccepted = 0;
    const p = await pair({
      dialer: { receiveWindow: window, pingIntervalMs: 20, pingTimeoutMs: 30_000 },
      acceptor: {
        receiveWindow: window,
        pingIntervalMs: 20,
        pingTimeoutMs: 30_000,
        onStream: (s) => {
          s.on('error', () => {});
          if (s.header.toString() === 'stall') {
            stalledWriter = s;
            // Write forever; count bytes whose write completed (framed into the tunnel).
            const chunk = Buffer.alloc(16 * 1024, 7);
            const pump = () => {
              while (s.write(chunk, () => (stalledAccepted += chunk.length)));
              s.once('drain', pump);
            };
            pump();
          } else {
            void writeBytes(s, bulkBytes);
          }
        },
      },
    });
    const stalled = p.dialer.open(Buffer.from('stall')); // never read
    stalled.on('error', () => {});
    // Let the stalled stream fill its window before the bulk transfer starts.
    await within(
      waitFor(() => stalled.bufferedIn >= window),
      30_000,
      'stalled stream fills its window',
    );
    const bulk = p.dialer.open(Buffer.from('bulk'));
    bulk.end();
    let got = 0;
    let pongsMidTransfer = 0;
    for await (const c of bulk) {
      got += (c as Buffer).length;
      if (pongsMidTransfer === 0 && got >= bulkBytes / 2) {
        // Halfway through, with both the stalled stream and this one holding data in flight,
        // pings must still be answered (both peers' pings: each side pings the other).
        const before = Math.min(p.dialer.pongs, p.acceptor.pongs);
        await within(
          waitFor(() => Math.min(p.dialer.pongs, p.acceptor.pongs) >= before + 3),
          30_000,
          'pongs mid-transfer',
        );
        pongsMidTransfer = Math.min(p.dialer.pongs, p.acceptor.pongs) - before;
      }
    }
    assert.equal(got, bulkBytes, 'the bulk stream delivered everything');
    assert.ok(pongsMidTransfer >= 3);
    // The stalled stream never got more than its window into the receiver…
    assert.equal(stalled.bufferedIn, window);
    // …its writer is blocked on credit, with a bounded amount accepted from the writer.
    assert.equal(stalledWriter!.sendCredit, 0);
    assert.ok(stalledAccepted <= window + 64 * 1024, `stalled writer accepted ${stalledAccepted} bytes`);
    assert.ok(stalledWriter!.writableNeedDrain);
    assert.equal(p.dialer.isClosed, false);
    // Reading the stalled stream now resumes it.
    const resumed = await within(readBytes(stalled, 4 * window), 30_000, 'stalled stream resumes');
    assert.equal(resumed, 4 * window);
    await p.close();
  });

  describe('receive-window auto-tuning (round trips lengthened to ~100 ms by a delaying relay)', () => {
    const KiB = 1024;
    const MiB = 1024 * KiB;
    const relayDelayMs = 50;

    /** An acceptor that answers a stream named `send <bytes>` with that many bytes (no end when `hold`). */
    const sender = (extra: Side = {}): Side => ({
      ...extra,
      onStream: (s) => {
        s.on('error', () => {});
        const [verb, n, hold] = s.header.toString().split(' ');
        if (verb === 'send') void writeBytes(s, Number(n), hold !== 'hold');
      },
    });

    test('a reader that keeps up grows its window to the maximum; the growth is returned when it ends', async () => {
      const p = await pair({ relayDelayMs, acceptor: sender() });
      const s = p.dialer.open(Buffer.from(`send ${24 * MiB}`));
      s.end();
      assert.equal(s.receiveWindow, 256 * KiB, 'starts at the initial window');
      const got = await within(readAll(s), 120_000, 'transfer');
      assert.equal(got.length, 24 * MiB);
      assert.equal(s.receiveWindow, 4 * MiB, 'grew to maxReceiveWindow');
      await within(
        waitFor(() => p.dialer.streamCount === 0),
        30_000,
        'released',
      );
      assert.equal(p.dialer.stats().windowGrowthBytes, 0, 'growth handed back to the session budget');
      await p.close();
    });

    test('a stalled stream keeps its initial window and holds at most that while another grows to the max', async () => {
      let stalledWriter: TunnelStream | undefined;
      const p = await pair({
        relayDelayMs,
        acceptor: {
          onStream: (s) => {
            s.on('error', () => {});
            if (s.header.toString() === 'stall') {
              stalledWriter = s;
              const chunk = Buffer.alloc(16 * KiB, 7);
              const pump = () => {
                while (s.write(chunk));
                s.once('drain', pump);
              };
              pump();
            } else void writeBytes(s, 24 * MiB);
          },
        },
      });
      const stalled = p.dialer.open(Buffer.from('stall')); // never read
      stalled.on('error', () => {});
      stalled.end();
      await within(
        waitFor(() => stalled.bufferedIn >= 256 * KiB),
        30_000,
        'stalled stream fills its window',
      );
      const fast = p.dialer.open(Buffer.from('fast'));
      fast.end();
      const got = await within(readAll(fast), 120_000, 'fast transfer');
      assert.equal(got.length, 24 * MiB);
      assert.equal(fast.receiveWindow, 4 * MiB, 'the fast stream grew to the max');
      assert.equal(stalled.receiveWindow, 256 * KiB, 'the stalled stream did not grow');
      assert.equal(stalled.bufferedIn, 256 * KiB, 'and holds exactly its initial window');
      assert.equal(stalledWriter!.sendCredit, 0);
      await p.close();
    });

    test('the session budget caps the growth of all streams together', async () => {
      const budget = 2 * MiB;
      const p = await pair({ relayDelayMs, dialer: { receiveWindowBudget: budget }, acceptor: sender() });
      const streams = Array.from({ length: 3 }, () => p.dialer.open(Buffer.from(`send ${12 * MiB} hold`)));
      for (const s of streams) s.end();
      // Read everything while the streams stay open (the senders hold their end), so the
      // growth is still held when we look.
      await within(
        Promise.all(streams.map((s) => readBytesKeepOpen(s, 12 * MiB))),
        120_000,
        'three transfers',
      );
      const windows = streams.map((s) => s.receiveWindow);
      assert.equal(p.dialer.stats().windowGrowthBytes, budget, `windows ${windows.join(', ')}`);
      assert.equal(
        windows.reduce((a, b) => a + b, 0),
        3 * 256 * KiB + budget,
        `windows ${windows.join(', ')}`,
      );
      for (const w of windows) assert.ok(w <= 4 * MiB);
      for (const s of streams) s.destroy();
      await within(
        waitFor(() => p.dialer.stats().windowGrowthBytes === 0),
        30_000,
        'budget returned',
      );
      await p.close();
    });
  });

  test('half-close: the reader sees end while its own direction stays open', async () => {
    const p = await pair({
      acceptor: {
        onStream: (s) => {
          void (async () => {
            const req = await readAll(s); // ends on the dialer's CLOSE
            assert.equal(s.writable, true);
            s.write('got ');
            s.end(req);
          })();
        },
      },
    });
    const s = p.dialer.open();
    s.end('request body');
    assert.equal((await within(readAll(s), 30_000, 'reply')).toString(), 'got request body');
    await p.close();
  });

  test('destroying a stream resets it on the peer; other streams are unaffected', async () => {
    const accepted: TunnelStream[] = [];
    const errors: unknown[] = [];
    const p = await pair({
      acceptor: {
        onStream: (s) => {
          accepted.push(s);
          s.on('error', (e) => errors.push(e));
          if (s.header.toString() === 'echo') s.pipe(s);
          else void writeBytes(s, 64 * 1024 * 1024).catch(() => {});
        },
      },
    });
    const doomed = p.dialer.open(Buffer.from('endless'));
    doomed.on('error', () => {});
    const echo = p.dialer.open(Buffer.from('echo'));
    await within(once(doomed, 'readable'), 30_000, 'first data');
    doomed.destroy(new Error('client went away'));
    await within(
      waitFor(() => errors.length === 1),
      30_000,
      'peer sees the reset',
    );
    const err = errors[0] as TunnelError;
    assert.ok(err instanceof TunnelError);
    assert.equal(err.code, 'Reset');
    assert.match(err.message, /client went away/);
    echo.end('still fine');
    assert.equal((await within(readAll(echo), 30_000, 'echo after reset')).toString(), 'still fine');
    await within(
      waitFor(() => p.acceptor.streamCount === 0 && p.dialer.streamCount === 0),
      30_000,
      'released',
    );
    await p.close();
  });

  test('streams beyond the peer’s maxStreams are refused', async () => {
    const p = await pair({ acceptor: { maxStreams: 2, onStream: (s) => s.on('error', () => {}) } });
    const [a, b, c] = [p.dialer.open(), p.dialer.open(), p.dialer.open()];
    for (const s of [a, b]) s.on('error', () => {});
    const [err] = (await within(once(c, 'error'), 30_000, 'refusal')) as [TunnelError];
    assert.equal(err.code, 'Refused');
    assert.equal(a.destroyed || b.destroyed, false);
    await p.close();
  });

  test('a peer that sends beyond its credit is cut off with a protocol error', async () => {
    const http = createHttpServer();
    const wss = new WebSocketServer({ server: http });
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    let acceptor: TunnelSession | undefined;
    const opened = new Promise<TunnelStream>((resolve) =>
      wss.once('connection', (ws) => {
        acceptor = new TunnelSession(webSocketTransport(ws), {
          role: 'acceptor',
          receiveWindow: INITIAL_WINDOW,
          onStream: (s) => {
            s.on('error', () => {});
            resolve(s);
          },
        });
      }),
    );
    // A hand-written misbehaving peer: raw frames on a raw WebSocket.
    const ws = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}/`);
    await once(ws, 'open');
    ws.send(encodeFrame(FrameType.Open, 1));
    const s = await within(opened, 30_000, 'open');
    const over = Buffer.alloc(INITIAL_WINDOW + 1);
    ws.send(
      Buffer.concat([frameHeader(FrameType.Data, 1, INITIAL_WINDOW), over.subarray(0, INITIAL_WINDOW)]),
    );
    ws.send(Buffer.concat([frameHeader(FrameType.Data, 1, 1), over.subarray(0, 1)]));
    const err = await within(acceptor!.closed, 30_000, 'protocol error');
    assert.equal(err?.code, 'Protocol');
    assert.equal(s.destroyed, true);
    ws.terminate();
    wss.close();
    http.close();
  });

  test('a stream opened and closed in one message gets no window grant; one left open does', async () => {
    const got: Frame[] = [];
    const ws = await rawPeer(
      {
        receiveWindow: 4 * INITIAL_WINDOW,
        onStream: (s) => {
          s.on('error', () => {});
          s.resume();
          s.end('ok');
        },
      },
      (m) => got.push(...decodeFrames(m)),
    );
    // Stream 1: OPEN and CLOSE together (a request without a body). Stream 3: OPEN only.
    ws.send(Buffer.concat([encodeFrame(FrameType.Open, 1), encodeFrame(FrameType.Close, 1)]));
    ws.send(encodeFrame(FrameType.Open, 3));
    const closed = (id: number) => got.some((f) => f.type === FrameType.Close && f.stream === id);
    await within(
      (async () => {
        while (!closed(1) || !closed(3)) await new Promise((r) => setTimeout(r, 10));
      })(),
      30_000,
      'both answered',
    );
    const grants = got.filter((f) => f.type === FrameType.WindowUpdate).map((f) => f.stream);
    assert.deepEqual(grants, [3]);
  });

  test('bulk data leaves in whole frames, in messages of at most MESSAGE_BYTES, from pooled buffers given back once sent', async () => {
    const total = 4 * 1024 * 1024;
    const payload = randomBytes(total);
    const sizes: number[] = [];
    const data: Buffer[] = [];
    let ended!: () => void;
    const end = new Promise<void>((resolve) => (ended = resolve));
    const ws = await rawPeer(
      {
        onStream: (s) => {
          s.on('error', () => {});
          s.resume();
          // Chunks of odd sizes, so frames and messages do not line up with writes.
          for (let off = 0; off < total; off += 100_003) s.write(payload.subarray(off, off + 100_003));
          s.end();
        },
      },
      (m) => {
        sizes.push(m.length);
        // decodeFrames throws on a frame cut short at the end of a message.
        for (const f of decodeFrames(m)) {
          if (f.type === FrameType.Data) data.push(Buffer.from(f.payload));
          if (f.type === FrameType.Close) ended();
        }
      },
    );
    const grant = Buffer.alloc(4);
    grant.writeUInt32BE(total, 0);
    ws.send(Buffer.concat([encodeFrame(FrameType.Open, 1), encodeFrame(FrameType.WindowUpdate, 1, grant)]));
    await within(end, 30_000, 'the whole payload');
    assert.equal(sha(Buffer.concat(data)), sha(payload));
    assert.ok(Math.max(...sizes) <= MESSAGE_BYTES, `largest message ${Math.max(...sizes)} B`);
    assert.ok(
      sizes.filter((n) => n > 64 * 1024).length >= total / (128 * 1024),
      'data went out in full messages',
    );
    assert.ok(messagePool.freeCount > 0, 'sent messages’ buffers are back in the pool');
  });

  test('a silent dead peer (relay stops forwarding) is detected by pings on both sides', async () => {
    const timing = { pingIntervalMs: 200, pingTimeoutMs: 1500 };
    const p = await pair({
      relay: true,
      dialer: timing,
      acceptor: { ...timing, onStream: (s) => s.on('error', () => {}) },
    });
    const s = p.dialer.open(Buffer.from('long watch'));
    const streamError = new Promise<unknown>((resolve) => s.once('error', resolve));
    s.write('hello');
    await within(
      waitFor(() => p.acceptor.streamCount === 1 && p.dialer.pongs > 0),
      30_000,
      'established',
    );
    p.relay!.stop();
    const [d, a] = await within(
      Promise.all([p.dialer.closed, p.acceptor.closed]),
      60_000,
      'dead peer detected',
    );
    assert.equal(d?.code, 'PeerTimeout');
    assert.equal(a?.code, 'PeerTimeout');
    const se = (await streamError) as TunnelError;
    assert.equal(se.code, 'PeerTimeout');
    assert.throws(
      () => p.dialer.open(),
      (e: unknown) => e instanceof TunnelError && e.code === 'PeerTimeout',
    );
    await p.close();
  });

  test('frames sent right after the handshake reach a session attached later (regression: first PING lost)', async () => {
    // The acceptor pings the moment it exists; the dialer's PING used to arrive between the
    // client's 'open' and the session attaching its handler, was dropped, and the acceptor
    // then timed out a healthy peer.
    const http = createHttpServer();
    const wss = new WebSocketServer({ server: http });
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    const accepted = new Promise<TunnelSession>((resolve) =>
      wss.once('connection', (ws) =>
        resolve(new TunnelSession(webSocketTransport(ws), { role: 'acceptor' })),
      ),
    );
    const ws = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}/`);
    const transport = webSocketTransport(ws);
    await once(ws, 'open');
    const acceptor = await accepted;
    await new Promise((r) => setTimeout(r, 100)); // the acceptor's PING is in by now
    const dialer = new TunnelSession(transport, { role: 'dialer' });
    await within(
      waitFor(() => acceptor.pongs >= 1),
      30_000,
      'the acceptor’s first ping is answered',
    );
    dialer.close();
    acceptor.close();
    wss.close();
    http.closeAllConnections();
    http.close();
  });

  test('a closed connection fails every open stream with SessionClosed', async () => {
    const p = await pair({ acceptor: { onStream: (s) => s.on('error', () => {}) } });
    const streams = [p.dialer.open(), p.dialer.open()];
    const errs = streams.map((s) => new Promise<TunnelError>((r) => s.once('error', r)));
    await within(
      waitFor(() => p.acceptor.streamCount === 2),
      30_000,
      'opened',
    );
    p.acceptor.close();
    for (const e of await within(Promise.all(errs), 30_000, 'streams fail'))
      assert.equal(e.code, 'SessionClosed');
    assert.equal((await p.dialer.closed)?.code, 'SessionClosed');
    await p.close();
  });
});

async function writeBytesFrom(s: TunnelStream, data: Buffer): Promise<void> {
  for (let off = 0; off < data.length; off += 8192) {
    if (!s.write(data.subarray(off, off + 8192))) await once(s, 'drain');
  }
  s.end();
}

async function readBytes(s: TunnelStream, n: number): Promise<number> {
  let got = 0;
  for await (const c of s) {
    got += (c as Buffer).length;
    if (got >= n) break;
  }
  return got;
}

/** Reads `n` bytes with 'data' (not `for await`, which would destroy the stream at the end). */
function readBytesKeepOpen(s: TunnelStream, n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const onData = (c: Buffer): void => {
      got += c.length;
      if (got >= n) {
        s.off('data', onData);
        resolve();
      }
    };
    s.on('data', onData);
    s.once('error', reject);
  });
}

/** Polls a cheap in-memory condition (no I/O) until it holds. */
async function waitFor(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 10));
}
