/**
 * Prometheus metrics of the controller machinery, wired to the hooks of `WorkQueue`
 * (`WorkQueueMetrics`) and `defineController` (`ControllerMetrics`), plus propagation latency.
 *
 * As client-go's `workqueue.SetProvider` and controller-runtime's global registry, the wiring
 * is process-wide: `registerControllerMetrics(registry)` installs providers that every queue
 * and controller created afterwards uses (a process runs one controller manager). Series:
 *
 * | metric | labels | |
 * | --- | --- | --- |
 * | `meridian_workqueue_depth` | `name` | ready keys waiting for a worker |
 * | `meridian_workqueue_adds_total` | `name` | keys queued (after de-duplication) |
 * | `meridian_workqueue_retries_total` | `name` | keys re-queued with backoff after a failed reconcile |
 * | `meridian_workqueue_dropped_total` | `name` | keys refused because the queue was full |
 * | `meridian_reconcile_total` | `controller`, `result` | reconciles by outcome (success, requeue, error, terminal) |
 * | `meridian_reconcile_duration_seconds` | `controller` | histogram of reconcile time |
 * | `meridian_propagation_latency_seconds` | `cluster` | histogram: a hub object's change seen → its Work applied in the member |
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { setControllerMetrics } from './controller.ts';
import { setWorkQueueMetricsProvider } from './workqueue.ts';

/** Reconciles take milliseconds to tens of seconds (member API calls, timeouts). */
const RECONCILE_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Propagation spans detector → scheduler → overrides → execution: tens of ms to minutes. */
const PROPAGATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];

/** Pending template changes remembered for propagation latency; the oldest are forgotten first. */
const MAX_TRACKED_CHANGES = 10_000;
/**
 * An apply this long after the change is not a propagation of it (e.g. a cluster joined
 * later and received the object): not observed, so the histogram measures change → apply.
 */
const PROPAGATION_WINDOW_MS = 10 * 60_000;

function metric<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

/**
 * When each hub template last changed, so the execution controller can observe how long
 * the change took to reach each member. Process-local: both ends run in meridian-controllers.
 */
export interface PropagationTracker {
  /** A template changed: `version` is its generation (or resourceVersion when it has none). */
  changed(templateKey: string, version: string): void;
  /** The template's manifest was applied (created or updated, not a drift revert) in `cluster`. */
  applied(templateKey: string, cluster: string): void;
}

interface Change {
  readonly version: string;
  readonly at: number;
  readonly clusters: Set<string>;
}

const noTracker: PropagationTracker = { changed() {}, applied() {} };
let tracker: PropagationTracker = noTracker;

/** The process's propagation tracker (a no-op until `registerControllerMetrics`). */
export function propagationTracker(): PropagationTracker {
  return tracker;
}

/**
 * A tracker observing into `histogram`. A change is recorded once per version, so status-only
 * writes to an object with a generation (a Deployment's aggregated status) do not restart the
 * clock; each cluster's first apply within `windowMs` of a change is observed, later ones
 * (resyncs, a cluster that joined afterwards) are not.
 */
export function createPropagationTracker(
  histogram: Histogram<'cluster'>,
  now: () => number = () => performance.now(),
  maxTracked = MAX_TRACKED_CHANGES,
  windowMs = PROPAGATION_WINDOW_MS,
): PropagationTracker {
  const changes = new Map<string, Change>();
  return {
    changed(key, version) {
      if (changes.get(key)?.version === version) return;
      changes.delete(key);
      if (changes.size >= maxTracked) changes.delete(changes.keys().next().value as string);
      changes.set(key, { version, at: now(), clusters: new Set() });
    },
    applied(key, cluster) {
      const change = changes.get(key);
      if (change === undefined || change.clusters.has(cluster)) return;
      const elapsed = now() - change.at;
      if (elapsed > windowMs) return;
      change.clusters.add(cluster);
      histogram.observe({ cluster }, elapsed / 1000);
    },
  };
}

/** Registers the series above in `registry` and makes every later queue and controller report to it. */
export function registerControllerMetrics(registry: Registry): void {
  const registers = [registry];
  const depth = metric(
    registry,
    'meridian_workqueue_depth',
    () =>
      new Gauge({
        name: 'meridian_workqueue_depth',
        help: 'Keys ready in the work queue, waiting for a worker.',
        labelNames: ['name'],
        registers,
      }),
  );
  const adds = metric(
    registry,
    'meridian_workqueue_adds_total',
    () =>
      new Counter({
        name: 'meridian_workqueue_adds_total',
        help: 'Keys added to the work queue (after de-duplication).',
        labelNames: ['name'],
        registers,
      }),
  );
  const retries = metric(
    registry,
    'meridian_workqueue_retries_total',
    () =>
      new Counter({
        name: 'meridian_workqueue_retries_total',
        help: 'Keys re-queued with backoff after a failed reconcile.',
        labelNames: ['name'],
        registers,
      }),
  );
  const dropped = metric(
    registry,
    'meridian_workqueue_dropped_total',
    () =>
      new Counter({
        name: 'meridian_workqueue_dropped_total',
        help: 'Keys refused because the work queue was full.',
        labelNames: ['name'],
        registers,
      }),
  );
  const reconciles = metric(
    registry,
    'meridian_reconcile_total',
    () =>
      new Counter({
        name: 'meridian_reconcile_total',
        help: 'Reconciles by controller and result (success, requeue, error, terminal).',
        labelNames: ['controller', 'result'],
        registers,
      }),
  );
  const duration = metric(
    registry,
    'meridian_reconcile_duration_seconds',
    () =>
      new Histogram({
        name: 'meridian_reconcile_duration_seconds',
        help: 'Time of one reconcile, by controller.',
        labelNames: ['controller'],
        buckets: RECONCILE_BUCKETS,
        registers,
      }),
  );
  const propagation = metric(
    registry,
    'meridian_propagation_latency_seconds',
    () =>
      new Histogram({
        name: 'meridian_propagation_latency_seconds',
        help: 'From a hub object change seen by the detector to its Work applied in the member cluster.',
        labelNames: ['cluster'],
        buckets: PROPAGATION_BUCKETS,
        registers,
      }),
  );
  setWorkQueueMetricsProvider((name) => {
    // Series exist from the start (0), so dashboards and tests see every queue.
    depth.set({ name }, 0);
    adds.inc({ name }, 0);
    retries.inc({ name }, 0);
    return {
      depth: (n) => depth.set({ name }, n),
      added: () => adds.inc({ name }),
      retried: () => retries.inc({ name }),
      dropped: () => dropped.inc({ name }),
    };
  });
  setControllerMetrics({
    reconciled(controller, outcome, durationMs) {
      reconciles.inc({ controller, result: outcome });
      duration.observe({ controller }, durationMs / 1000);
    },
  });
  tracker = createPropagationTracker(propagation);
}

/** A running metrics listener. */
export interface MetricsServer {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves `registry` over plain HTTP: `GET /metrics` (Prometheus text format), and `/healthz`
 * and `/readyz` (200 while the process runs) for probes. Resolves once listening; rejects on a
 * bind error (e.g. the port is taken), naming the address.
 */
export async function serveMetrics(registry: Registry, host: string, port: number): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz' || path === '/readyz') return void res.writeHead(200).end('ok');
    if (path !== '/metrics') return void res.writeHead(404).end();
    registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(new Error(`cannot serve metrics on ${host}:${port}: ${err.message}`)),
    );
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
