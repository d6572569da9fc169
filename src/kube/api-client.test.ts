// Protocol tests: an in-process HTTP server on 127.0.0.1 speaks the Kubernetes wire format
// (paging, watch streams, Status errors). It has no API-server logic of its own.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { ApiClient, ndjsonLines, resourcePath, type ResourceType } from './api-client.ts';
import {
  AlreadyExistsError,
  InvalidError,
  NotFoundError,
  ProtocolError,
  UnavailableError,
} from './errors.ts';
import { ManualClock } from './clock.ts';
import { objectKey } from './object-key.ts';
import { createInformer } from './store.ts';
import type { KubeObject, RawWatchEvent } from './wire.ts';

interface Seen {
  readonly method: string;
  readonly url: URL;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}
type Handler = (req: Seen, res: ServerResponse) => void;

let handler: Handler = (_req, res) => res.end();
const seen: Seen[] = [];
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const s = {
      method: req.method ?? '',
      url: new URL(req.url ?? '/', 'http://x'),
      headers: req.headers,
      body: Buffer.concat(chunks).toString(),
    };
    seen.push(s);
    handler(s, res);
  });
});
let base = '';
let client: ApiClient;

before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  client = new ApiClient({ server: base, headers: () => ({ authorization: 'Bearer t0k' }), connections: 8 });
});
after(async () => {
  await client.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});
beforeEach(() => {
  seen.length = 0;
});

const json = (res: ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};
const status = (code: number, reason: string, message: string, details?: object) => ({
  kind: 'Status',
  apiVersion: 'v1',
  status: 'Failure',
  code,
  reason,
  message,
  ...(details ? { details } : {}),
});

const deployments: ResourceType = {
  group: 'apps',
  version: 'v1',
  resource: 'deployments',
  scope: 'Namespaced',
};
const namespaces: ResourceType = { group: '', version: 'v1', resource: 'namespaces', scope: 'Cluster' };
const configmaps: ResourceType = { group: '', version: 'v1', resource: 'configmaps', scope: 'Namespaced' };

test('resourcePath covers core/group, namespaced/cluster, collections and subresources', () => {
  assert.equal(
    resourcePath(deployments, { namespace: 'a', name: 'web', subresource: 'status' }),
    '/apis/apps/v1/namespaces/a/deployments/web/status',
  );
  assert.equal(resourcePath(deployments), '/apis/apps/v1/deployments');
  assert.equal(resourcePath(namespaces, { namespace: 'ignored', name: 'x' }), '/api/v1/namespaces/x');
  assert.throws(() => resourcePath(deployments, { subresource: 'scale' }), TypeError);
});

test('get sends credentials and maps 404 to NotFoundError', async () => {
  handler = (req, res) =>
    req.url.pathname.endsWith('/web')
      ? json(res, 200, { metadata: { name: 'web' } })
      : json(res, 404, status(404, 'NotFound', 'deployments.apps "nope" not found'));
  const got = await client.get(deployments, { namespace: 'a', name: 'web' });
  assert.equal(got.metadata?.name, 'web');
  assert.equal(seen[0]?.headers.authorization, 'Bearer t0k');
  assert.equal(seen[0]?.headers['user-agent'], 'meridian');
  await assert.rejects(client.get(deployments, { namespace: 'a', name: 'nope' }), (e) => {
    assert.ok(e instanceof NotFoundError);
    assert.equal(e.message, 'deployments.apps "nope" not found');
    return true;
  });
});

test('list passes paging, RV and selectors as query parameters', async () => {
  handler = (_req, res) =>
    json(res, 200, { metadata: { resourceVersion: '9', continue: 'next' }, items: [{}] });
  const page = await client.list(configmaps, {
    namespace: 'ns',
    limit: 1,
    resourceVersion: '0',
    labelSelector: 'app=web',
    fieldSelector: 'metadata.name=x',
  });
  assert.equal(page.metadata.continue, 'next');
  const url = seen[0]?.url;
  assert.equal(url?.pathname, '/api/v1/namespaces/ns/configmaps');
  assert.deepEqual(Object.fromEntries(url?.searchParams ?? []), {
    limit: '1',
    resourceVersion: '0',
    labelSelector: 'app=web',
    fieldSelector: 'metadata.name=x',
  });
});

