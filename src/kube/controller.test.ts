import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock, settle } from './clock.ts';
import {
  defineController,
  ownerKeys,
  type ReconcileOutcome,
  type Reconciler,
  type Result,
} from './controller.ts';
import { TerminalError } from './errors.ts';
import { objectKey, type ObjectKey } from './object-key.ts';
import { createStore } from './store.ts';
import type { KubeObject, OwnerReference } from './wire.ts';

const obj = (name: string, rv = '1', ownerReferences?: OwnerReference[]): KubeObject => ({
  metadata: { namespace: 'ns', name, resourceVersion: rv, ...(ownerReferences ? { ownerReferences } : {}) },
});

function readyStore(objects: KubeObject[] = []) {
  const s = createStore();
  s.writer.apply({ type: 'init' });
  for (const o of objects) s.writer.apply({ type: 'initApply', object: o });
  s.writer.apply({ type: 'initDone' });
  return s;
}

/** A reconciler driven by a per-call script; records keys and concurrent calls. */
function recorder(script: (key: ObjectKey, n: number) => Promise<Result> | Result = () => ({})) {
  const calls: ObjectKey[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const reconciler: Reconciler = {
    name: 'test',
    async reconcile(key) {
      calls.push(key);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        return await script(key, calls.filter((k) => k === key).length);
      } finally {
        inFlight--;
      }
    },
  };
  return { reconciler, calls, max: () => maxInFlight };
}

const spec = { apiVersion: 'apps/v1', kind: 'Deployment' } as const;

test('waits for stores, reconciles every primary object, then each change', async () => {
  const primary = createStore();
  const r = recorder();
  const ac = new AbortController();
  const c = defineController({
    name: 'c',
    for: { ...spec, store: primary.reader },
    reconciler: r.reconciler,
  });
  const run = c.run(ac.signal);
  await settle();
  assert.deepEqual(r.calls, [], 'nothing before the cache is synced');
  primary.writer.apply({ type: 'init' });
  primary.writer.apply({ type: 'initApply', object: obj('a') });
  primary.writer.apply({ type: 'initDone' });
  await settle();
  primary.writer.apply({ type: 'delete', object: obj('a', '2') });
  await settle();
  assert.deepEqual(r.calls, ['ns/a', 'ns/a'], 'a deleted object is still reconciled by key');
  ac.abort();
  await run;
});

test('errors back off per key, success resets, TerminalError is not requeued', async () => {
  const clock = new ManualClock();
  const outcomes: ReconcileOutcome[] = [];
  const retries: number[] = [];
  const primary = readyStore([obj('flaky'), obj('bad')]);
  const r = recorder((key, n) => {
    if (key === 'ns/bad') throw new TerminalError('spec cannot work');
    if (n <= 2) throw new Error('transient');
    return {};
  });
  const c = defineController({
    name: 'c',
    for: { ...spec, store: primary.reader },
    reconciler: {
      name: 'wrap',
      reconcile: (key, ctx) => {
        if (key === 'ns/flaky') retries.push(ctx.retries);
        return r.reconciler.reconcile(key, ctx);
      },
    },
    queue: { clock },
    metrics: { reconciled: (_n, o) => outcomes.push(o) },
  });
  const ac = new AbortController();
  const run = c.run(ac.signal);
  await settle();
  assert.deepEqual(r.calls, ['ns/flaky', 'ns/bad']);
  await clock.advance(4);
  assert.equal(r.calls.length, 2, 'first retry waits 5 ms');
  await clock.advance(1);
  assert.equal(r.calls.length, 3);
  await clock.advance(10);
  assert.equal(r.calls.length, 4);
  assert.deepEqual(retries, [0, 1, 2]);
  assert.equal(c.queue.numRequeues(objectKey('ns', 'flaky')), 0, 'forgotten after success');
  await clock.advance(10_000);
  assert.equal(r.calls.filter((k) => k === 'ns/bad').length, 1, 'terminal: never retried');
  assert.deepEqual(outcomes, ['error', 'terminal', 'error', 'success']);
  ac.abort();
  await run;
});

