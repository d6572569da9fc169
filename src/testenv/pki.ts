import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A certificate and its private key, as PEM files on disk. */
export interface KeyPair {
  readonly certPath: string;
  readonly keyPath: string;
}

export interface CertificateRequest {
  readonly commonName: string;
  /** Subject organisations; Kubernetes reads them as the client's groups. */
  readonly organizations?: readonly string[];
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly usage: 'server' | 'client' | 'server-and-client';
  readonly days?: number;
}

/** True when both files of a pair already exist: a kept environment reuses its PKI on restart. */
const exists = (...paths: string[]) => paths.every((p) => existsSync(p));

/**
 * Creates a self-signed CA (EC P-256) in `dir`, or reuses the one already there. Uses the
 * `openssl` command rather than a JavaScript X.509 library: it is the tool operators use for
 * the same job, and node's crypto module can parse certificates but not issue them.
 */
export async function createCertificateAuthority(dir: string, name: string): Promise<KeyPair> {
  await mkdir(dir, { recursive: true });
  const pair = { certPath: join(dir, `${name}.crt`), keyPath: join(dir, `${name}.key`) };
  if (exists(pair.certPath, pair.keyPath)) return pair;
  await run('openssl', [
    'req', '-x509', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-keyout', pair.keyPath, '-out', pair.certPath, '-days', '3650', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,digitalSignature,keyCertSign,cRLSign',
  ]); // prettier-ignore
  return pair;
}

/** Issues a leaf certificate signed by `ca`, written as `<dir>/<name>.crt|.key` (reused when present). */
export async function issueCertificate(
  ca: KeyPair,
  dir: string,
  name: string,
  req: CertificateRequest,
): Promise<KeyPair> {
  await mkdir(dir, { recursive: true });
  const pair = { certPath: join(dir, `${name}.crt`), keyPath: join(dir, `${name}.key`) };
  if (exists(pair.certPath, pair.keyPath)) return pair;
  const subject = [...(req.organizations ?? []).map((o) => `/O=${o}`), `/CN=${req.commonName}`].join('');
  const eku = { server: 'serverAuth', client: 'clientAuth', 'server-and-client': 'serverAuth,clientAuth' }[
    req.usage
  ];
  const sans = [
    ...(req.dnsNames ?? []).map((d) => `DNS:${d}`),
    ...(req.ipAddresses ?? []).map((i) => `IP:${i}`),
  ];
  const args = [
    'req', '-x509', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-CA', ca.certPath, '-CAkey', ca.keyPath,
    '-keyout', pair.keyPath, '-out', pair.certPath, '-days', String(req.days ?? 825), '-subj', subject,
    '-addext', 'basicConstraints=critical,CA:FALSE',
    '-addext', 'keyUsage=critical,digitalSignature,keyEncipherment',
    '-addext', `extendedKeyUsage=${eku}`,
  ]; // prettier-ignore
  if (sans.length > 0) args.push('-addext', `subjectAltName=${sans.join(',')}`);
  await run('openssl', args);
  return pair;
}

/**
 * Writes the key pair the API server signs and verifies service-account tokens with (or
 * reuses it). */
export async function createServiceAccountKey(
  dir: string,
): Promise<{ publicKeyPath: string; privateKeyPath: string }> {
  await mkdir(dir, { recursive: true });
  const paths = { publicKeyPath: join(dir, 'sa.pub'), privateKeyPath: join(dir, 'sa.key') };
  if (exists(paths.publicKeyPath, paths.privateKeyPath)) return paths;
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  await writeFile(paths.publicKeyPath, publicKey.export({ type: 'spki', format: 'pem' }));
  await writeFile(paths.privateKeyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  return paths;
}
