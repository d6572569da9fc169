import type { Command } from 'commander';
import { pino } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { gatewayFromFiles } from '../gateway/main.ts';
import { createGatewayMetrics } from '../gateway/metrics.ts';
import { serveMetrics } from '../kube/metrics.ts';
import { reportErrors } from './exit-codes.ts';

interface Options {
  tlsCertFile: string;
  tlsKeyFile: string;
  clientCaFile: string;
  agentTokenDir: string;
  bindAddress: string;
  port: number;
  metricsPort: number;
  metricsBindAddress: string;
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
    .option(
      '--metrics-port <port>',
      'serve Prometheus /metrics (and /healthz, /readyz) over plain HTTP on this port (0: off)',
      (v) => Number(v),
      0,
    )
    .option('--metrics-bind-address <host>', 'address of the metrics listener', '127.0.0.1')
    .action(
      reportErrors(async (opts: Options) => {
        const log = pino({ name: 'meridian-gateway' });
        const registry = new Registry();
        collectDefaultMetrics({ register: registry });
        const metrics = createGatewayMetrics(registry);
        const gw = await gatewayFromFiles({
          certFile: opts.tlsCertFile,
          keyFile: opts.tlsKeyFile,
          clientCaFile: opts.clientCaFile,
          tokenDir: opts.agentTokenDir,
          host: opts.bindAddress,
          port: opts.port,
          log,
          audit: (r) => {
            metrics.request(r);
            log.info({ audit: r }, 'proxied request');
          },
        });
        metrics.observeAgents(gw.agents);
        const metricsServer =
          opts.metricsPort > 0
            ? await serveMetrics(registry, opts.metricsBindAddress, opts.metricsPort)
            : undefined;
        log.info({ url: gw.url, metrics: metricsServer?.url }, 'gateway listening');
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        await Promise.all([gw.close(), metricsServer?.close()]);
      }),
    );
}
