import type { Command } from 'commander';
import { pino } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { ApiClient } from '../kube/api-client.ts';
import { registerControllerMetrics, serveMetrics } from '../kube/metrics.ts';
import { runManager } from '../controllers/manager.ts';
import type { ControllerSettings } from '../controllers/context.ts';
import { parseDuration, parsePositive } from './duration.ts';
import { reportErrors, usageError } from './exit-codes.ts';
import { loadHubKubeConfig } from './hub-kubeconfig.ts';

interface Options {
  kubeconfig?: string;
  controllers: string;
  leaderElect: boolean;
  metricsPort: number;
  metricsBindAddress: string;
  clusterProbeInterval?: number;
  clusterProbeTimeout?: number;
  notReadyGracePeriod?: number;
  readyStabilization?: number;
  evictionTimeout?: number;
  kubeApiQps: number;
  kubeApiBurst: number;
  agentSigningCertFile?: string;
  agentSigningKeyFile?: string;
  agentCertTtl?: number;
}

function settingsOf(opts: Options): ControllerSettings {
  return {
    ...(opts.clusterProbeInterval !== undefined && { clusterProbeIntervalMs: opts.clusterProbeInterval }),
    ...(opts.clusterProbeTimeout !== undefined && { clusterProbeTimeoutMs: opts.clusterProbeTimeout }),
    ...(opts.notReadyGracePeriod !== undefined && { notReadyGracePeriodMs: opts.notReadyGracePeriod }),
    ...(opts.readyStabilization !== undefined && { readyStabilizationMs: opts.readyStabilization }),
    ...(opts.evictionTimeout !== undefined && { evictionTimeoutMs: opts.evictionTimeout }),
  };
}

/** `meridian controllers`: runs meridian-controllers against a hub until interrupted. */
export function registerControllers(program: Command): void {
  program
    .command('controllers')
    .description('run the Meridian controllers against a hub (leader-elected; safe to run several)')
    .option('--kubeconfig <file>', 'hub kubeconfig (default: $KUBECONFIG, then ~/.kube/config)')
    .option('--controllers <list>', 'controllers to run: * for all, -name to leave one out', '*')
    .option('--no-leader-elect', 'run without a Lease (only one replica may run)')
    .option(
      '--metrics-port <port>',
      'serve Prometheus /metrics (and /healthz, /readyz) on this port (0: off)',
      (v) => Number(v),
      0,
    )
    .option('--metrics-bind-address <host>', 'address of the metrics listener', '127.0.0.1')
    .option(
      '--cluster-probe-interval <duration>',
      'between health probes of a push-mode member (default 10s)',
      parseDuration,
    )
    .option('--cluster-probe-timeout <duration>', 'timeout of one health probe (default 5s)', parseDuration)
    .option(
      '--not-ready-grace-period <duration>',
      'a cluster not Ready this long is tainted NoExecute and its workloads fail over (default 40s)',
      parseDuration,
    )
    .option(
      '--ready-stabilization <duration>',
      'a tainted cluster must stay Ready this long before its taint is removed (default 30s)',
      parseDuration,
    )
    .option(
      '--eviction-timeout <duration>',
      'how long an evicted copy waits for its replacement to be healthy, unless the policy says (default 10m)',
      parseDuration,
    )
    .option(
      '--kube-api-qps <n>',
      'client-side limit on hub requests per second (watches excluded; the Lease has its own client)',
      parsePositive,
      100,
    )
    .option('--kube-api-burst <n>', 'hub requests allowed at once above --kube-api-qps', parsePositive, 200)
    .option('--agent-signing-cert-file <file>', 'hub CA certificate that signs pull-mode agent certificates')
    .option('--agent-signing-key-file <file>', 'its private key (with --agent-signing-cert-file)')
    .option(
      '--agent-cert-ttl <duration>',
      'longest lifetime of an agent certificate (default 24h)',
      parseDuration,
    )
    .action(
      reportErrors(async (opts: Options) => {
        if ((opts.agentSigningCertFile === undefined) !== (opts.agentSigningKeyFile === undefined))
          throw usageError('--agent-signing-cert-file and --agent-signing-key-file go together');
        const log = pino({ name: 'meridian-controllers' });
        const { kc } = loadHubKubeConfig(opts.kubeconfig);
        const hub = await ApiClient.fromKubeConfig(kc, {
          userAgent: 'meridian-controllers',
          qps: opts.kubeApiQps,
          burst: opts.kubeApiBurst,
        });
        const metrics = new Registry();
        collectDefaultMetrics({ register: metrics });
        registerControllerMetrics(metrics);
        if (opts.metricsPort > 0) {
          const server = await serveMetrics(metrics, opts.metricsBindAddress, opts.metricsPort);
          log.info({ url: server.url }, 'serving metrics');
        }
        const abort = new AbortController();
        process.once('SIGINT', () => abort.abort());
        process.once('SIGTERM', () => abort.abort());
        const outcome = await runManager({
          hub,
          log,
          metrics,
          controllers: opts.controllers,
          leaderElection: opts.leaderElect,
          signal: abort.signal,
          settings: settingsOf(opts),
          ...(opts.agentSigningCertFile !== undefined &&
            opts.agentSigningKeyFile !== undefined && {
              agentSigner: {
                caCertFile: opts.agentSigningCertFile,
                caKeyFile: opts.agentSigningKeyFile,
                ...(opts.agentCertTtl !== undefined && {
                  certTtlSeconds: Math.max(1, Math.round(opts.agentCertTtl / 1000)),
                }),
              },
            }),
        });
        if (outcome === 'lost') {
          log.error('leadership lost; exiting so a fresh process campaigns again');
          process.exit(1);
        }
        process.exit(0);
      }),
    );
}
