/**
 * The agent's key pair and certificate request (PKCS#10 through `@peculiar/x509`:
 * node:crypto cannot write a CSR). A fresh EC P-256 key per request, so a rotated
 * certificate never shares a key with the one it replaces.
 */
import 'reflect-metadata';
import { KeyObject, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { AGENT_GROUP, agentUser } from '../api/agent-identity.ts';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

/** A new private key (PKCS#8 PEM) and a request for `cluster`'s agent identity (PEM). */
export async function createAgentRequest(cluster: string): Promise<{ keyPem: string; csrPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [agentUser(cluster)] }, { O: [AGENT_GROUP] }],
    keys,
    signingAlgorithm: ALG,
  });
  const keyPem = KeyObject.from(keys.privateKey).export({ format: 'pem', type: 'pkcs8' }) as string;
  return { keyPem, csrPem: csr.toString('pem') + '\n' };
}

/** Validity of a PEM certificate, and its subject CN. */
export function certificateInfo(pem: string): { notBefore: Date; notAfter: Date; commonName: string } {
  const c = new x509.X509Certificate(pem);
  return { notBefore: c.notBefore, notAfter: c.notAfter, commonName: c.subjectName.getField('CN')[0] ?? '' };
}
