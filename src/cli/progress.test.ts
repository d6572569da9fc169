import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createProgress } from './progress.ts';

test('progress prints each step with its time, and marks a failed step before rethrowing', async () => {
  let text = '';
  const step = createProgress({ write: (t: string) => (text += t) });
  assert.equal(await step('first', async () => 42), 42);
  await assert.rejects(
    step('second', async () => {
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.match(text, /^ {2}… first\n {2}✓ first \(\d+\.\d s\)\n {2}… second\n {2}✗ second \(\d+\.\d s\)\n$/);
});
