// Who may use the direct cluster proxy (`/clusters/<name>/…`): a real gateway on a real TLS
// listener, certificates issued by a real CA (openssl). No agent is connected, so a caller the
// gateway accepts gets the 503 "no connected agent" and a refused one the refusal.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { AGENT_GROUP, agentUser } from '../api/agent-identity.ts';
import { createCertificateAuthority, issueCertificate, type KeyPair } from '../testenv/pki.ts';
import { startGateway, type Gateway } from './gateway.ts';
import type { AuditRecord } from './proxy.ts';
import { staticTokens } from './tokens.ts';

let dir = '';
let ca: KeyPair;
let gateway: Gateway;
const audited: AuditRecord[] = [];
const pairs = new Map<string, KeyPair>();

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meridian-direct-caller-'));
  ca = await createCertificateAuthority(dir, 'hub-ca');
  const [serving, user, agent, agentNamed, agentGroup] = await Promise.all([
    issueCertificate(ca, dir, 'serving', { commonName: 'gw', ipAddresses: ['127.0.0.1'], usage: 'server' }),
    issueCertificate(ca, dir, 'user', { commonName: 'alice', organizations: ['devs'], usage: 'client' }),
    // Exactly what the agent signer issues for cluster c1's tunnel.
    issueCertificate(ca, dir, 'agent', {
      commonName: agentUser('c1'),
      organizations: [AGENT_GROUP],
      usage: 'client',
    }),
    issueCertificate(ca, dir, 'agent-named', { commonName: agentUser('c2'), usage: 'client' }),
    issueCertificate(ca, dir, 'agent-group', {
      commonName: 'bob',
      organizations: ['devs', AGENT_GROUP],
      usage: 'client',
    }),
  ]);
  pairs.set('user', user).set('agent', agent).set('agent-named', agentNamed).set('agent-group', agentGroup);
  gateway = await startGateway({
    host: '127.0.0.1',
    tls: {
      cert: await readFile(serving.certPath),
      key: await readFile(serving.keyPath),
      clientCa: await readFile(ca.certPath),
    },
    agents: staticTokens(new Map()),
    audit: (r) => audited.push(r),
  });
});
after(async () => {
  await gateway.close();
  await rm(dir, { recursive: true, force: true });
});

async function get(as: string, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const pair = pairs.get(as)!;
  const [cert, key, caPem] = await Promise.all([
    readFile(pair.certPath),
    readFile(pair.keyPath),
    readFile(ca.certPath),
  ]);
  return new Promise((resolve, reject) => {
    const req = request(`${gateway.url}${path}`, { ca: caPem, cert, key, agent: false }, (res) => {
      let b = '';
      res.setEncoding('utf8').on('data', (c: string) => (b += c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(b) as Record<string, unknown> }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

test('a hub-CA user certificate is accepted on the direct path (503 here only for want of an agent)', async () => {
  const r = await get('user', '/clusters/c1/api');
  assert.equal(r.status, 503);
  assert.match(String(r.body['message']), /c1 has no connected agent/);
});

test('an agent certificate is refused as a user of the direct path (403), and the refusal is audited', async () => {
  audited.length = 0;
  for (const cluster of ['c1', 'c2']) {
    const r = await get('agent', `/clusters/${cluster}/api/v1/secrets`);
    assert.equal(r.status, 403, cluster);
    assert.equal(r.body['kind'], 'Status');
    assert.equal(r.body['reason'], 'Forbidden');
    assert.match(String(r.body['message']), /system:meridian:agent:c1" is an agent identity/);
    assert.match(String(r.body['message']), /not accepted as users of the cluster proxy/);
  }
  assert.deepEqual(
    audited.map((a) => [a.user, a.cluster, a.path, a.status, a.via]),
    [
      [agentUser('c1'), 'c1', '/api/v1/secrets', 403, 'direct'],
      [agentUser('c1'), 'c2', '/api/v1/secrets', 403, 'direct'],
    ],
  );
});

test('the agent user name alone, or the agent group alone, is refused too', async () => {
  for (const as of ['agent-named', 'agent-group']) {
    const r = await get(as, '/clusters/c1/api');
    assert.equal(r.status, 403, as);
    assert.match(String(r.body['message']), /is an agent identity/, as);
  }
});
