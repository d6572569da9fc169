/**
 * Checking and signing agent certificate requests with the hub CA (X.509 through
 * `@peculiar/x509`: node:crypto verifies certificates but cannot issue them).
 *
 * Only the request's public key and a subject it proved (by its signature) are taken from it;
 * every extension is Meridian's own: not a CA, digital signature, client authentication only.
 * Whatever extensions the requester asked for are ignored.
 */
import 'reflect-metadata';
import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { AGENT_GROUP, clusterOfAgentUser } from '../../api/agent-identity.ts';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export interface SigningCa {
  readonly cert: x509.X509Certificate;
  readonly key: CryptoKey;
  readonly algorithm: { readonly name: string; readonly hash: string };
}

const CURVES: Readonly<Record<string, string>> = {
  prime256v1: 'P-256',
  secp384r1: 'P-384',
  secp521r1: 'P-521',
};

/** Loads the CA certificate and its private key (PEM; EC P-256/384/521 or RSA). */
export async function loadSigningCa(certPem: string | Buffer, keyPem: string | Buffer): Promise<SigningCa> {
  const cert = new x509.X509Certificate(certPem.toString());
  const key = createPrivateKey(keyPem);
  const der = key.export({ format: 'der', type: 'pkcs8' });
  if (key.asymmetricKeyType === 'ec') {
    const namedCurve = CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''];
    if (namedCurve === undefined)
      throw new TypeError(`unsupported CA key curve ${key.asymmetricKeyDetails?.namedCurve ?? '?'}`);
    const alg = { name: 'ECDSA', namedCurve };
    const imported = await webcrypto.subtle.importKey('pkcs8', der, alg, false, ['sign']);
    return { cert, key: imported as CryptoKey, algorithm: { name: 'ECDSA', hash: 'SHA-256' } };
  }
  if (key.asymmetricKeyType === 'rsa') {
    const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    const imported = await webcrypto.subtle.importKey('pkcs8', der, alg, false, ['sign']);
    return { cert, key: imported as CryptoKey, algorithm: alg };
  }
  throw new TypeError(`unsupported CA key type ${key.asymmetricKeyType ?? '?'}`);
}

/** A request that passed {@link checkRequest}. */
export interface CheckedRequest {
  readonly csr: x509.Pkcs10CertificateRequest;
  readonly cluster: string;
}

/**
 * Parses a PEM PKCS#10 request and checks it is an agent's: a valid self-signature, and a
 * subject of exactly `CN=system:meridian:agent:<cluster>` and `O=system:meridian:agents`.
 * Returns the reason as a string when it is not.
 */
export async function checkRequest(pem: string): Promise<CheckedRequest | string> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch (err) {
    return `spec.request is not a PEM certificate request: ${(err as Error).message}`;
  }
  if (!(await csr.verify().catch(() => false))) return 'the request signature does not verify';
  const rdns = csr.subjectName.toJSON();
  const fields = rdns.flatMap((rdn) => Object.entries(rdn).flatMap(([k, vs]) => vs.map((v) => [k, v])));
  const cn = fields.filter(([k]) => k === 'CN').map(([, v]) => v);
  const o = fields.filter(([k]) => k === 'O').map(([, v]) => v);
  const cluster = cn.length === 1 ? clusterOfAgentUser(cn[0] as string) : undefined;
  if (cluster === undefined || o.length !== 1 || o[0] !== AGENT_GROUP || fields.length !== 2) {
    return `subject must be exactly CN=system:meridian:agent:<cluster>, O=${AGENT_GROUP}; got ${csr.subject}`;
  }
  return { csr, cluster };
}

/** Issues a client certificate for `req`, valid from now (whole seconds) for `ttlSeconds`. */
export async function signRequest(
  ca: SigningCa,
  req: CheckedRequest,
  ttlSeconds: number,
  now: Date = new Date(),
): Promise<string> {
  const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000);
  const serial = randomBytes(16);
  serial[0] = (serial[0] as number) & 0x7f; // a positive INTEGER
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial.toString('hex'),
    subject: req.csr.subjectName,
    issuer: ca.cert.subjectName,
    notBefore,
    notAfter: new Date(notBefore.getTime() + ttlSeconds * 1000),
    publicKey: req.csr.publicKey,
    signingKey: ca.key,
    signingAlgorithm: ca.algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
  return cert.toString('pem') + '\n';
}
