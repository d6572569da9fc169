// SseClient over a real loopback HTTP connection: frames as EventSource expects them, changes
// to one key coalesced while the reader lags, and a reader that never reads dropped once its
// queue passes the bound (the server keeps no unbounded buffer for it).
import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { SseClient, type SseOptions } from './sse.ts';

async function withStream(
  opts: SseOptions,
  body: (client: SseClient, res: IncomingMessage) => Promise<void>,
): Promise<void> {
  let client: SseClient | undefined;
  const ready = Promise.withResolvers<undefined>();
  const server = createServer((_req, res: ServerResponse) => {
    client = new SseClient(res, opts);
    ready.resolve(undefined);
  });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const { port } = server.address() as AddressInfo;
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/' }, resolve);
    req.on('error', reject);
    req.end();
  });
  await ready.promise;
  try {
    await body(client!, res);
  } finally {
    client!.close();
    res.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

test('frames are event/data pairs with JSON data', async () => {
  await withStream({}, async (client, res) => {
    assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
    client.send('change', { a: 1 });
    client.close();
    let text = '';
    for await (const chunk of res) text += String(chunk);
    assert.equal(text, 'event: change\ndata: {"a":1}\n\n');
  });
});

test('a reader that does not read: changes to one key coalesce; too many keys drop it', async () => {
  await withStream({ highWaterBytes: 1024, maxQueued: 6 }, async (client, res) => {
    res.pause();
    const big = 'x'.repeat(64 * 1024);
    // Fill the socket and kernel buffers until sends start queueing (bounded: 64 MiB at most).
    let i = 0;
    for (; i < 1024 && !client.isClosed; i++) client.send('change', { big, i }, 'same-key');
    assert.equal(client.isClosed, false, 'repeated changes to one key never exceed the queue');
    for (let k = 0; k < 5; k++) client.send('change', { k }, `key-${k}`);
    assert.equal(client.isClosed, false, '1 + 5 queued keys is at the bound');
    client.send('change', { k: 6 }, 'key-6');
    assert.equal(await client.closed, 'slow');
  });
});
