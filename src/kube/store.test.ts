import assert from 'node:assert/strict';
import { test } from 'node:test';
import { objectKey } from './object-key.ts';
import { createInformer, createStore, reflector, type StoreChange } from './store.ts';
import type { WatchEvent } from './watcher.ts';
import type { KubeObject } from './wire.ts';

const obj = (name: string, rv: string): KubeObject => ({
  metadata: { namespace: 'ns', name, resourceVersion: rv },
});

async function* from<T>(items: readonly T[]): AsyncIterable<T> {
  yield* items;
}

const describe = (c: StoreChange<KubeObject>) => `${c.type}:${c.key}@${c.object.metadata?.resourceVersion}`;

test('initApply is invisible until initDone, then swapped in and announced', async () => {
  const { reader, writer } = createStore();
  const changes: string[] = [];
  reader.subscribe((c) => changes.push(describe(c)));
  writer.apply({ type: 'init' });
  writer.apply({ type: 'initApply', object: obj('a', '1') });
  assert.equal(reader.size, 0, 'half-listed state is not visible');
  assert.equal(reader.isReady(), false);
  writer.apply({ type: 'initDone' });
  await reader.ready;
  assert.equal(reader.get(objectKey('ns', 'a'))?.metadata?.resourceVersion, '1');
  assert.deepEqual(changes, ['apply:ns/a@1']);
});

test('a re-list drops vanished objects with synthetic deletes and re-announces only changes', async () => {
  const { reader, writer } = createStore();
  const changes: string[] = [];
  await reflector(
    from<WatchEvent<KubeObject>>([
      { type: 'init' },
      { type: 'initApply', object: obj('a', '1') },
      { type: 'initApply', object: obj('b', '2') },
      { type: 'initApply', object: obj('c', '3') },
      { type: 'initDone' },
    ]),
    writer,
  );
  reader.subscribe((c) => changes.push(describe(c)));
  await reflector(
    from<WatchEvent<KubeObject>>([
      { type: 'apply', object: obj('d', '4') },
      { type: 'init' },
      { type: 'initApply', object: obj('a', '1') }, // unchanged
      { type: 'initApply', object: obj('b', '9') }, // changed while not watching
      { type: 'initDone' }, // c and d vanished
    ]),
    writer,
  );
  assert.deepEqual(changes.sort(), ['apply:ns/b@9', 'apply:ns/d@4', 'delete:ns/c@3', 'delete:ns/d@4']);
  assert.deepEqual(
    reader
      .list()
      .map((o) => o.metadata?.name)
      .sort(),
    ['a', 'b'],
  );
});

test('apply reports the old object; delete removes', () => {
  const { reader, writer } = createStore();
  const seen: StoreChange<KubeObject>[] = [];
  reader.subscribe((c) => seen.push(c));
  writer.apply({ type: 'apply', object: obj('a', '1') });
  writer.apply({ type: 'apply', object: obj('a', '2') });
  writer.apply({ type: 'delete', object: obj('a', '3') });
  assert.equal(seen[1]?.type === 'apply' ? seen[1].old?.metadata?.resourceVersion : 'x', '1');
  assert.equal(reader.get(objectKey('ns', 'a')), undefined);
  assert.equal(seen.length, 3);
});

test('a throwing handler is isolated; unsubscribe and abort stop delivery', () => {
  const errors: unknown[] = [];
  const { reader, writer } = createStore({ onHandlerError: (e) => errors.push(e) });
  let calls = 0;
  reader.subscribe(() => {
    throw new Error('boom');
  });
  const off = reader.subscribe(() => calls++);
  const ac = new AbortController();
  let viaSignal = 0;
  reader.subscribe(() => viaSignal++, ac.signal);
  writer.apply({ type: 'apply', object: obj('a', '1') });
  off();
  ac.abort();
  writer.apply({ type: 'apply', object: obj('a', '2') });
  assert.equal(calls, 1);
  assert.equal(viaSignal, 1);
  assert.equal(errors.length, 2);
  assert.equal(reader.size, 1, 'the writer kept going');
});

test('createInformer fills the store from a source and becomes ready', async () => {
  const informer = createInformer<KubeObject>({
    list: async () => ({ metadata: { resourceVersion: '7' }, items: [obj('x', '7')] }),
    async *watch(_opts, signal) {
      yield { type: 'ADDED', object: obj('y', '8') };
      await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
    },
  });
  const ac = new AbortController();
  const running = informer.run(ac.signal);
  await informer.reader.ready;
  const added = new Promise<void>((resolve) =>
    informer.reader.subscribe((c) => {
      if (c.key === objectKey('ns', 'y')) resolve();
    }),
  );
  if (informer.reader.get(objectKey('ns', 'y')) === undefined) await added;
  assert.equal(informer.reader.size, 2);
  ac.abort();
  await running;
  assert.throws(() => informer.run(ac.signal), /already running/);
});
