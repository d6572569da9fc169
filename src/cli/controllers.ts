import { createServer } from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import type { Command } from 'commander';
import { pino } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { ApiClient } from '../kube/api-client.ts';
import { runManager } from '../controllers/manager.ts';
import { hubKubeconfigPath } from './hub-kubeconfig.ts';

interface Options {
  kubeconfig?: string;
  controllers: string;
  leaderElect: boolean;
  metricsPort: number;
}

/** `meridian controllers`: runs meridian-controllers against a hub until interrupted. */
export function registerControllers(program: Command): void {
  program
    .command('controllers')
    .description('run the Meridian controllers against a hub (leader-elected; safe to run several)')
    .option('--kubeconfig <file>', 'hub kubeconfig (default: $KUBECONFIG, then ~/.kube/config)')
    .option('--controllers <list>', 'controllers to run: * for all, -name to leave one out', '*')
    .option('--no-leader-elect', 'run without a Lease (only one replica may run)')
    .option('--metrics-port <port>', 'serve Prometheus metrics on this port (0: off)', (v) => Number(v), 0)
    .action(async (opts: Options) => {
      const log = pino({ name: 'meridian-controllers' });
      const kc = new KubeConfig();
      kc.loadFromFile(hubKubeconfigPath(opts.kubeconfig));
      const hub = await ApiClient.fromKubeConfig(kc, { userAgent: 'meridian-controllers' });
      const metrics = new Registry();
      collectDefaultMetrics({ register: metrics });
      if (opts.metricsPort > 0) {
        createServer((req, res) => {
          if (req.url !== '/metrics') return void res.writeHead(404).end();
          void metrics
            .metrics()
            .then((body) => res.writeHead(200, { 'content-type': metrics.contentType }).end(body));
        }).listen(opts.metricsPort, '127.0.0.1');
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
      });
      if (outcome === 'lost') {
        log.error('leadership lost; exiting so a fresh process campaigns again');
        process.exit(1);
      }
      process.exit(0);
    });
}
