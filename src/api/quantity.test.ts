import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseQuantity, parseQuantityMilli } from './quantity.ts';

test('parseQuantityMilli: suffixes, fractions and exponents', () => {
  const table: Array<[string | number, bigint]> = [
    ['500m', 500n],
    ['2', 2000n],
    [4, 4000n],
    ['0.3', 300n],
    ['.5', 500n],
    ['1.5Gi', 1610612736000n],
    ['1Ki', 1024000n],
    ['1k', 1000000n],
    ['1M', 1000000000n],
    ['1e3', 1000000n],
    ['1E-3', 1n],
    ['1n', 1n], // rounded up to one milli-unit, like Quantity.MilliValue()
    ['1Ei', 1152921504606846976000n],
    ['-2', -2000n],
  ];
  for (const [q, want] of table) assert.equal(parseQuantityMilli(q), want, String(q));
});

test('parseQuantityMilli rejects non-quantities with the input in the message', () => {
  for (const bad of ['abc', '1KiB', '', '1.2.3', 'm']) {
    assert.throws(() => parseQuantityMilli(bad), new RegExp(JSON.stringify(bad).replace(/\./g, '\\.')));
  }
});

test('parseQuantity: exact division in milli-units', () => {
  assert.equal(parseQuantityMilli('0.3') / parseQuantityMilli('100m'), 3n);
  assert.equal(parseQuantity('250m'), 0.25);
  assert.equal(parseQuantity('2Gi'), 2 * 1024 ** 3);
});
