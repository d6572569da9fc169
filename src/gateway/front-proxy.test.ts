// The front-proxy authenticator on real TLS connections: certificates issued by real CAs
// (openssl), a real HTTPS server trusting both the hub CA and the front-proxy CA, as the
// gateway's listener does.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { Agent, createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { createCertificateAuthority, issueCertificate, type KeyPair } from '../testenv/pki.ts';
import { FrontProxyAuthenticator, frontProxyHeaderFilter, type FrontProxyResult } from './front-proxy.ts';

let dir = '';
let server: Server;
let hubCa: KeyPair;
let fpCa: KeyPair;
const pairs = new Map<string, KeyPair>();
let auth: FrontProxyAuthenticator;
const lookups = new Map<TLSSocket, number>();

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meridian-front-proxy-'));
  [hubCa, fpCa] = await Promise.all([
    createCertificateAuthority(dir, 'hub-ca'),
    createCertificateAuthority(dir, 'front-proxy-ca'),
  ]);
  const [serving, proxy, otherName, impostor] = await Promise.all([
    issueCertificate(hubCa, dir, 'serving', {
      commonName: 'gw',
      ipAddresses: ['127.0.0.1'],
      usage: 'server',
    }),
    issueCertificate(fpCa, dir, 'proxy', { commonName: 'front-proxy-client', usage: 'client' }),
    issueCertificate(fpCa, dir, 'other', { commonName: 'someone-else', usage: 'client' }),
    // The right name, the wrong CA: a user the hub CA signed, calling itself the front proxy.
    issueCertificate(hubCa, dir, 'impostor', { commonName: 'front-proxy-client', usage: 'client' }),
  ]);
  pairs.set('proxy', proxy).set('other', otherName).set('impostor', impostor);
  auth = new FrontProxyAuthenticator({
    clientCa: await readFile(fpCa.certPath),
    allowedNames: ['front-proxy-client'],
  });
  server = createServer({
    cert: await readFile(serving.certPath),
    key: await readFile(serving.keyPath),
    ca: [await readFile(hubCa.certPath), auth.caPem],
    requestCert: true,
    rejectUnauthorized: false,
  });
  // Counts certificate lookups per connection (a counting wrapper on the real socket method).
  server.on('secureConnection', (socket: TLSSocket) => {
    const real = socket.getPeerCertificate.bind(socket);
    lookups.set(socket, 0);
    socket.getPeerCertificate = ((detailed?: boolean) => {
      lookups.set(socket, (lookups.get(socket) ?? 0) + 1);
      return real(detailed as true);
    }) as TLSSocket['getPeerCertificate'];
  });
  server.on('request', (req, res) => {
    res.end(JSON.stringify(auth.authenticate(req.socket as TLSSocket, req.rawHeaders)));
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
});
after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

/** Repeated headers as arrays (a flat header array would leave out Host). */
function asObject(headers: [string, string][]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of headers) (out[k] ??= []).push(v);
  return out;
}

async function call(
  as: string | undefined,
  headers: [string, string][],
  agent?: Agent,
): Promise<FrontProxyResult> {
  const pair = as === undefined ? undefined : pairs.get(as);
  const tls =
    pair === undefined ? {} : { cert: await readFile(pair.certPath), key: await readFile(pair.keyPath) };
  return new Promise((resolve, reject) => {
    const req = request(
      `https://127.0.0.1:${(server.address() as AddressInfo).port}/`,
      { rejectUnauthorized: false, headers: asObject(headers), ...tls, ...(agent && { agent }) },
      (res) => {
        let b = '';
        res.setEncoding('utf8').on('data', (c: string) => (b += c));
        res.on('end', () => resolve(JSON.parse(b) as FrontProxyResult));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

test('the front proxy: user, every group header, uid and extras (keys percent-decoded)', async () => {
  const r = await call('proxy', [
    ['X-Remote-User', 'alice'],
    ['X-Remote-Group', 'devs'],
    ['X-Remote-Group', 'system:authenticated'],
    ['X-Remote-Uid', 'u-1'],
    ['X-Remote-Extra-Scopes', 'a'],
    ['X-Remote-Extra-Scopes', 'b'],
    ['X-Remote-Extra-example.com%2fteam', 'blue'],
  ]);
  assert.deepEqual(r, {
    ok: true,
    identity: {
      user: 'alice',
      groups: ['devs', 'system:authenticated'],
      uid: 'u-1',
      extra: { scopes: ['a', 'b'], 'example.com/team': ['blue'] },
    },
  });
});

test('refused: no certificate, a hub-CA certificate named like the front proxy, a name not allowed, no user', async () => {
  const cases: [string | undefined, RegExp][] = [
    [undefined, /no client certificate signed by the front-proxy CA/],
    ['impostor', /no client certificate signed by the front-proxy CA/],
    ['other', /CN someone-else is not an allowed name/],
  ];
  for (const [as, why] of cases) {
    const r = await call(as, [['X-Remote-User', 'system:admin']]);
    assert.equal(r.ok, false, String(as));
    assert.match((r as { reason: string }).reason, why, String(as));
  }
  const none = await call('proxy', [['X-Remote-Group', 'system:masters']]);
  assert.deepEqual(none, { ok: false, reason: 'the front proxy named no user' });
});

test('the certificate is examined once per TLS 1.3 connection; each request still names its own user', async () => {
  lookups.clear();
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (const user of ['alice', 'bob', 'carol']) {
      const r = await call('proxy', [['X-Remote-User', user]], agent);
      assert.deepEqual(r, { ok: true, identity: { user, groups: [] } });
    }
    const [[socket, n]] = [...lookups] as [[TLSSocket, number]];
    assert.equal(lookups.size, 1, 'one connection');
    assert.equal(socket.getProtocol(), 'TLSv1.3');
    assert.equal(n, 1);
    // Another connection, another certificate: its own answer.
    const other = await call('other', [['X-Remote-User', 'alice']]);
    assert.equal(other.ok, false);
  } finally {
    agent.destroy();
  }
});

test('the header filter names every front-proxy header (never forwarded to members)', () => {
  const drop = frontProxyHeaderFilter();
  for (const h of ['x-remote-user', 'x-remote-group', 'x-remote-uid', 'x-remote-extra-scopes'])
    assert.ok(drop(h), h);
  for (const h of ['accept', 'x-remote', 'x-forwarded-for']) assert.ok(!drop(h), h);
});
