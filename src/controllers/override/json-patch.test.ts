import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyPatch, JsonPatchError, type PatchOperation } from './json-patch.ts';

const base = () => ({ spec: { replicas: 1, list: ['a', 'b'], 'a/b': { '~x': 1 } } });

test('applyPatch table', () => {
  const table: Array<[string, PatchOperation, string, unknown, unknown]> = [
    [
      'replace a field',
      'replace',
      '/spec/replicas',
      3,
      { spec: { replicas: 3, list: ['a', 'b'], 'a/b': { '~x': 1 } } },
    ],
    [
      'add a new field',
      'add',
      '/spec/paused',
      true,
      { spec: { replicas: 1, list: ['a', 'b'], 'a/b': { '~x': 1 }, paused: true } },
    ],
    [
      'remove a field',
      'remove',
      '/spec/replicas',
      undefined,
      { spec: { list: ['a', 'b'], 'a/b': { '~x': 1 } } },
    ],
    [
      'insert into an array',
      'add',
      '/spec/list/1',
      'x',
      { spec: { replicas: 1, list: ['a', 'x', 'b'], 'a/b': { '~x': 1 } } },
    ],
    [
      'append with -',
      'add',
      '/spec/list/-',
      'z',
      { spec: { replicas: 1, list: ['a', 'b', 'z'], 'a/b': { '~x': 1 } } },
    ],
    [
      'remove from an array',
      'remove',
      '/spec/list/0',
      undefined,
      { spec: { replicas: 1, list: ['b'], 'a/b': { '~x': 1 } } },
    ],
    [
      'escaped tokens',
      'replace',
      '/spec/a~1b/~0x',
      2,
      { spec: { replicas: 1, list: ['a', 'b'], 'a/b': { '~x': 2 } } },
    ],
  ];
  for (const [name, op, path, value, want] of table) {
    const doc = base();
    applyPatch(doc, op, path, value);
    assert.deepEqual(doc, want, name);
  }
});

test('applyPatch errors name the path', () => {
  const table: Array<[PatchOperation, string, unknown, RegExp]> = [
    ['replace', '/spec/missing', 1, /^\/spec\/missing: replace: missing does not exist$/],
    ['remove', '/spec/missing', undefined, /remove: missing does not exist/],
    ['add', '/nope/x', 1, /^\/nope\/x: parent nope does not exist$/],
    ['add', '/spec/list/9', 'x', /index 9 out of range/],
    ['replace', '/spec/list/x', 'x', /x is not an array index/],
    ['replace', 'spec/replicas', 1, /must start with '\/'/],
    ['add', '/spec/x', undefined, /add needs a value/],
  ];
  for (const [op, path, value, message] of table) {
    assert.throws(
      () => applyPatch(base(), op, path, value),
      (e: unknown) => e instanceof JsonPatchError && message.test(e.message),
      path,
    );
  }
});
