import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { TunnelError } from './errors.ts';
import {
  decodeRequestHead,
  encodeRequestHead,
  forwardableRequestHeaders,
  forwardableResponseHeaders,
  impersonationHeaders,
  readResponseHead,
  writeResponseHead,
} from './http.ts';

test('a response head split over chunks is read, and the body after it stays in the stream', async () => {
  const w = new PassThrough();
  const encoded = new PassThrough();
  writeResponseHead(encoded, { status: 200, headers: [['Content-Type', 'application/json']] });
  encoded.end();
  const bytes = Buffer.concat([encoded.read() as Buffer, Buffer.from('{"kind":"List"}')]);
  const reading = readResponseHead(w);
  for (let i = 0; i < bytes.length; i += 5) w.write(bytes.subarray(i, i + 5));
  const head = await reading;
  assert.equal(head.status, 200);
  w.end();
  const rest: Buffer[] = [];
  for await (const c of w) rest.push(c as Buffer);
  assert.equal(Buffer.concat(rest).toString(), '{"kind":"List"}');
});

test('a stream that ends before the head is a protocol error', async () => {
  const w = new PassThrough();
  const reading = readResponseHead(w);
  w.end(Buffer.from([0, 0]));
  await assert.rejects(reading, (e: unknown) => e instanceof TunnelError && e.code === 'Protocol');
});

test('request heads round-trip and malformed ones are refused', () => {
  const head = {
    kind: 'http' as const,
    method: 'GET',
    path: '/api/v1/pods?watch=1',
    headers: [['Accept', 'application/json']] as [string, string][],
    identity: { user: 'alice', groups: ['devs'] },
  };
  assert.deepEqual(decodeRequestHead(encodeRequestHead(head)), head);
  for (const bad of [
    '{',
    '{"kind":"http"}',
    JSON.stringify({ ...head, path: 'api' }),
    JSON.stringify({ ...head, identity: {} }),
  ])
    assert.throws(
      () => decodeRequestHead(Buffer.from(bad)),
      (e: unknown) => e instanceof TunnelError,
    );
});

test('forwarded request headers drop credentials, impersonation and hop-by-hop headers', () => {
  const raw = [
    'Accept', 'application/json',
    'Authorization', 'Bearer hub-token',
    'Impersonate-User', 'admin',
    'impersonate-group', 'system:masters',
    'Impersonate-Extra-Scopes', 'x',
    'Connection', 'keep-alive, X-Secret',
    'X-Secret', 'hop',
    'Transfer-Encoding', 'chunked',
    'Host', 'gateway:443',
    'User-Agent', 'kubectl',
  ]; // prettier-ignore
  assert.deepEqual(forwardableRequestHeaders(raw), [
    ['Accept', 'application/json'],
    ['User-Agent', 'kubectl'],
  ]);
  const up = [
    'Connection',
    'Upgrade',
    'Upgrade',
    'SPDY/3.1',
    'X-Stream-Protocol-Version',
    'v4.channel.k8s.io',
  ];
  assert.deepEqual(forwardableRequestHeaders(up, true), [
    ['Upgrade', 'SPDY/3.1'],
    ['X-Stream-Protocol-Version', 'v4.channel.k8s.io'],
    ['Connection', 'Upgrade'],
  ]);
  assert.deepEqual(
    forwardableResponseHeaders(['Transfer-Encoding', 'chunked', 'Content-Type', 'text/plain']),
    [['Content-Type', 'text/plain']],
  );
});

test('impersonation headers carry user, every group, uid and percent-encoded extra keys', () => {
  assert.deepEqual(
    impersonationHeaders({
      user: 'alice',
      groups: ['a', 'b'],
      uid: '42',
      extra: { 'acme.io/team x': ['t1'] },
    }),
    [
      ['Impersonate-User', 'alice'],
      ['Impersonate-Group', 'a'],
      ['Impersonate-Group', 'b'],
      ['Impersonate-Uid', '42'],
      ['Impersonate-Extra-acme.io%2Fteam%20x', 't1'],
    ],
  );
});
