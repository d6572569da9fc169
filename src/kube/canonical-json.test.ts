import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalJson, sameJson } from './canonical-json.ts';

test('canonicalJson ignores key order at every depth, keeps array order', () => {
  assert.equal(
    canonicalJson({ b: 1, a: { d: 2, c: [2, { y: 1, x: 0 }] } }),
    canonicalJson({ a: { c: [2, { x: 0, y: 1 }], d: 2 }, b: 1 }),
  );
  assert.notEqual(canonicalJson([1, 2]), canonicalJson([2, 1]));
});

test('sameJson: a spec read back from the server (sorted keys, undefined dropped) equals ours', () => {
  const ours = {
    workload: { manifests: [{ kind: 'Deployment', apiVersion: 'apps/v1' }] },
    conflictResolution: 'Abort',
    x: undefined,
  };
  const stored = JSON.parse(
    '{"conflictResolution":"Abort","workload":{"manifests":[{"apiVersion":"apps/v1","kind":"Deployment"}]}}',
  );
  assert.ok(sameJson(ours, stored));
  assert.ok(!sameJson(ours, { ...stored, conflictResolution: 'Overwrite' }));
});
