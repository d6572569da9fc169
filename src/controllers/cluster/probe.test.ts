import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { ApiClient } from '../../kube/api-client.ts';
import { bounded, probe } from './probe.ts';

test('bounded settles when its signal aborts, whatever the request does, and ignores its late outcome', async () => {
  let fail: (err: Error) => void = () => {};
  const never = new Promise<string>((_, reject) => (fail = reject));
  const signal = AbortSignal.timeout(20);
  await assert.rejects(
    bounded(() => never, signal),
    (err: Error) => err.name === 'TimeoutError',
  );
  fail(new Error('late')); // must not surface as an unhandled rejection
  assert.equal(await bounded(async () => 'ok', new AbortController().signal), 'ok');
  await assert.rejects(
    bounded(async () => Promise.reject(new Error('boom')), new AbortController().signal),
    /boom/,
  );
});

// Regression: a frozen API server (SIGSTOP) accepts TCP connections and never completes the TLS
// handshake; the HTTP client only gave up at its 10 s connect timeout, so a "1 s" probe took
// 10 s and failover took 10 s longer.
test('a probe of a server that accepts connections and never answers fails within its timeout', async () => {
  const sockets: Socket[] = [];
  const server = createServer((s) => void sockets.push(s)).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as { port: number }).port;
  const client = new ApiClient({ server: `https://127.0.0.1:${port}`, tls: { rejectUnauthorized: false } });
  try {
    for (let i = 0; i < 2; i++) {
      const t0 = performance.now();
      const outcome = await probe(client, new AbortController().signal, 300);
      const took = performance.now() - t0;
      assert.equal(outcome.ok, false);
      assert.equal(!outcome.ok && outcome.reason, 'Unreachable');
      assert.match(!outcome.ok ? outcome.message : '', /no answer within 300 ms/);
      // Far below the client's 10 s connect timeout, which the bug waited for.
      assert.ok(took < 8_000, `probe ${i} took ${Math.round(took)} ms`);
    }
  } finally {
    for (const s of sockets) s.destroy();
    server.close();
    await client.close();
  }
});
