// A reference point for the tunnel benchmark (run.ts, `tls-relay`): about the least a Node
// process can do that terminates the client's TLS and opens its own TLS connection to the
// origin. Each accepted connection is piped to a new one: no HTTP parsing, no multiplexing,
// no flow control of its own. The path through Meridian terminates TLS twice this way (the
// gateway, the agent: client ↔ gateway, gateway ↔ agent, agent ↔ origin); this relay once.
// It runs with the gateway's and agent's GC settings (src/cli/relay-gc.ts), as run.ts starts it.
// Usage: node bench/tunnel/tls-relay.ts <cert> <key> <ca> <port> <origin port>
import { readFileSync } from 'node:fs';
import { connect, createServer } from 'node:tls';
import { tuneGcForRelaying } from '../../src/cli/relay-gc.ts';

const [certFile, keyFile, caFile, port, originPort] = process.argv.slice(2);
if (originPort === undefined) throw new Error('usage: tls-relay.ts <cert> <key> <ca> <port> <origin port>');
tuneGcForRelaying();
const ca = readFileSync(caFile as string);
const server = createServer({ cert: readFileSync(certFile as string), key: readFileSync(keyFile as string) });
server.on('secureConnection', (down) => {
  const up = connect({ host: '127.0.0.1', port: Number(originPort), ca });
  const end = (): void => {
    down.destroy();
    up.destroy();
  };
  for (const s of [down, up]) s.on('error', end).on('close', end);
  down.pipe(up).pipe(down);
});
server.listen(Number(port), '127.0.0.1');
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(0));
