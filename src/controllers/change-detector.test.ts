import assert from 'node:assert/strict';
import { test } from 'node:test';
import { changeDetector } from './change-detector.ts';

test('changeDetector: true for a new name or a new fingerprint, false for a repeat', () => {
  const changed = changeDetector((o: { metadata: { name: string }; ready: boolean }) => String(o.ready));
  const c = (name: string, ready: boolean) => ({ metadata: { name }, ready });
  assert.equal(changed(c('a', true)), true);
  assert.equal(changed(c('a', true)), false);
  assert.equal(changed(c('b', true)), true, 'names are tracked separately');
  assert.equal(changed(c('a', false)), true);
  assert.equal(changed(c('a', false)), false);
});
