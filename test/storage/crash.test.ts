/**
 * What "applied" promises: a write a storage node acknowledged (log record in the page
 * cache; extents are updated after the acknowledgement) survives a SIGKILL of the node
 * process, and the node comes back with consistent checksums.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { ReplicaClient } from '../../src/storage/volume/replica-client.ts';
import { Cleanup, MiB, spawnNode, tempDir } from './harness.ts';

test(
  'acknowledged plain writes survive SIGKILL of the node (no flush), checksums intact',
  { timeout: 60_000 },
  async () => {
    const cleanup = new Cleanup();
    try {
      const dir = await tempDir(cleanup, 'meridian-crash-');
      const node = await spawnNode(cleanup, { id: 'c1', dir });
      const client = await ReplicaClient.connect({ host: '127.0.0.1', port: node.port });
      const size = 8 * MiB;
      await client.open('vol', size, 1);
      const image = Buffer.alloc(size);
      const pending: Promise<unknown>[] = [];
      let seq = 0;
      for (let round = 0; round < 20; round++) {
        for (let i = 0; i < 100; i++) {
          const len = [512, 4096, 12288][i % 3] as number;
          const offset = randomInt(0, (size - len) / 512) * 512;
          const data = randomBytes(len);
          data.copy(image, offset);
          seq++;
          pending.push(
            client.write('vol', 1, { epoch: 1, seq, kind: 'data', offset, length: len, data }, false),
          );
        }
        await Promise.all(pending.splice(0)); // acknowledged: applied on the node
      }
      await node.kill(); // SIGKILL right after the last acknowledgement, nothing flushed
      client.close();

      const back = await spawnNode(cleanup, { id: 'c1', dir });
      const again = await ReplicaClient.connect({ host: '127.0.0.1', port: back.port });
      cleanup.add(() => again.close());
      const pos = await again.status('vol');
      assert.ok(pos.appliedSeq >= seq, `applied ${pos.appliedSeq} of ${seq} acknowledged writes`);
      assert.ok((await again.read('vol', 0, size)).equals(image), 'every acknowledged write reads back');
      const info = await again.nodeInfo();
      assert.equal(info.checksumErrors, 0);
      assert.equal(info.health, 'ok');
    } finally {
      await cleanup.run();
    }
  },
);
