import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'yaml';
import { age, render } from './output.ts';

test('render: JSON and YAML of the same data, the table from its function, one trailing newline', () => {
  const data = { items: [{ name: 'us-east', ready: true, region: null }] };
  const json = render('json', data, () => 'unused');
  assert.deepEqual(JSON.parse(json), data);
  assert.ok(json.endsWith('}\n'));
  assert.deepEqual(parse(render('yaml', data, () => 'unused')), data);
  assert.equal(
    render('table', data, () => 'NAME\nus-east'),
    'NAME\nus-east\n',
  );
});

test('ages as kubectl shows them', () => {
  const now = Date.parse('2026-01-03T00:00:00Z');
  assert.equal(age('2026-01-02T23:59:15Z', now), '45s');
  assert.equal(age('2026-01-02T23:50:00Z', now), '10m');
  assert.equal(age('2026-01-02T19:00:00Z', now), '5h');
  assert.equal(age('2026-01-01T01:00:00Z', now), '47h');
  assert.equal(age('2026-01-01T00:00:00Z', now), '2d');
  assert.equal(age('2025-12-01T00:00:00Z', now), '33d');
  assert.equal(age(undefined, now), '-');
  assert.equal(age('not a time', now), '-');
});
