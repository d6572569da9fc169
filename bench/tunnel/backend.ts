// The origin server of the tunnel benchmark, standing in for a member API server: HTTPS on
// 127.0.0.1, one process of its own. Prints {"port":N} once listening.
//   GET /small        → 2 bytes ("ok")
//   GET /big?bytes=N  → N bytes, written with backpressure
//   GET /stall        → an endless body, written with backpressure (a reader that stops reading
//                       stalls it)
//   GET /pf?bytes=N with `Connection: Upgrade` → 101, then N raw bytes and end: the data path of
//                       a port-forward (raw bytes on an upgraded connection)
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';

const [certFile, keyFile] = process.argv.slice(2);
if (certFile === undefined || keyFile === undefined) throw new Error('usage: backend.ts <cert> <key>');
const chunk = Buffer.alloc(64 * 1024, 0x61);

const server = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, (req, res) => {
  const url = new URL(req.url ?? '/', 'https://x');
  if (url.pathname.endsWith('/small')) {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 2 }).end('ok');
    return;
  }
  const big = url.pathname.endsWith('/big');
  if (!big && !url.pathname.endsWith('/stall')) {
    res.writeHead(404).end();
    return;
  }
  let left = big ? Number(url.searchParams.get('bytes') ?? 0) : Infinity;
  res.writeHead(200, {
    'Content-Type': 'application/octet-stream',
    ...(big ? { 'Content-Length': left } : {}),
  });
  const pump = (): void => {
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      left -= n;
      if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  res.on('close', () => (left = 0));
  pump();
});
server.on('upgrade', (req, socket) => {
  const url = new URL(req.url ?? '/', 'https://x');
  let left = Number(url.searchParams.get('bytes') ?? 0);
  socket.on('error', () => socket.destroy());
  socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: bench\r\n\r\n');
  const pump = (): void => {
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      left -= n;
      if (!socket.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
        socket.once('drain', pump);
        return;
      }
    }
    socket.end();
  };
  pump();
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
