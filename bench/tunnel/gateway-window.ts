// A meridian-gateway process for the tunnel benchmark whose streams start with a larger
// per-stream receive window (the credit the agent gets for response bodies; `meridian gateway`
// starts at 256 KiB and auto-tunes up to 4 MiB), to see what the starting window costs.
// Same entry point as `meridian gateway` (gatewayFromFiles), one option more.
// Usage: node bench/tunnel/gateway-window.ts <cert> <key> <ca> <token dir> <port> <window bytes>
import { tuneGcForRelaying } from '../../src/cli/relay-gc.ts';
import { gatewayFromFiles } from '../../src/gateway/main.ts';

tuneGcForRelaying(); // as `meridian gateway` does

const [certFile, keyFile, clientCaFile, tokenDir, port, window] = process.argv.slice(2);
if (window === undefined)
  throw new Error('usage: gateway-window.ts <cert> <key> <ca> <token dir> <port> <window>');
const gw = await gatewayFromFiles({
  certFile: certFile as string,
  keyFile: keyFile as string,
  clientCaFile: clientCaFile as string,
  tokenDir: tokenDir as string,
  host: '127.0.0.1',
  port: Number(port),
  audit: () => {},
  extra: { session: { receiveWindow: Number(window) } },
});
process.on('SIGTERM', () => void gw.close().then(() => process.exit(0)));
