import type { Command } from 'commander';
import { pino } from 'pino';
import { agentFromFiles } from '../agent/main.ts';
import { reportErrors } from './exit-codes.ts';

interface Options {
  cluster: string;
  gateway: string;
  tokenFile: string;
  gatewayCaFile: string;
  kubeconfig?: string;
  proxy?: string;
}

/** `meridian agent`: dials out to the gateway and serves the member through the tunnel, until interrupted. */
export function registerAgent(program: Command): void {
  program
    .command('agent')
    .description(
      "run in a member cluster: dial out to the hub's gateway and serve this cluster through the tunnel",
    )
    .requiredOption('--cluster <name>', "this cluster's name in the fleet")
    .requiredOption('--gateway <url>', 'https://host:port of the gateway')
    .requiredOption('--token-file <file>', "this cluster's agent token (re-read before each connection)")
    .requiredOption('--gateway-ca-file <file>', "PEM CA of the gateway's serving certificate (the hub CA)")
    .option('--kubeconfig <file>', 'the member API server (default: in-cluster, then $KUBECONFIG)')
    .option('--proxy <url>', 'reach the gateway through this HTTP proxy (CONNECT)')
    .action(
      reportErrors(async (opts: Options) => {
        const log = pino({ name: 'meridian-agent' });
        const agent = await agentFromFiles({
          cluster: opts.cluster,
          gatewayUrl: opts.gateway,
          tokenFile: opts.tokenFile,
          gatewayCaFile: opts.gatewayCaFile,
          ...(opts.kubeconfig !== undefined && { kubeconfig: opts.kubeconfig }),
          ...(opts.proxy !== undefined && { proxy: opts.proxy }),
          log,
        });
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        await agent.stop();
      }),
    );
}
