import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Clock } from './clock.ts';
import { fromResponse } from './errors.ts';
import { watch, type WatchEvent, type WatchSource } from './watcher.ts';
import type { KubeList, KubeObject, ListOptions, RawWatchEvent, WatchOptions } from './wire.ts';

type Obj = KubeObject & { readonly data?: string };
const obj = (name: string, rv: string, extra: Partial<Obj['metadata']> = {}): Obj => ({
  metadata: { namespace: 'ns', name, resourceVersion: rv, ...extra },
});

type ListStep = KubeList<Obj> | Error;
type WatchStep = readonly (RawWatchEvent<Obj> | Error)[];

/** A scripted source: each call consumes the next step and records its options. */
function scripted(lists: ListStep[], watches: WatchStep[]) {
  const listCalls: ListOptions[] = [];
  const watchCalls: WatchOptions[] = [];
  const source: WatchSource<Obj> = {
    async list(opts) {
      listCalls.push(opts);
      const step = lists.shift();
      if (step === undefined) throw new Error('no more lists scripted');
      if (step instanceof Error) throw step;
      return step;
    },
    async *watch(opts, signal) {
      watchCalls.push(opts);
      const step = watches.shift();
      if (step === undefined) {
        // Park until aborted, like an idle watch.
        await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
        return;
      }
      for (const ev of step) {
        if (ev instanceof Error) throw ev;
        yield ev;
      }
    },
  };
  return { source, listCalls, watchCalls };
}

function instantClock(sleeps: number[]): Clock {
  return {
    now: () => 0,
    setTimer: () => ({ cancel() {} }),
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  };
}

async function take(it: AsyncIterable<WatchEvent<Obj>>, n: number, ac: AbortController) {
  const out: WatchEvent<Obj>[] = [];
  for await (const ev of it) {
    out.push(ev);
    if (out.length === n) {
      ac.abort();
    }
  }
  return out;
}

const summary = (evs: readonly WatchEvent<Obj>[]) =>
  evs.map((e) => ('object' in e ? `${e.type}:${e.object.metadata?.name}` : e.type));

test('lists in pages from RV 0, then watches from the list RV with bookmarks', async () => {
  const { source, listCalls, watchCalls } = scripted(
    [
      { metadata: { continue: 'c1' }, items: [obj('a', '1', { managedFields: [{ manager: 'x' }] })] },
      { metadata: { resourceVersion: '10' }, items: [obj('b', '2')] },
    ],
    [
      [
        { type: 'ADDED', object: obj('c', '11') },
        { type: 'BOOKMARK', object: { metadata: { resourceVersion: '15' } } },
        { type: 'DELETED', object: obj('a', '16') },
      ],
    ],
  );
  const ac = new AbortController();
  const events = await take(watch(source, { pageSize: 2, random: () => 0 }, ac.signal), 6, ac);
  assert.deepEqual(summary(events), [
    'init',
    'initApply:a',
    'initApply:b',
    'initDone',
    'apply:c',
    'delete:a',
  ]);
  assert.deepEqual(listCalls, [
    { limit: 2, resourceVersion: '0' },
    { limit: 2, continue: 'c1' },
  ]);
  const first = events[1];
  assert.ok(first?.type === 'initApply');
  assert.equal(first.object.metadata?.managedFields, undefined, 'managedFields stripped');
  assert.deepEqual(watchCalls[0], { resourceVersion: '10', allowWatchBookmarks: true, timeoutSeconds: 300 });
});

