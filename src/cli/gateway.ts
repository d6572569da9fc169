import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { pino } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { jsonLinesAudit } from '../gateway/audit.ts';
import { hubProxyFromKubeconfig, type HubProxy } from '../gateway/hub.ts';
import { gatewayFromFiles } from '../gateway/main.ts';
import type { AuditRecord } from '../gateway/proxy.ts';
import { createGatewayMetrics } from '../gateway/metrics.ts';
import { serveMetrics } from '../kube/metrics.ts';
import { createDashboard, type Dashboard } from '../dashboard/server.ts';
import { ApiClient } from '../kube/api-client.ts';
import type { Logger } from '../kube/log.ts';
import { tuneGcForRelaying } from './relay-gc.ts';
import { reportErrors } from './exit-codes.ts';
import { loadHubKubeConfig } from './hub-kubeconfig.ts';

interface Options {
  tlsCertFile: string;
  tlsKeyFile: string;
  clientCaFile: string;
  agentTokenDir?: string;
  bindAddress: string;
  port: number;
  hubKubeconfig?: string;
  registerApiService?: string;
  peer: string[];
  auditLog?: string;
  metricsPort: number;
  metricsBindAddress: string;
  dashboard: boolean;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** The dashboard's handler, watching the fleet with its own hub client until `signal` aborts. */
async function startDashboard(
  kubeconfig: string,
  signal: AbortSignal,
  log: Logger,
): Promise<{ handle: Dashboard['handle']; close(): Promise<void> }> {
  const { kc } = loadHubKubeConfig(kubeconfig);
  const client = await ApiClient.fromKubeConfig(kc, { userAgent: 'meridian-dashboard' });
  const dashboard = await createDashboard({ hub: client, signal, log });
  return { handle: dashboard.handle, close: () => client.close() };
}

/** `meridian gateway`: the tunnel server and cluster proxy, until interrupted. */
export function registerGateway(program: Command): void {
  program
    .command('gateway')
    .description(
      'serve agent tunnels and the cluster proxy (through the hub as the aggregated API proxy.meridian.dev, or at https://<host>:<port>/clusters/<name>/… for hub-CA client certificates)',
    )
    .requiredOption('--tls-cert-file <file>', 'PEM serving certificate')
    .requiredOption('--tls-key-file <file>', 'PEM serving key')
    .requiredOption('--client-ca-file <file>', 'PEM CA whose client certificates identify users (the hub CA)')
    .option(
      '--agent-token-dir <dir>',
      'TEST ONLY: one file per cluster, named after it, holding a pre-shared agent token ' +
        '(agents otherwise present hub-issued certificates, checked against the hub with --hub-kubeconfig)',
    )
    .option('--bind-address <host>', 'address to listen on', '0.0.0.0')
    .option('--port <port>', 'port to listen on', (v) => Number(v), 8443)
    .option(
      '--hub-kubeconfig <file>',
      "the gateway's hub identity: serve proxy.meridian.dev to the hub (front-proxy settings read from the hub, hub RBAC by SubjectAccessReview)",
    )
    .option(
      '--register-api-service <host>',
      'with --hub-kubeconfig: register the APIService, the hub dialling <host>:<port> (ExternalName Service meridian-system/meridian-gateway)',
    )
    .option('--peer <url>', 'another gateway replica (https://host:port), repeatable', collect, [])
    .option(
      '--audit-log <file>',
      'write one JSON line per proxied request here ("-" = stdout) instead of the log',
    )
    .option(
      '--metrics-port <port>',
      'serve Prometheus /metrics (and /healthz, /readyz) over plain HTTP on this port (0: off)',
      (v) => Number(v),
      0,
    )
    .option('--metrics-bind-address <host>', 'address of the metrics listener', '127.0.0.1')
    .option(
      '--dashboard',
      'with --hub-kubeconfig: serve the read-only fleet dashboard at /dashboard/ (hub tokens or hub-CA client certificates; UI from npm run build:ui)',
      false,
    )
    .action(
      reportErrors(async (opts: Options) => {
        const log = pino({ name: 'meridian-gateway' });
        tuneGcForRelaying(log);
        let hub: HubProxy | undefined;
        if (opts.hubKubeconfig !== undefined) hub = await hubProxyFromKubeconfig(opts.hubKubeconfig);
        else if (opts.registerApiService !== undefined)
          throw new Error('--register-api-service needs --hub-kubeconfig');
        else if (opts.dashboard)
          throw new Error('--dashboard needs --hub-kubeconfig (it watches the fleet there)');
        const stopping = new AbortController();
        const dashboard =
          opts.dashboard && opts.hubKubeconfig !== undefined
            ? await startDashboard(opts.hubKubeconfig, stopping.signal, log)
            : undefined;
        const registry = new Registry();
        collectDefaultMetrics({ register: registry });
        const metrics = createGatewayMetrics(registry);
        const auditLine =
          opts.auditLog === undefined
            ? (r: AuditRecord) => log.info({ audit: r }, 'proxied request')
            : jsonLinesAudit(
                opts.auditLog === '-' ? process.stdout : createWriteStream(opts.auditLog, { flags: 'a' }),
              );
        const [cert, key, ca] =
          opts.peer.length > 0
            ? await Promise.all([
                readFile(opts.tlsCertFile),
                readFile(opts.tlsKeyFile),
                readFile(opts.clientCaFile),
              ])
            : [];
        const gw = await gatewayFromFiles({
          certFile: opts.tlsCertFile,
          keyFile: opts.tlsKeyFile,
          clientCaFile: opts.clientCaFile,
          ...(opts.agentTokenDir === undefined ? {} : { tokenDir: opts.agentTokenDir }),
          ...(opts.hubKubeconfig === undefined ? {} : { agentHubKubeconfig: opts.hubKubeconfig }),
          host: opts.bindAddress,
          port: opts.port,
          log,
          audit: (r) => {
            metrics.request(r);
            auditLine(r);
          },
          extra: {
            ...(hub === undefined ? {} : { frontProxy: hub.frontProxy, authorizer: hub.authorizer }),
            ...(dashboard === undefined ? {} : { dashboard: dashboard.handle }),
            ...(cert === undefined || key === undefined || ca === undefined
              ? {}
              : { peers: { urls: opts.peer, cert, key, ca } }),
          },
        });
        metrics.observeAgents(gw.agents);
        const metricsServer =
          opts.metricsPort > 0
            ? await serveMetrics(registry, opts.metricsBindAddress, opts.metricsPort)
            : undefined;
        log.info({ url: gw.url, metrics: metricsServer?.url }, 'gateway listening');
        if (hub !== undefined && opts.registerApiService !== undefined) {
          await hub.register({
            externalName: opts.registerApiService,
            port: gw.port,
            caBundle: await readFile(opts.clientCaFile),
          });
          log.info(
            { host: opts.registerApiService, port: gw.port },
            'registered APIService v1alpha1.proxy.meridian.dev',
          );
        }
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        stopping.abort();
        await Promise.all([gw.close(), metricsServer?.close()]);
        await Promise.all([hub?.close(), dashboard?.close()]);
      }),
    );
}
