import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultPlugins, registry } from './registry.ts';

test('registry: keys are plugin names; every plugin has a phase', () => {
  for (const [key, plugin] of Object.entries(registry)) assert.equal(plugin.name, key);
  assert.equal(defaultPlugins.length, Object.keys(registry).length);
  for (const p of defaultPlugins) assert.ok(p.filter || p.score, `${p.name} has filter or score`);
  assert.ok('normalize' in registry['available-capacity']);
});
