/**
 * Real NBD clients from Debian (libnbd-bin, qemu-utils, fio) against a Meridian volume
 * replicated on three in-process storage nodes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Cleanup, exportVolume, MiB, run, startNodes, tempDir } from './harness.ts';

const SIZE = 32 * MiB;

async function withVolume(
  fn: (ctx: Awaited<ReturnType<typeof exportVolume>> & { cleanup: Cleanup }) => Promise<void>,
): Promise<void> {
  const cleanup = new Cleanup();
  try {
    const nodes = await startNodes(cleanup, 3);
    const exp = await exportVolume(cleanup, nodes, { sizeBytes: SIZE, ackMode: 'fastest', durability: 2 });
    await fn({ ...exp, cleanup });
  } finally {
    await cleanup.run();
  }
}

test('nbdinfo reports size, flags and block sizes; NBD_OPT_LIST lists the export', async () => {
  await withVolume(async ({ uri, port }) => {
    const { stdout } = await run('nbdinfo', ['--json', uri]);
    const info = JSON.parse(stdout) as { exports: Record<string, unknown>[]; protocol: string };
    assert.equal(info.protocol, 'newstyle-fixed');
    const e = info.exports[0] ?? {};
    assert.equal(e['export-size'], SIZE);
    assert.equal(e['can_flush'], true);
    assert.equal(e['can_fua'], true);
    assert.equal(e['can_trim'], true);
    assert.equal(e['can_zero'], true);
    assert.equal(e['can_multi_conn'], true);
    assert.equal(e['is_read_only'], false);
    assert.equal(e['block_size_minimum'], 1);
    const list = await run('nbdinfo', ['--list', '--json', `nbd://127.0.0.1:${port}`]);
    const names = (JSON.parse(list.stdout) as { exports: { 'export-name': string }[] }).exports.map(
      (x) => x['export-name'],
    );
    assert.deepEqual(names, ['vol1']);
  });
});

test('qemu-io: patterns written over the whole device read back identical, with FUA, zero and discard', async () => {
  await withVolume(async ({ uri, volume }) => {
    const cmds: string[] = [];
    for (let off = 0; off < SIZE; off += 4 * MiB)
      cmds.push('-c', `write -P ${(off / (4 * MiB) + 1) * 17} ${off} 4M`);
    cmds.push(
      '-c',
      'write -f -P 0x5a 1000 3000',
      '-c',
      'write -z 8M 1M',
      '-c',
      'discard 12M 2M',
      '-c',
      'flush',
    );
    await run('qemu-io', ['-f', 'raw', uri, ...cmds]);
    const checks: string[] = [];
    for (let off = 0; off < SIZE; off += 4 * MiB) {
      const p = (off / (4 * MiB) + 1) * 17;
      if (off === 0)
        checks.push(
          '-c',
          `read -P ${p} 0 1000`,
          '-c',
          'read -P 0x5a 1000 3000',
          '-c',
          `read -P ${p} 4000 ${4 * MiB - 4000}`,
        );
      else if (off === 8 * MiB) checks.push('-c', 'read -P 0 8M 1M', '-c', `read -P ${p} 9M 3M`);
      else if (off === 12 * MiB) checks.push('-c', 'read -P 0 12M 2M', '-c', `read -P ${p} 14M 2M`);
      else checks.push('-c', `read -P ${p} ${off} 4M`);
    }
    const { stdout } = await run('qemu-io', ['-f', 'raw', '-r', uri, ...checks]);
    assert.doesNotMatch(stdout, /Pattern verification failed|error/i);
    assert.equal((stdout.match(/^read /gm) ?? []).length, checks.length / 2);
    await volume.settled();
    // Every replica applied every write, so any of them may serve reads.
    assert.ok(volume.status().replicas.every((r) => r.appliedSeq === volume.headSeq));
  });
});

test('nbdcopy: a random image copied in and out is byte-identical (multi-connection)', async () => {
  await withVolume(async ({ uri, cleanup }) => {
    const dir = await tempDir(cleanup, 'meridian-nbdcopy-');
    const src = join(dir, 'src.img');
    const out = join(dir, 'out.img');
    await writeFile(src, randomBytes(SIZE));
    await run('nbdcopy', ['--connections=4', '--flush', src, uri]);
    await run('nbdcopy', ['--connections=4', uri, out]);
    const sha = async (p: string): Promise<string> =>
      createHash('sha256')
        .update(await readFile(p))
        .digest('hex');
    assert.equal(await sha(out), await sha(src));
  });
});

test('nbdsh (libnbd Python): FUA, flush, zero, trim and reads through the library', async () => {
  await withVolume(async ({ uri }) => {
    const script = `
buf = bytes((i * 31) % 256 for i in range(65536))
h.pwrite(buf, 65536, nbd.CMD_FLAG_FUA)
assert h.pread(65536, 65536) == buf
h.zero(4096, 65536 + 4096)
assert h.pread(65536, 65536) == buf[:4096] + bytes(4096) + buf[8192:]
h.flush()
h.trim(65536, 0)
assert h.pread(65536, 0) == bytes(65536)
h.pwrite(b'meridian', ${SIZE - 8})
assert h.pread(8, ${SIZE - 8}) == b'meridian'
try:
    h.pread(16, ${SIZE - 8})
    raise SystemExit('read past end succeeded')
except nbd.Error:
    pass
print('ok', h.get_size(), h.get_structured_replies_negotiated(), h.can_multi_conn())
`;
    // nbdsh is a Python script: Debian's python3 has the nbd module, a pyenv one may not.
    const env = { ...process.env, PATH: `/usr/bin:${process.env['PATH'] ?? ''}` };
    const { stdout } = await run('nbdsh', ['-u', uri, '-c', script], { env });
    assert.equal(stdout.trim(), `ok ${SIZE} True True`);
  });
});

test('fio with ioengine=nbd: random writes verified by crc32c', async () => {
  await withVolume(async ({ port }) => {
    const { stdout } = await run('fio', [
      '--name=verify',
      '--ioengine=nbd',
      `--uri=nbd://127.0.0.1:${port}/vol1`,
      '--rw=randwrite',
      '--bs=4k',
      '--size=8m',
      '--iodepth=16',
      '--verify=crc32c',
      '--do_verify=1',
      '--output-format=json',
      // fio saves a verify-state file in its cwd on completion; none is needed here.
      '--verify_state_save=0',
    ]);
    const job = (
      JSON.parse(stdout.slice(stdout.indexOf('{'))) as {
        jobs: { error: number; write: { io_bytes: number } }[];
      }
    ).jobs[0];
    assert.equal(job?.error, 0);
    assert.equal(job?.write.io_bytes, 8 * MiB);
  });
});
