import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Histogram, Registry } from 'prom-client';
import { defineController } from './controller.ts';
import { createPropagationTracker, registerControllerMetrics } from './metrics.ts';
import { WorkQueue } from './workqueue.ts';

async function samples(registry: Registry, name: string): Promise<Map<string, number>> {
  const metric = await registry.getSingleMetric(name)?.get();
  return new Map(
    (metric?.values ?? []).map((v) => [
      `${'metricName' in v ? String(v.metricName) : name}${JSON.stringify(v.labels)}`,
      v.value,
    ]),
  );
}

test('propagation latency: from the first sight of a version to each cluster first apply, once each', async () => {
  const registry = new Registry();
  const histogram = new Histogram({
    name: 'latency',
    help: 'h',
    labelNames: ['cluster'],
    buckets: [1, 10],
    registers: [registry],
  });
  let now = 1000;
  const t = createPropagationTracker(histogram, () => now);
  t.changed('apps/v1|Deployment|ns|web', '1');
  now += 400;
  // A status-only write keeps the generation: the clock is not restarted.
  t.changed('apps/v1|Deployment|ns|web', '1');
  now += 600;
  t.applied('apps/v1|Deployment|ns|web', 'a');
  now += 2000;
  t.applied('apps/v1|Deployment|ns|web', 'b');
  t.applied('apps/v1|Deployment|ns|web', 'a'); // a resync: not a propagation
  t.applied('v1|ConfigMap|ns|never-changed', 'a');
  const s = await samples(registry, 'latency');
  assert.equal(s.get('latency_count{"cluster":"a"}'), 1);
  assert.equal(s.get('latency_sum{"cluster":"a"}'), 1);
  assert.equal(s.get('latency_count{"cluster":"b"}'), 1);
  assert.equal(s.get('latency_sum{"cluster":"b"}'), 3);
  // A new generation starts a new measurement for every cluster.
  t.changed('apps/v1|Deployment|ns|web', '2');
  now += 500;
  t.applied('apps/v1|Deployment|ns|web', 'a');
  assert.equal((await samples(registry, 'latency')).get('latency_sum{"cluster":"a"}'), 1.5);
});

test('an apply long after the change (a cluster joined later) is not a propagation of it', async () => {
  const registry = new Registry();
  const histogram = new Histogram({ name: 'w', help: 'h', labelNames: ['cluster'], registers: [registry] });
  let now = 0;
  const t = createPropagationTracker(histogram, () => now, 10, 60_000);
  t.changed('k', '1');
  now = 30_000;
  t.applied('k', 'early');
  now = 61_000;
  t.applied('k', 'late');
  const s = await samples(registry, 'w');
  assert.equal(s.get('w_count{"cluster":"early"}'), 1);
  assert.equal(s.get('w_count{"cluster":"late"}'), undefined);
});

test('the tracker forgets the oldest change past its bound', async () => {
  const registry = new Registry();
  const histogram = new Histogram({ name: 'l', help: 'h', labelNames: ['cluster'], registers: [registry] });
  const t = createPropagationTracker(histogram, () => 0, 2);
  t.changed('a', '1');
  t.changed('b', '1');
  t.changed('c', '1');
  t.applied('a', 'x');
  t.applied('c', 'x');
  assert.equal((await samples(registry, 'l')).get('l_count{"cluster":"x"}'), 1);
});

test('registered metrics count adds, depth, retries and reconciles of named queues and controllers', async () => {
  const registry = new Registry();
  registerControllerMetrics(registry);
  const q = new WorkQueue({ name: 'q' });
  q.add('k1');
  q.add('k1');
  q.add('k2');
  assert.equal(
    (await samples(registry, 'meridian_workqueue_adds_total')).get(
      'meridian_workqueue_adds_total{"name":"q"}',
    ),
    2,
  );
  assert.equal(
    (await samples(registry, 'meridian_workqueue_depth')).get('meridian_workqueue_depth{"name":"q"}'),
    2,
  );
  q.addRateLimited('k3');
  assert.equal(
    (await samples(registry, 'meridian_workqueue_retries_total')).get(
      'meridian_workqueue_retries_total{"name":"q"}',
    ),
    1,
  );
  q.shutDown();
  let reconciled!: () => void;
  const done = new Promise<void>((resolve) => (reconciled = resolve));
  const c = defineController({
    name: 'c',
    for: {
      store: {
        list: () => [],
        get: () => undefined,
        subscribe: () => () => {},
        ready: Promise.resolve(),
      } as never,
      apiVersion: 'v1',
      kind: 'ConfigMap',
    },
    reconciler: {
      name: 'c',
      reconcile: async () => {
        reconciled();
        return {};
      },
    },
  });
  c.queue.add('ns/x' as never);
  const abort = new AbortController();
  const run = c.run(abort.signal);
  await done;
  abort.abort();
  // run() resolves after in-flight reconciles have finished and been counted.
  await run;
  const total = await samples(registry, 'meridian_reconcile_total');
  assert.equal(total.get('meridian_reconcile_total{"controller":"c","result":"success"}'), 1);
  const d = await samples(registry, 'meridian_reconcile_duration_seconds');
  assert.equal(d.get('meridian_reconcile_duration_seconds_count{"controller":"c"}'), 1);
});