test('a watch that ends resumes from the last bookmark RV, without a re-list', async () => {
  const { source, listCalls, watchCalls } = scripted(
    [{ metadata: { resourceVersion: '10' }, items: [] }],
    [[{ type: 'BOOKMARK', object: { metadata: { resourceVersion: '42' } } }], []],
  );
  const ac = new AbortController();
  const it = watch(source, { random: () => 0.5 }, ac.signal);
  const seen: string[] = [];
  const done = (async () => {
    for await (const ev of it) seen.push(ev.type);
  })();
  while (watchCalls.length < 3) await new Promise((r) => setImmediate(r));
  ac.abort();
  await done;
  assert.deepEqual(seen, ['init', 'initDone']);
  assert.equal(listCalls.length, 1);
  assert.deepEqual(
    watchCalls.map((w) => w.resourceVersion),
    ['10', '42', '42'],
  );
  assert.equal(watchCalls[0]?.timeoutSeconds, 450, 'timeout drawn from [300, 600]');
});

test('410 Gone from a watch ERROR event re-lists with a consistent list and a new init cycle', async () => {
  const { source, listCalls } = scripted(
    [
      { metadata: { resourceVersion: '10' }, items: [obj('a', '1'), obj('b', '2')] },
      { metadata: { resourceVersion: '90' }, items: [obj('b', '80')] },
    ],
    [[{ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old' } }]],
  );
  const ac = new AbortController();
  const errors: unknown[] = [];
  const events = await take(
    watch(source, { onError: (e) => errors.push(e), random: () => 0 }, ac.signal),
    7,
    ac,
  );
  assert.deepEqual(summary(events), [
    'init',
    'initApply:a',
    'initApply:b',
    'initDone',
    'init',
    'initApply:b',
    'initDone',
  ]);
  assert.deepEqual(listCalls[1], { limit: 500 }, 'no RV: a quorum read after Gone');
  assert.equal(errors.length, 1);
});

test('other errors are retried with growing, capped backoff and reported', async () => {
  const sleeps: number[] = [];
  const { source, listCalls } = scripted(
    [
      fromResponse(503, ''),
      fromResponse(503, ''),
      new Error('ECONNRESET'),
      { metadata: { resourceVersion: '5' }, items: [obj('a', '1')] },
    ],
    [[new Error('socket hang up')], [{ type: 'MODIFIED', object: obj('a', '6') }]],
  );
  const ac = new AbortController();
  const phases: string[] = [];
  const events = await take(
    watch(
      source,
      {
        clock: instantClock(sleeps),
        random: () => 0.5, // no jitter
        backoff: { initialMs: 100, maxMs: 300 },
        onError: (_e, info) => phases.push(info.phase),
      },
      ac.signal,
    ),
    7,
    ac,
  );
  assert.deepEqual(summary(events), ['init', 'init', 'init', 'init', 'initApply:a', 'initDone', 'apply:a']);
  assert.deepEqual(sleeps, [100, 200, 300, 300]);
  assert.deepEqual(phases, ['list', 'list', 'list', 'watch']);
  assert.equal(listCalls.length, 4);
});

test('aborting ends the iteration cleanly while a watch is idle', async () => {
  const { source } = scripted([{ metadata: { resourceVersion: '1' }, items: [] }], []);
  const ac = new AbortController();
  const seen: string[] = [];
  const run = (async () => {
    for await (const ev of watch(source, {}, ac.signal)) {
      seen.push(ev.type);
      if (ev.type === 'initDone') setImmediate(() => ac.abort());
    }
  })();
  await run; // resolves, does not reject
  assert.deepEqual(seen, ['init', 'initDone']);
});

// Regression: list items arrive without apiVersion/kind (only the list has them), so a store
// filled by a list held objects a policy selector (apiVersion + kind) could never match.
test('list items get apiVersion and kind from the list', async () => {
  const { source } = scripted(
    [
      {
        apiVersion: 'apps/v1',
        kind: 'DeploymentList',
        metadata: { resourceVersion: '5' },
        items: [obj('a', '1')],
      },
    ],
    [],
  );
  const ac = new AbortController();
  const events = await take(watch(source, {}, ac.signal), 3, ac);
  const applied = events.find((e) => e.type === 'initApply');
  assert.ok(applied && applied.type === 'initApply');
  assert.equal(applied.object.apiVersion, 'apps/v1');
  assert.equal(applied.object.kind, 'Deployment');
});