test('requeueAfterMs runs the key again after the delay', async () => {
  const clock = new ManualClock();
  const primary = readyStore([obj('a')]);
  const r = recorder((_k, n) => (n === 1 ? { requeueAfterMs: 60_000 } : {}));
  const ac = new AbortController();
  const run = defineController({
    name: 'c',
    for: { ...spec, store: primary.reader },
    reconciler: r.reconciler,
    queue: { clock },
  }).run(ac.signal);
  await settle();
  await clock.advance(59_999);
  assert.equal(r.calls.length, 1);
  await clock.advance(1);
  assert.equal(r.calls.length, 2);
  ac.abort();
  await run;
});

test('owns maps through ownerReferences of the primary kind; watches map by function', async () => {
  const primary = readyStore();
  const owned = readyStore();
  const other = readyStore();
  const r = recorder();
  const ac = new AbortController();
  const run = defineController({
    name: 'c',
    for: { ...spec, store: primary.reader },
    owns: [owned.reader],
    watches: [
      { source: other.reader, map: (o: KubeObject) => [objectKey('ns', `from-${o.metadata?.name}`)] },
    ],
    reconciler: r.reconciler,
  }).run(ac.signal);
  await settle();
  const ref = (kind: string, apiVersion: string, name: string): OwnerReference => ({
    kind,
    apiVersion,
    name,
    uid: 'u',
  });
  owned.writer.apply({
    type: 'apply',
    object: obj('rs', '1', [
      ref('Deployment', 'apps/v1', 'web'),
      ref('Deployment', 'example.com/v1', 'nope'),
    ]),
  });
  other.writer.apply({ type: 'apply', object: obj('cm') });
  await settle();
  assert.deepEqual(r.calls, ['ns/web', 'ns/from-cm']);
  ac.abort();
  await run;
});

test('ownerKeys: cluster-scoped owners have no namespace in the key', () => {
  const keys = ownerKeys(
    obj('x', '1', [{ kind: 'Cluster', apiVersion: 'meridian.dev/v1alpha1', name: 'c1', uid: 'u' }]),
    {
      store: readyStore().reader,
      apiVersion: 'meridian.dev/v1alpha2',
      kind: 'Cluster',
      scope: 'Cluster',
    },
  );
  assert.deepEqual(keys, ['c1']);
});

test('workers run distinct keys concurrently; stop waits for in-flight reconciles', async () => {
  const primary = readyStore([obj('a'), obj('b'), obj('c')]);
  const gates: (() => void)[] = [];
  let finished = 0;
  const r = recorder(async () => {
    await new Promise<void>((resolve) => gates.push(resolve));
    finished++;
    return {};
  });
  const ac = new AbortController();
  const run = defineController({
    name: 'c',
    for: { ...spec, store: primary.reader },
    reconciler: r.reconciler,
    workers: 2,
  }).run(ac.signal);
  await settle();
  assert.equal(r.max(), 2);
  assert.equal(gates.length, 2, 'the third key waits for a free worker');
  let stopped = false;
  void run.then(() => (stopped = true));
  ac.abort();
  await settle();
  assert.equal(stopped, false, 'stop waits for in-flight work');
  for (const g of gates) g();
  await run;
  assert.equal(finished, 2, 'no new key was started after stop');
});

test('coalesceMs: a burst of changes through a watch becomes one reconcile after the window', async () => {
  const clock = new ManualClock();
  const primary = readyStore([obj('web')]);
  const works = readyStore();
  const r = recorder();
  const ac = new AbortController();
  const run = defineController({
    name: 'c',
    for: { ...spec, store: primary.reader },
    watches: [{ source: works.reader, map: () => [objectKey('ns', 'web')], coalesceMs: 1_000 }],
    reconciler: r.reconciler,
    queue: { clock },
  }).run(ac.signal);
  await settle();
  assert.equal(r.calls.length, 1, 'the initial sync');
  for (const [i, name] of ['a', 'b', 'c'].entries()) {
    works.writer.apply({ type: 'apply', object: obj(name, String(i + 2)) });
    await clock.advance(300);
  }
  assert.equal(r.calls.length, 1, 'nothing within the window');
  await clock.advance(100);
  assert.equal(r.calls.length, 2, 'one reconcile for the whole burst, 1 s after its first change');
  primary.writer.apply({ type: 'apply', object: obj('web', '9') });
  await settle();
  assert.equal(r.calls.length, 3, 'changes of the primary object itself are not delayed');
  ac.abort();
  await run;
});
