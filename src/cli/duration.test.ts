import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDuration, parsePositive } from './duration.ts';

test('durations in ms, s, m and h; anything else is refused with an example', () => {
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('40s'), 40_000);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('2m'), 120_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  for (const bad of ['40', 's', '-1s', '10d', ''])
    assert.throws(() => parseDuration(bad), /expected a duration such as 500ms/);
});

test('positive numbers for rates; zero, negatives and words are refused', () => {
  assert.equal(parsePositive('100'), 100);
  assert.equal(parsePositive('2.5'), 2.5);
  for (const bad of ['0', '-3', 'fast', '', 'Infinity'])
    assert.throws(() => parsePositive(bad), /expected a positive number/);
});
