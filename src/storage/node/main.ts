#!/usr/bin/env node
/**
 * `meridian-storage`: runs one storage node. Prints one JSON line `{"port":N}` on stdout
 * once listening; exits cleanly on SIGTERM/SIGINT.
 *
 *   node src/storage/node/main.ts --id n1 --dir /var/lib/meridian/n1 --port 7401 \
 *     --labels site=dc1,region=eu --capacity 10737418240
 */
import { parseArgs } from 'node:util';
import { StorageNode } from './storage-node.ts';

const { values } = parseArgs({
  options: {
    id: { type: 'string' },
    dir: { type: 'string' },
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    labels: { type: 'string', default: '' },
    capacity: { type: 'string', default: String(1024 ** 4) },
  },
});
if (values.id === undefined || values.dir === undefined) {
  process.stderr.write('usage: main.ts --id ID --dir DIR [--port N] [--labels k=v,...] [--capacity BYTES]\n');
  process.exit(2);
}
const labels: Record<string, string> = {};
for (const kv of values.labels.split(',').filter((s) => s !== '')) {
  const [k, v] = kv.split('=');
  if (k === undefined || v === undefined) throw new Error(`bad label ${kv}`);
  labels[k] = v;
}
const node = new StorageNode({
  nodeId: values.id,
  dir: values.dir,
  labels,
  capacityBytes: Number(values.capacity),
});
const port = await node.listen(Number(values.port), values.host);
process.stdout.write(JSON.stringify({ port }) + '\n');
const stop = (): void => {
  node.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