test('create maps 409 AlreadyExists and 422 Invalid with the field', async () => {
  handler = (req, res) =>
    JSON.parse(req.body).metadata.name === 'dup'
      ? json(res, 409, status(409, 'AlreadyExists', 'exists'))
      : json(
          res,
          422,
          status(422, 'Invalid', 'bad', { causes: [{ field: 'data.x', reason: 'FieldValueInvalid' }] }),
        );
  const cm = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'ns', name } });
  await assert.rejects(client.create(configmaps, cm('dup')), AlreadyExistsError);
  await assert.rejects(client.create(configmaps, cm('bad'), { fieldManager: 'm' }), (e) => {
    assert.ok(e instanceof InvalidError);
    assert.equal(e.field, 'data.x');
    return true;
  });
  assert.equal(seen[1]?.url.pathname, '/api/v1/namespaces/ns/configmaps');
  assert.equal(seen[1]?.url.searchParams.get('fieldManager'), 'm');
});

test('server-side apply, patches and status writes use the right verbs and content types', async () => {
  handler = (_req, res) => json(res, 200, { metadata: { name: 'web' } });
  const ref = { namespace: 'a', name: 'web' };
  await client.apply(
    deployments,
    { apiVersion: 'apps/v1', kind: 'Deployment', metadata: ref },
    { fieldManager: 'meridian', force: true },
  );
  await client.applyStatus(
    deployments,
    { apiVersion: 'apps/v1', kind: 'Deployment', metadata: ref },
    { fieldManager: 'meridian' },
  );
  await client.patch(deployments, ref, {
    type: 'json',
    ops: [{ op: 'test', path: '/metadata/name', value: 'web' }],
  });
  await client.patch(deployments, ref, { type: 'merge', patch: { spec: { replicas: 2 } } });
  await client.replaceStatus(deployments, { metadata: { ...ref, resourceVersion: '5' } });
  const [apply, applyStatus, jsonPatch, merge, put] = seen;
  assert.equal(apply?.method, 'PATCH');
  assert.equal(apply?.headers['content-type'], 'application/apply-patch+yaml');
  assert.equal(apply?.url.search, '?fieldManager=meridian&force=true');
  assert.equal(applyStatus?.url.pathname, '/apis/apps/v1/namespaces/a/deployments/web/status');
  assert.equal(jsonPatch?.headers['content-type'], 'application/json-patch+json');
  assert.deepEqual(JSON.parse(jsonPatch?.body ?? ''), [{ op: 'test', path: '/metadata/name', value: 'web' }]);
  assert.equal(merge?.headers['content-type'], 'application/merge-patch+json');
  assert.equal(put?.method, 'PUT');
  assert.equal(put?.url.pathname, '/apis/apps/v1/namespaces/a/deployments/web/status');
});

test('delete sends DeleteOptions with propagation policy and preconditions', async () => {
  handler = (_req, res) => json(res, 200, { kind: 'Status', status: 'Success' });
  await client.delete(
    deployments,
    { namespace: 'a', name: 'web' },
    {
      propagationPolicy: 'Foreground',
      preconditions: { uid: 'u1', resourceVersion: '7' },
    },
  );
  assert.equal(seen[0]?.method, 'DELETE');
  assert.deepEqual(JSON.parse(seen[0]?.body ?? ''), {
    apiVersion: 'v1',
    kind: 'DeleteOptions',
    propagationPolicy: 'Foreground',
    preconditions: { uid: 'u1', resourceVersion: '7' },
  });
});

