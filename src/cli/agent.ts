import { InvalidArgumentError, type Command } from 'commander';
import { pino } from 'pino';
import { agentFromFiles } from '../agent/main.ts';
import { parseDuration } from './duration.ts';
import { tuneGcForRelaying } from './relay-gc.ts';
import { reportErrors, usageError } from './exit-codes.ts';

interface Options {
  cluster: string;
  gateway: string;
  gatewayCaFile: string;
  hubServer?: string;
  hubCaFile?: string;
  certDir?: string;
  bootstrapToken?: string;
  bootstrapTokenFile?: string;
  certTtlSeconds?: number;
  pull: boolean;
  heartbeatInterval?: number;
  leaseDuration?: number;
  tokenFile?: string;
  kubeconfig?: string;
  proxy?: string;
}

function ttlSeconds(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 600) throw new InvalidArgumentError('expected whole seconds, at least 600');
  return n;
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
    .requiredOption('--gateway-ca-file <file>', "PEM CA of the gateway's serving certificate (the hub CA)")
    .option('--hub-server <url>', 'https://host:port of the hub API server (certificate requests)')
    .option('--hub-ca-file <file>', 'PEM CA of the hub API server (default: --gateway-ca-file)')
    .option('--cert-dir <dir>', 'where the agent keeps its hub-issued certificate (agent.pem)')
    .option(
      '--bootstrap-token <id.secret>',
      'single-use token from `meridian join --mode Pull` (first start only)',
    )
    .option('--bootstrap-token-file <file>', 'the same, from a file')
    .option(
      '--cert-ttl-seconds <n>',
      'requested certificate lifetime (≥ 600; the hub may issue less)',
      ttlSeconds,
    )
    .option('--no-pull', "with a certificate: serve the tunnel only, do not apply this cluster's Works")
    .option(
      '--heartbeat-interval <duration>',
      'renew the heartbeat Lease this often (default 10s)',
      parseDuration,
    )
    .option(
      '--lease-duration <duration>',
      'heartbeat Lease duration: missed this long ⇒ NotReady (default 40s)',
      parseDuration,
    )
    .option('--token-file <file>', 'TEST ONLY: a pre-shared agent token instead of a certificate')
    .option('--kubeconfig <file>', 'the member API server (default: in-cluster, then $KUBECONFIG)')
    .option('--proxy <url>', 'reach the gateway through this HTTP proxy (CONNECT)')
    .action(
      reportErrors(async (opts: Options) => {
        if (opts.certDir === undefined && opts.tokenFile === undefined)
          throw usageError('give --cert-dir and --hub-server (or, for tests only, --token-file)');
        if (opts.certDir !== undefined && opts.hubServer === undefined)
          throw usageError('--cert-dir needs --hub-server (where the agent requests its certificates)');
        const log = pino({ name: 'meridian-agent' });
        tuneGcForRelaying(log);
        const agent = await agentFromFiles({
          cluster: opts.cluster,
          gatewayUrl: opts.gateway,
          gatewayCaFile: opts.gatewayCaFile,
          ...(opts.hubServer !== undefined && { hubServer: opts.hubServer }),
          ...(opts.hubCaFile !== undefined && { hubCaFile: opts.hubCaFile }),
          ...(opts.certDir !== undefined && { certDir: opts.certDir }),
          ...(opts.bootstrapToken !== undefined && { bootstrapToken: opts.bootstrapToken }),
          ...(opts.bootstrapTokenFile !== undefined && { bootstrapTokenFile: opts.bootstrapTokenFile }),
          ...(opts.certTtlSeconds !== undefined && { certTtlSeconds: opts.certTtlSeconds }),
          pull: opts.pull,
          ...(opts.heartbeatInterval !== undefined && { heartbeatIntervalMs: opts.heartbeatInterval }),
          ...(opts.leaseDuration !== undefined && {
            leaseDurationSeconds: Math.max(1, Math.round(opts.leaseDuration / 1000)),
          }),
          ...(opts.tokenFile !== undefined && { tokenFile: opts.tokenFile }),
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
