import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StorageError } from '../errors.ts';
import type { NbdTlsOptions } from './nbd-server.ts';

/**
 * Loads the server's TLS material from a directory laid out as qemu and nbdkit expect
 * (`--object tls-creds-x509,dir=...`, `nbdkit --tls-certificates`): `server-cert.pem`,
 * `server-key.pem`, and `ca-cert.pem` (needed to verify client certificates). A missing
 * file is named in the error.
 */
export async function loadTlsDir(
  dir: string,
  mode: NbdTlsOptions['mode'],
  verifyPeer: boolean,
): Promise<NbdTlsOptions> {
  const read = async (name: string, required: boolean): Promise<Buffer | undefined> => {
    try {
      return await readFile(join(dir, name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !required) return undefined;
      throw new StorageError(
        'Invalid',
        `TLS certificates: cannot read ${join(dir, name)}: ${(e as Error).message}`,
      );
    }
  };
  const cert = (await read('server-cert.pem', true)) as Buffer;
  const key = (await read('server-key.pem', true)) as Buffer;
  const ca = await read('ca-cert.pem', verifyPeer);
  return { mode, cert, key, ...(ca === undefined ? {} : { ca }), verifyPeer };
}