test('discovery lists groups and resolves a kind to its resource and scope', async () => {
  handler = (req, res) => {
    if (req.url.pathname === '/api') return json(res, 200, { versions: ['v1'] });
    if (req.url.pathname === '/apis') {
      return json(res, 200, {
        groups: [{ name: 'apps', versions: [{ groupVersion: 'apps/v1', version: 'v1' }] }],
      });
    }
    if (req.url.pathname === '/apis/apps/v1') {
      return json(res, 200, {
        resources: [
          { name: 'deployments', namespaced: true, kind: 'Deployment', verbs: [] },
          { name: 'deployments/status', namespaced: true, kind: 'Deployment', verbs: [] },
        ],
      });
    }
    json(res, 404, status(404, 'NotFound', 'nope'));
  };
  assert.deepEqual(await client.coreVersions(), ['v1']);
  assert.equal((await client.groups())[0]?.name, 'apps');
  const rt = await client.resolve('apps/v1', 'Deployment');
  assert.deepEqual(rt, {
    group: 'apps',
    version: 'v1',
    resource: 'deployments',
    scope: 'Namespaced',
    kind: 'Deployment',
  });
  await client.resolve('apps/v1', 'Deployment');
  assert.equal(seen.filter((s) => s.url.pathname === '/apis/apps/v1').length, 1, 'cached');
  await assert.rejects(client.resolve('apps/v1', 'Nope'), NotFoundError);
});

test('watch streams newline-delimited events split across chunks', async () => {
  handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const lines =
      JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a', resourceVersion: '2' } } }) +
      '\n' +
      JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '3' } } }) +
      '\n' +
      JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', 'too old') }) +
      '\n';
    res.write(lines.slice(0, 17));
    setImmediate(() => res.end(lines.slice(17)));
  };
  const ac = new AbortController();
  const events: RawWatchEvent<KubeObject>[] = [];
  for await (const ev of client.watch(
    configmaps,
    { namespace: 'ns', resourceVersion: '1', allowWatchBookmarks: true, timeoutSeconds: 300 },
    ac.signal,
  )) {
    events.push(ev);
  }
  assert.deepEqual(
    events.map((e) => e.type),
    ['ADDED', 'BOOKMARK', 'ERROR'],
  );
  assert.deepEqual(Object.fromEntries(seen[0]?.url.searchParams ?? []), {
    resourceVersion: '1',
    allowWatchBookmarks: 'true',
    timeoutSeconds: '300',
    watch: 'true',
  });
});

test('a watch line over the bound fails with ProtocolError', async () => {
  const small = new ApiClient({ server: base, maxWatchLineBytes: 1024 });
  handler = (_req, res) => {
    res.writeHead(200);
    res.write('{"type":"ADDED","object":{"x":"' + 'a'.repeat(600));
    res.write('a'.repeat(600));
    setImmediate(() => res.end('"}}\n'));
  };
  await assert.rejects(
    (async () => {
      for await (const _ of small.watch(configmaps, {}, new AbortController().signal));
    })(),
    (e) => e instanceof ProtocolError && /exceeds 1024 bytes/.test(e.message),
  );
  await small.close();
});

test('ndjsonLines keeps multi-chunk lines and a final unterminated line', async () => {
  async function* chunks() {
    yield Buffer.from('{"a"');
    yield Buffer.from(':1}\n\n{"b":2}\n{"c"');
    yield Buffer.from(':3}');
  }
  const out: string[] = [];
  for await (const l of ndjsonLines(chunks(), 100)) out.push(l);
  assert.deepEqual(out, ['{"a":1}', '{"b":2}', '{"c":3}']);
});

test('aborting a watch closes the stream and ends the request', async () => {
  let closed: Promise<void> = Promise.resolve();
  handler = (req, res) => {
    res.writeHead(200);
    res.write(JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a' } } }) + '\n');
    closed = new Promise((r) => res.on('close', () => r()));
    void req;
  };
  const ac = new AbortController();
  const got: string[] = [];
  await assert.rejects(
    (async () => {
      for await (const ev of client.watch(configmaps, {}, ac.signal)) {
        got.push(ev.type);
        ac.abort(new Error('stop'));
      }
    })(),
    /stop/,
  );
  await closed;
  assert.deepEqual(got, ['ADDED']);
});

test('transport failures become UnavailableError', async () => {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const dead = new ApiClient({ server: `http://127.0.0.1:${port}` });
  await assert.rejects(dead.get(namespaces, { name: 'x' }), UnavailableError);
  await dead.close();
});

test('fromKubeConfig uses the current cluster and bearer token', async () => {
  handler = (_req, res) => json(res, 200, { versions: ['v1'] });
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: base }],
    users: [{ name: 'u', token: 'kc-token' }],
    contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
    currentContext: 'ctx',
  });
  const c = await ApiClient.fromKubeConfig(kc);
  await c.coreVersions();
  assert.equal(seen[0]?.headers.authorization, 'Bearer kc-token');
  await c.close();
});

