import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { RELAY_NODE_FLAGS, relayHeapConfigured } from './relay-gc.ts';

test('relayHeapConfigured: true only when node was started with an initial old-space or heap size', () => {
  assert.equal(relayHeapConfigured(RELAY_NODE_FLAGS), true);
  assert.equal(relayHeapConfigured(['--initial-heap-size=128']), true);
  assert.equal(relayHeapConfigured(['--initial-old-space-size', '64']), true);
  assert.equal(relayHeapConfigured([]), false);
  assert.equal(relayHeapConfigured(['--max-old-space-size=64', '--initial-old-space-sizes=1']), false);
});

test('node accepts RELAY_NODE_FLAGS on its command line; tuneGcForRelaying logs only without them', async () => {
  const module = new URL('./relay-gc.ts', import.meta.url).href;
  // Prints whether the process sees the flags, then whatever tuneGcForRelaying logs at info.
  const script =
    `import(${JSON.stringify(module)}).then((m) => { process.stdout.write(String(m.relayHeapConfigured())); ` +
    `m.tuneGcForRelaying({ info: (o, msg) => process.stdout.write(' ' + msg) }); })`;
  const run = promisify(execFile);
  const withFlags = await run(process.execPath, [...RELAY_NODE_FLAGS, '-e', script]);
  assert.equal(withFlags.stdout, 'true');
  const without = await run(process.execPath, ['-e', script]);
  assert.match(without.stdout, /^false node was started without --initial-old-space-size=64: /);
});
