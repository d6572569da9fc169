import type { Command } from 'commander';
import { pino } from 'pino';
import { gatewayFromFiles } from '../gateway/main.ts';
import { reportErrors } from './exit-codes.ts';

interface Options {
  tlsCertFile: string;
  tlsKeyFile: string;
  clientCaFile: string;
  agentTokenDir: string;
  bindAddress: string;
  port: number;
}

/** `meridian gateway`: the tunnel server and cluster proxy, until interrupted. */
export function registerGateway(program: Command): void {
  program
    .command('gateway')
    .description(
      'serve agent tunnels and the cluster proxy (https://<host>:<port>/clusters/<name>/…, callers identified by hub-CA client certificates)',
    )
    .requiredOption('--tls-cert-file <file>', 'PEM serving certificate')
    .requiredOption('--tls-key-file <file>', 'PEM serving key')
    .requiredOption('--client-ca-file <file>', 'PEM CA whose client certificates identify users (the hub CA)')
    .requiredOption(
      '--agent-token-dir <dir>',
      'one file per cluster, named after it, holding its agent token',
    )
    .option('--bind-address <host>', 'address to listen on', '0.0.0.0')
    .option('--port <port>', 'port to listen on', (v) => Number(v), 8443)
    .action(
      reportErrors(async (opts: Options) => {
        const log = pino({ name: 'meridian-gateway' });
        const gw = await gatewayFromFiles({
          certFile: opts.tlsCertFile,
          keyFile: opts.tlsKeyFile,
          clientCaFile: opts.clientCaFile,
          tokenDir: opts.agentTokenDir,
          host: opts.bindAddress,
          port: opts.port,
          log,
        });
        log.info({ url: gw.url }, 'gateway listening');
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        await gw.close();
      }),
    );
}
