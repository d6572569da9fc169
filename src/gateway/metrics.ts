/**
 * Prometheus metrics of meridian-gateway.
 *
 * | metric | labels | |
 * | --- | --- | --- |
 * | `meridian_gateway_agents_connected` | `cluster` | agent tunnels open now (per-cluster health as the gateway sees it; read at scrape time) |
 * | `meridian_gateway_tunnel_streams` | `cluster` | streams open over the cluster's tunnels |
 * | `meridian_gateway_requests_total` | `cluster`, `verb`, `code` | proxied requests by the status sent (0: the client left first) |
 * | `meridian_gateway_request_duration_seconds` | `cluster`, `verb` | histogram of proxied request time (upgrades: until the stream ends) |
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { AuditRecord } from './proxy.ts';
import type { AgentRegistry } from './registry.ts';

const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export interface GatewayMetrics {
  /** Counts one proxied request; pass as (or call from) the gateway's `audit`. */
  request(r: AuditRecord): void;
  /** Reports `agents`' connections at every scrape (replacing any registry set before). */
  observeAgents(agents: AgentRegistry): void;
}

export function createGatewayMetrics(registry: Registry): GatewayMetrics {
  const registers = [registry];
  let agents: AgentRegistry | undefined;
  /** Sums a value per cluster over the open connections, at scrape time (no timers). */
  const perCluster = (value: (streams: number) => number) => {
    const out = new Map<string, number>();
    for (const c of agents?.connections() ?? []) {
      if (c.session.isClosed) continue;
      out.set(c.cluster, (out.get(c.cluster) ?? 0) + value(c.session.streamCount));
    }
    return out;
  };
  new Gauge({
    name: 'meridian_gateway_agents_connected',
    help: 'Agent tunnels open now, by cluster.',
    labelNames: ['cluster'],
    registers,
    collect() {
      this.reset();
      for (const [cluster, n] of perCluster(() => 1)) this.set({ cluster }, n);
    },
  });
  new Gauge({
    name: 'meridian_gateway_tunnel_streams',
    help: "Streams open over the cluster's agent tunnels.",
    labelNames: ['cluster'],
    registers,
    collect() {
      this.reset();
      for (const [cluster, n] of perCluster((s) => s)) this.set({ cluster }, n);
    },
  });
  const requests = new Counter({
    name: 'meridian_gateway_requests_total',
    help: 'Requests proxied to member clusters, by the status sent (0: the client went away first).',
    labelNames: ['cluster', 'verb', 'code'],
    registers,
  });
  const duration = new Histogram({
    name: 'meridian_gateway_request_duration_seconds',
    help: 'Time of a proxied request (an upgraded stream: until it ends).',
    labelNames: ['cluster', 'verb'],
    buckets: REQUEST_BUCKETS,
    registers,
  });
  return {
    request(r) {
      requests.inc({ cluster: r.cluster, verb: r.verb, code: String(r.status) });
      duration.observe({ cluster: r.cluster, verb: r.verb }, r.durationMs / 1000);
    },
    observeAgents(a) {
      agents = a;
    },
  };
}
