import { readFile, writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import type { KeyPair } from './pki.ts';

export interface KubeconfigSpec {
  readonly cluster: string;
  readonly server: string;
  readonly caPath: string;
  readonly user: string;
  readonly credentials: KeyPair;
}

/** Writes a self-contained kubeconfig (certificates embedded) for a client-certificate user. */
export async function writeKubeconfig(path: string, spec: KubeconfigSpec): Promise<void> {
  const b64 = async (p: string) => (await readFile(p)).toString('base64');
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: spec.cluster,
        cluster: { server: spec.server, 'certificate-authority-data': await b64(spec.caPath) },
      },
    ],
    users: [
      {
        name: spec.user,
        user: {
          'client-certificate-data': await b64(spec.credentials.certPath),
          'client-key-data': await b64(spec.credentials.keyPath),
        },
      },
    ],
    contexts: [{ name: spec.cluster, context: { cluster: spec.cluster, user: spec.user } }],
    'current-context': spec.cluster,
  };
  await writeFile(path, stringify(config), { mode: 0o600 });
}
