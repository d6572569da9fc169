/**
 * A plain TCP forwarder for processes put in a site's network namespace (netns.ts). It listens
 * on `listenHost` at each given port and pipes every connection to `toHost` at the same port.
 * Used in pairs across a site's veth link — inside the site on 127.0.0.1 → the host end of the
 * link, and on the host end → 127.0.0.1 — so that a process in the site reaches the host's
 * loopback-only servers (hub API server, gateway, member API server) at their usual URLs (their
 * certificates name 127.0.0.1) while every byte crosses the link. It adds no keepalives or
 * timeouts of its own: when the link is taken down its connections just go silent (no FIN, no
 * RST), as in a real partition.
 *
 * As a program (to run inside a namespace): `node netns-forward.ts <listenHost> <toHost> <port>...`;
 * prints `ready` once every port listens.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

export interface Forwarder {
  close(): Promise<void>;
}

/** Forwards `listenHost:port` → `toHost:port` for each port until closed. */
export async function startForwarder(
  listenHost: string,
  toHost: string,
  ports: readonly number[],
): Promise<Forwarder> {
  const sockets = new Set<Socket>();
  const track = (s: Socket): void => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };
  const servers: Server[] = [];
  for (const port of ports) {
    const server = createServer((inbound) => {
      const outbound = connect({ host: toHost, port });
      track(inbound);
      track(outbound);
      // One side failing ends the other; a clean end is passed on as an end (half-close).
      inbound.on('error', () => outbound.destroy());
      outbound.on('error', () => inbound.destroy());
      inbound.pipe(outbound);
      outbound.pipe(inbound);
    });
    servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, listenHost, () => resolve());
    });
  }
  return {
    async close() {
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [listenHost, toHost, ...ports] = process.argv.slice(2);
  if (listenHost === undefined || toHost === undefined || ports.length === 0) {
    process.stderr.write('usage: netns-forward.ts <listenHost> <toHost> <port>...\n');
    process.exit(1);
  }
  await startForwarder(listenHost, toHost, ports.map(Number));
  process.stdout.write('ready\n');
}
