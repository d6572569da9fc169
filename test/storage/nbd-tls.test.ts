/**
 * TLS on the NBD frontend (NBD_OPT_STARTTLS), with Debian's clients: libnbd's `nbdinfo`
 * and `nbdcopy` (`nbds://` URIs with `tls-certificates=DIR`) and `qemu-io`
 * (`--object tls-creds-x509`). Certificates come from openssl (tls-certs.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NbdServer } from '../../src/storage/nbd/nbd-server.ts';
import { loadTlsDir } from '../../src/storage/nbd/tls-files.ts';
import { Cleanup, exportVolume, MiB, run, spawnFrontend, startNodes, tempDir } from './harness.ts';
import { makePki } from './tls-certs.ts';

const SIZE = 16 * MiB;
const sha = async (p: string): Promise<string> =>
  createHash('sha256')
    .update(await readFile(p))
    .digest('hex');

test(
  'TLS required with client certificates: nbdinfo, qemu-io and nbdcopy over TLS; plaintext and anonymous clients refused',
  { timeout: 180_000 },
  async () => {
    const cleanup = new Cleanup();
    try {
      const pki = await makePki(cleanup);
      const nodes = await startNodes(cleanup, 3);
      const fe = await spawnFrontend(cleanup, [
        '--volume',
        'vol1',
        '--size',
        String(SIZE),
        ...nodes.flatMap((n) => ['--replica', `${n.nodeId}=127.0.0.1:${n.port}`]),
        '--durability',
        '2',
        '--tls',
        'require',
        '--tls-certificates',
        pki.serverDir,
        '--tls-verify-peer',
      ]);
      const tlsUri = `nbds://127.0.0.1:${fe.port}/vol1?tls-certificates=${pki.clientDir}`;

      const { stdout } = await run('nbdinfo', ['--json', tlsUri]);
      const info = JSON.parse(stdout) as { TLS?: boolean; exports: Record<string, unknown>[] };
      assert.equal(info.TLS, true);
      assert.equal(info.exports[0]?.['export-size'], SIZE);

      // Plaintext is refused (ERR_TLS_REQD), and so is a client without a certificate.
      // libnbd reports NBD_REP_ERR_TLS_REQD to OPT_GO as "operation not supported".
      await assert.rejects(
        run('nbdinfo', ['--json', `nbd://127.0.0.1:${fe.port}/vol1`]),
        (e: Error & { stderr?: string }) => /server replied with error to opt_go/.test(e.stderr ?? ''),
      );
      await assert.rejects(
        run('nbdinfo', ['--json', `nbds://127.0.0.1:${fe.port}/vol1?tls-certificates=${pki.anonymousDir}`]),
      );

      // qemu with an x509 credentials object.
      const qemu = [
        '--object',
        `tls-creds-x509,id=tls0,dir=${pki.clientDir},endpoint=client`,
        '--image-opts',
        `driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=${fe.port},export=vol1,tls-creds=tls0`,
      ];
      await run('qemu-io', [...qemu, '-c', 'write -P 0x6d 0 4M', '-c', 'write -P 0x72 4M 1M', '-c', 'flush']);
      const check = await run('qemu-io', [...qemu, '-c', 'read -P 0x6d 0 4M', '-c', 'read -P 0x72 4M 1M']);
      assert.doesNotMatch(check.stdout, /Pattern verification failed|error/i);
      assert.equal((check.stdout.match(/^read /gm) ?? []).length, 2);

      // nbdcopy in and out over TLS, 2 connections each.
      const dir = await tempDir(cleanup, 'meridian-tls-copy-');
      const src = join(dir, 'src.img');
      const out = join(dir, 'out.img');
      await writeFile(src, randomBytes(SIZE));
      await run('nbdcopy', ['--connections=2', '--flush', src, tlsUri]);
      await run('nbdcopy', ['--connections=2', tlsUri, out]);
      assert.equal(await sha(out), await sha(src));
    } finally {
      await cleanup.run();
    }
  },
);

test('TLS optional: plaintext and STARTTLS clients both served; a server without TLS refuses nbds://', async () => {
  const cleanup = new Cleanup();
  try {
    const pki = await makePki(cleanup);
    const nodes = await startNodes(cleanup, 2);
    const { volume, port: plainPort } = await exportVolume(cleanup, nodes, {
      sizeBytes: SIZE,
      durability: 1,
    });
    const server = new NbdServer({
      exports: new Map([['vol1', volume]]),
      tls: await loadTlsDir(pki.serverDir, 'optional', false),
    });
    const port = await server.listen();
    cleanup.add(() => server.close());

    const plain = JSON.parse((await run('nbdinfo', ['--json', `nbd://127.0.0.1:${port}/vol1`])).stdout) as {
      TLS?: boolean;
    };
    assert.equal(plain.TLS, false);
    const anonymous = `nbds://127.0.0.1:${port}/vol1?tls-certificates=${pki.anonymousDir}`;
    const secure = JSON.parse((await run('nbdinfo', ['--json', anonymous])).stdout) as { TLS?: boolean };
    assert.equal(secure.TLS, true);
    // The harness's server has no TLS configured: STARTTLS gets ERR_POLICY, nbds:// fails.
    await assert.rejects(
      run('nbdinfo', ['--json', `nbds://127.0.0.1:${plainPort}/vol1?tls-certificates=${pki.clientDir}`]),
    );
  } finally {
    await cleanup.run();
  }
});

test('loadTlsDir names the missing file', async () => {
  const cleanup = new Cleanup();
  try {
    const dir = await tempDir(cleanup, 'meridian-tls-empty-');
    await assert.rejects(loadTlsDir(dir, 'require', false), /server-cert\.pem/);
  } finally {
    await cleanup.run();
  }
});
