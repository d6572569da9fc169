import 'reflect-metadata';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { checkRequest, loadSigningCa, signRequest, type SigningCa } from './sign.ts';

let dir = '';
let ca: SigningCa;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'meridian-sign-'));
  // The CA as the test environment makes it (openssl, EC P-256).
  execFileSync('openssl', [
    'req', '-x509', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.crt'), '-days', '1', '-subj', '/CN=hub-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,digitalSignature,keyCertSign',
  ]); // prettier-ignore
  ca = await loadSigningCa(readFileSync(join(dir, 'ca.crt')), readFileSync(join(dir, 'ca.key')));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A CSR for an arbitrary subject (what a misbehaving requester could send). */
async function requestFor(name: string): Promise<string> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name, keys, signingAlgorithm: alg });
  return csr.toString('pem');
}

test('an agent request is accepted and signed as a client-only certificate that openssl verifies', async () => {
  const csrPem = await requestFor('CN=system:meridian:agent:edge-1, O=system:meridian:agents');
  const checked = await checkRequest(csrPem);
  assert.notEqual(typeof checked, 'string', String(checked));
  if (typeof checked === 'string') return;
  assert.equal(checked.cluster, 'edge-1');
  const now = new Date(Math.floor(Date.now() / 1000) * 1000 + 500);
  const pem = await signRequest(ca, checked, 90, now);
  const cert = new x509.X509Certificate(pem);
  assert.equal(cert.notBefore.getTime(), now.getTime() - 500, 'from now, in whole seconds');
  assert.equal(cert.notAfter.getTime() - cert.notBefore.getTime(), 90_000);
  assert.equal(cert.getExtension(x509.BasicConstraintsExtension)?.ca, false);
  assert.deepEqual(
    [...(cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [])],
    [x509.ExtendedKeyUsage.clientAuth],
  );
  assert.equal(cert.subjectName.getField('CN')[0], 'system:meridian:agent:edge-1');
  assert.equal(cert.subjectName.getField('O')[0], 'system:meridian:agents');
  // Chains to the CA (at a time inside its validity).
  writeFileSync(join(dir, 'leaf.crt'), pem);
  const attime = String(Math.floor(now.getTime() / 1000) + 10);
  const out = execFileSync('openssl', [
    'verify', '-attime', attime, '-purpose', 'sslclient', '-CAfile', join(dir, 'ca.crt'), join(dir, 'leaf.crt'),
  ]); // prettier-ignore
  assert.match(out.toString(), /OK/);
});

test('requests for any other subject are refused with the reason', async () => {
  const cases: [string, RegExp][] = [
    ['CN=system:meridian:agent:edge-1', /subject must be exactly/], // no O
    ['CN=system:masters, O=system:meridian:agents', /subject must be exactly/],
    ['CN=system:meridian:agent:edge-1, O=system:masters', /subject must be exactly/],
    [
      'CN=system:meridian:agent:edge-1, O=system:meridian:agents, O=system:masters',
      /subject must be exactly/,
    ],
    ['CN=system:meridian:agent:Bad_Name, O=system:meridian:agents', /subject must be exactly/],
  ];
  for (const [subject, why] of cases) {
    const r = await checkRequest(await requestFor(subject));
    assert.equal(typeof r, 'string', subject);
    assert.match(r as string, why, subject);
  }
  assert.match((await checkRequest('not a request')) as string, /not a PEM certificate request/);
});
