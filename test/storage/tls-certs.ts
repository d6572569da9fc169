/**
 * Test PKI made with openssl: a CA, a server certificate for 127.0.0.1/localhost and a
 * client certificate, in the directory layouts qemu, nbdkit and libnbd read
 * (`ca-cert.pem`, `server-cert.pem`/`server-key.pem`, `client-cert.pem`/`client-key.pem`).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, tempDir, type Cleanup } from './harness.ts';

export type TestPki = {
  /** For the server: ca-cert.pem, server-cert.pem, server-key.pem. */
  readonly serverDir: string;
  /** For a trusted client: ca-cert.pem, client-cert.pem, client-key.pem. */
  readonly clientDir: string;
  /** Trusts the CA but has no client certificate. */
  readonly anonymousDir: string;
};

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export async function makePki(cleanup: Cleanup): Promise<TestPki> {
  const root = await tempDir(cleanup, 'meridian-pki-');
  const ca = join(root, 'ca');
  const serverDir = join(root, 'server');
  const clientDir = join(root, 'client');
  const anonymousDir = join(root, 'anonymous');
  for (const d of [ca, serverDir, clientDir, anonymousDir]) await mkdir(d);
  const caCert = join(ca, 'ca-cert.pem');
  const caKey = join(ca, 'ca-key.pem');
  await run('openssl', [
    'req',
    '-x509',
    ...EC,
    '-keyout',
    caKey,
    '-out',
    caCert,
    '-days',
    '2',
    '-subj',
    '/CN=meridian test CA',
  ]);
  const leaf = async (dir: string, name: string, cn: string, ext: string): Promise<void> => {
    const csr = join(dir, `${name}.csr`);
    const extFile = join(dir, `${name}.ext`);
    await writeFile(extFile, ext);
    await run('openssl', [
      'req',
      ...EC,
      '-keyout',
      join(dir, `${name}-key.pem`),
      '-out',
      csr,
      '-subj',
      `/CN=${cn}`,
    ]);
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      caCert,
      '-CAkey',
      caKey,
      '-CAcreateserial',
      '-out',
      join(dir, `${name}-cert.pem`),
      '-days',
      '2',
      '-extfile',
      extFile,
    ]);
  };
  await leaf(
    serverDir,
    'server',
    'localhost',
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n',
  );
  await leaf(
    clientDir,
    'client',
    'meridian-test-client',
    'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\n',
  );
  for (const d of [serverDir, clientDir, anonymousDir]) await run('cp', [caCert, join(d, 'ca-cert.pem')]);
  return { serverDir, clientDir, anonymousDir };
}
