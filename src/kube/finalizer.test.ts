import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidError, NotFoundError } from './errors.ts';
import { addFinalizerPatch, withFinalizer } from './finalizer.ts';
import type { JsonPatchOp, KubeObject } from './wire.ts';

const F = 'meridian.dev/cleanup';
const obj = (finalizers?: string[], deleting = false): KubeObject => ({
  metadata: {
    namespace: 'ns',
    name: 'x',
    ...(finalizers ? { finalizers } : {}),
    ...(deleting ? { deletionTimestamp: '2024-01-01T00:00:00Z' } : {}),
  },
});

function harness(patchImpl: (ops: readonly JsonPatchOp[]) => Promise<unknown> = async () => ({})) {
  const patches: (readonly JsonPatchOp[])[] = [];
  const calls: string[] = [];
  const handlers = {
    apply: async () => {
      calls.push('apply');
      return { requeueAfterMs: 1 };
    },
    cleanup: async () => {
      calls.push('cleanup');
      return {};
    },
  };
  const patch = async (ops: readonly JsonPatchOp[]) => {
    patches.push(ops);
    return patchImpl(ops);
  };
  return { patches, calls, handlers, patch };
}

// Regression: testing a missing /metadata/finalizers against null is refused (422) by the
// API server, so the first add always failed once; the empty case tests resourceVersion.
test('adds the finalizer guarded by resourceVersion when missing, without running apply', async () => {
  const h = harness();
  const o = { ...obj(), metadata: { ...obj().metadata, resourceVersion: '7' } };
  assert.deepEqual(await withFinalizer(o, F, h.handlers, h.patch), {});
  assert.deepEqual(h.patches, [
    [
      { op: 'test', path: '/metadata/resourceVersion', value: '7' },
      { op: 'add', path: '/metadata/finalizers', value: [F] },
    ],
  ]);
  assert.deepEqual(h.calls, []);
  assert.deepEqual(addFinalizerPatch(obj(['other']), F), [
    { op: 'test', path: '/metadata/finalizers', value: ['other'] },
    { op: 'add', path: '/metadata/finalizers/-', value: F },
  ]);
});

test('runs apply once the finalizer is present, and returns its result', async () => {
  const h = harness();
  assert.deepEqual(await withFinalizer(obj([F]), F, h.handlers, h.patch), { requeueAfterMs: 1 });
  assert.deepEqual(h.calls, ['apply']);
  assert.equal(h.patches.length, 0);
});

test('on deletion: cleanup first, then remove exactly our finalizer with a test op', async () => {
  const h = harness();
  await withFinalizer(obj(['a', F], true), F, h.handlers, h.patch);
  assert.deepEqual(h.calls, ['cleanup']);
  assert.deepEqual(h.patches, [
    [
      { op: 'test', path: '/metadata/finalizers/1', value: F },
      { op: 'remove', path: '/metadata/finalizers/1' },
    ],
  ]);
});

test('a failing cleanup keeps the finalizer and propagates the error', async () => {
  const h = harness();
  const failing = { ...h.handlers, cleanup: async () => Promise.reject(new Error('bucket busy')) };
  await assert.rejects(withFinalizer(obj([F], true), F, failing, h.patch), /bucket busy/);
  assert.equal(h.patches.length, 0);
});

test('idempotent: deleting without our finalizer does nothing; NotFound on removal is success', async () => {
  const h = harness(async () => {
    throw new NotFoundError('gone');
  });
  assert.deepEqual(await withFinalizer(obj(['other'], true), F, h.handlers, h.patch), {});
  assert.deepEqual(h.calls, []);
  assert.deepEqual(await withFinalizer(obj([F], true), F, h.handlers, h.patch), {});
  assert.deepEqual(h.calls, ['cleanup']);
});

test('a failed test op (concurrent finalizer edit) surfaces for retry', async () => {
  const h = harness(async () => {
    throw new InvalidError('test operation failed');
  });
  await assert.rejects(withFinalizer(obj(), F, h.handlers, h.patch), InvalidError);
});
