import assert from 'node:assert/strict';
import { test } from 'node:test';
import { keyOf, objectKey, parseObjectKey, refOf } from './object-key.ts';

test('namespaced keys are ns/name, cluster-scoped keys are the name', () => {
  assert.equal(objectKey('default', 'web'), 'default/web');
  assert.equal(objectKey(undefined, 'node-1'), 'node-1');
  assert.equal(objectKey('', 'node-1'), 'node-1');
  assert.equal(keyOf({ metadata: { namespace: 'a', name: 'b' } }), 'a/b');
});

test('invalid names are rejected', () => {
  assert.throws(() => objectKey('a', ''), TypeError);
  assert.throws(() => objectKey('a/b', 'c'), TypeError);
  assert.throws(() => keyOf({ metadata: { generateName: 'x-' } }), TypeError);
});

test('parse and refOf round-trip', () => {
  assert.deepEqual(refOf(objectKey('ns', 'n')), { namespace: 'ns', name: 'n' });
  assert.deepEqual(refOf(objectKey(undefined, 'n')), { name: 'n' });
  assert.deepEqual(parseObjectKey('ns/n'), { namespace: 'ns', name: 'n', key: 'ns/n' });
  assert.throws(() => parseObjectKey('a/b/c'), TypeError);
  assert.throws(() => parseObjectKey('/b'), TypeError);
  assert.throws(() => parseObjectKey(''), TypeError);
});