test('an informer over the client lists pages, watches from the list RV and applies events', async () => {
  handler = (req, res) => {
    const q = req.url.searchParams;
    if (q.get('watch') === 'true') {
      res.writeHead(200);
      res.write(JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '20' } } }) + '\n');
      res.write(
        JSON.stringify({
          type: 'ADDED',
          object: { metadata: { namespace: 'ns', name: 'c', resourceVersion: '21' } },
        }) + '\n',
      );
      return; // stays open like a real watch
    }
    if (q.get('continue') === 'p2') {
      return json(res, 200, {
        metadata: { resourceVersion: '10' },
        items: [{ metadata: { namespace: 'ns', name: 'b' } }],
      });
    }
    json(res, 200, {
      metadata: { continue: 'p2' },
      items: [{ metadata: { namespace: 'ns', name: 'a', managedFields: [{}] } }],
    });
  };
  const informer = createInformer(client.source(configmaps, { namespace: 'ns', labelSelector: 'x=y' }), {
    watcher: { pageSize: 1 },
  });
  const ac = new AbortController();
  const running = informer.run(ac.signal);
  await informer.reader.ready;
  await new Promise<void>((resolve) => {
    if (informer.reader.get(objectKey('ns', 'c'))) resolve();
    informer.reader.subscribe(() => resolve());
  });
  assert.deepEqual(
    informer.reader
      .list()
      .map((o) => o.metadata?.name)
      .sort(),
    ['a', 'b', 'c'],
  );
  assert.equal(informer.reader.get(objectKey('ns', 'a'))?.metadata?.managedFields, undefined);
  const [first, second, w] = seen;
  assert.equal(first?.url.searchParams.get('resourceVersion'), '0');
  assert.equal(first?.url.searchParams.get('labelSelector'), 'x=y');
  assert.equal(second?.url.searchParams.get('continue'), 'p2');
  assert.equal(second?.url.searchParams.get('resourceVersion'), null);
  assert.equal(w?.url.searchParams.get('resourceVersion'), '10');
  assert.equal(w?.url.searchParams.get('allowWatchBookmarks'), 'true');
  ac.abort();
  await running;
});

test('qps/burst: requests past the burst wait for tokens; a dedicated client is not limited', async () => {
  handler = (_req, res) => json(res, 200, { metadata: { name: 'web' } });
  const clock = new ManualClock();
  const limited = new ApiClient({ server: base, qps: 2, burst: 2, clock, connections: 4 });
  const ref = { namespace: 'a', name: 'web' };
  try {
    let answered = 0;
    const calls = Array.from({ length: 4 }, () => limited.get(deployments, ref).then(() => void answered++));
    await Promise.all(calls.slice(0, 2));
    assert.equal(answered, 2, 'the burst goes at once');
    // The other two hold reservations at +500 ms and +1 000 ms: nothing reaches the server yet.
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(seen.length, 2);
    const own = limited.dedicated();
    await own.get(deployments, ref);
    assert.equal(seen.length, 3, 'the dedicated client skips the queue');
    await own.close();
    await clock.advance(500);
    await calls[2];
    assert.equal(answered, 3);
    await clock.advance(500);
    await calls[3];
    assert.equal(answered, 4);
    // A caller that gives up while waiting for a token never reaches the server.
    const gaveUp = new AbortController();
    const late = limited.get(deployments, ref, { signal: gaveUp.signal });
    gaveUp.abort(new Error('caller gave up'));
    await assert.rejects(late, /caller gave up/);
    assert.equal(seen.length, 5);
  } finally {
    await limited.close();
  }
});
