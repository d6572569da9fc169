// Against a REAL kube-apiserver (the hub of src/testenv): SSA, paging, watch/informer,
// error mapping, and leader election with two candidates. Uses the run's shared environment
// when MERIDIAN_TEST_ENV names one, else starts a hub-only environment for this file.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
// Tests may drive the test environment; src/kube code itself never imports it.
// eslint-disable-next-line no-restricted-imports
import { startEnvironment, type EnvironmentInfo } from '../testenv/environment.ts';
import { ApiClient, type ResourceType } from './api-client.ts';
import { ConflictError, InvalidError, NotFoundError } from './errors.ts';
import { leaseClient, runLeaderElection, type Lease, LEASES } from './leader-election.ts';
import { objectKey } from './object-key.ts';
import { createInformer } from './store.ts';
import type { KubeObject, RawWatchEvent } from './wire.ts';

const configmaps: ResourceType = { group: '', version: 'v1', resource: 'configmaps', scope: 'Namespaced' };
const namespaces: ResourceType = { group: '', version: 'v1', resource: 'namespaces', scope: 'Cluster' };
type ConfigMap = KubeObject & { readonly data?: Record<string, string> };

let client: ApiClient;
let stopEnv: (() => Promise<void>) | undefined;
const ns = `kube-it-${randomBytes(3).toString('hex')}`;

before(async () => {
  let info: EnvironmentInfo;
  const shared = process.env['MERIDIAN_TEST_ENV'];
  if (shared) info = JSON.parse(readFileSync(shared, 'utf8')) as EnvironmentInfo;
  else {
    const env = await startEnvironment({ members: [] });
    stopEnv = () => env.stop();
    info = env.info();
  }
  const kc = new KubeConfig();
  kc.loadFromFile(info.hub.kubeconfig);
  client = await ApiClient.fromKubeConfig(kc);
  await client.create(namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
});

after(async () => {
  await client?.delete(namespaces, { name: ns }, { propagationPolicy: 'Background' }).catch(() => {});
  await client?.close();
  await stopEnv?.();
});

const cm = (name: string, data: Record<string, string>, labels = { suite: 'kube-it' }) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { namespace: ns, name, labels },
  data,
});

test('discovery resolves kinds to resources', async () => {
  assert.ok((await client.coreVersions()).includes('v1'));
  assert.ok((await client.groups()).some((g) => g.name === 'coordination.k8s.io'));
  const rt = await client.resolve('apps/v1', 'Deployment');
  assert.equal(rt.resource, 'deployments');
  assert.equal(rt.scope, 'Namespaced');
});

test('server-side apply: create, update, conflict between managers, force', async () => {
  const first = await client.apply<ConfigMap>(configmaps, cm('ssa', { a: '1' }), {
    fieldManager: 'meridian-a',
  });
  assert.equal(first.data?.['a'], '1');
  const second = await client.apply<ConfigMap>(configmaps, cm('ssa', { a: '2' }), {
    fieldManager: 'meridian-a',
  });
  assert.equal(second.data?.['a'], '2');
  await assert.rejects(
    client.apply(configmaps, cm('ssa', { a: '3' }), { fieldManager: 'meridian-b' }),
    ConflictError,
  );
  const forced = await client.apply<ConfigMap>(configmaps, cm('ssa', { a: '3' }), {
    fieldManager: 'meridian-b',
    force: true,
  });
  assert.equal(forced.data?.['a'], '3');
});

test('errors map to typed classes with fields', async () => {
  await assert.rejects(client.get(configmaps, { namespace: ns, name: 'absent' }), NotFoundError);
  await assert.rejects(client.create(configmaps, cm('Bad_Name', {})), (e) => {
    assert.ok(e instanceof InvalidError);
    assert.equal(e.field, 'metadata.name');
    return true;
  });
});

test('list pages with limit/continue see every object once', async () => {
  const labels = { suite: 'paging' };
  for (let i = 0; i < 5; i++) await client.create(configmaps, cm(`page-${i}`, {}, labels));
  const names: string[] = [];
  let cont: string | undefined;
  let pages = 0;
  do {
    const page = await client.list(configmaps, {
      namespace: ns,
      limit: 2,
      labelSelector: 'suite=paging',
      ...(cont ? { continue: cont } : {}),
    });
    pages++;
    names.push(...page.items.map((o) => o.metadata?.name ?? ''));
    cont = page.metadata.continue || undefined;
  } while (cont);
  assert.equal(pages, 3);
  assert.deepEqual(names.sort(), ['page-0', 'page-1', 'page-2', 'page-3', 'page-4']);
});

test('watch delivers a bookmark (initial-events-end) and the informer tracks changes', async () => {
  // A raw watch with sendInitialEvents ends its initial burst with a bookmark.
  await client.create(configmaps, cm('watched-0', {}, { suite: 'watch' }));
  const ac = new AbortController();
  const seen: RawWatchEvent<KubeObject>[] = [];
  for await (const ev of client.watch(
    configmaps,
    {
      namespace: ns,
      labelSelector: 'suite=watch',
      allowWatchBookmarks: true,
      sendInitialEvents: true,
      resourceVersionMatch: 'NotOlderThan',
      timeoutSeconds: 30,
    },
    ac.signal,
  )) {
    seen.push(ev);
    if (ev.type === 'BOOKMARK') break;
  }
  assert.deepEqual(
    seen.map((e) => e.type),
    ['ADDED', 'BOOKMARK'],
  );
  const bookmark = seen[1];
  assert.ok(bookmark?.type === 'BOOKMARK');
  assert.equal(bookmark.object.metadata?.annotations?.['k8s.io/initial-events-end'], 'true');

  const informer = createInformer(
    client.source<ConfigMap>(configmaps, { namespace: ns, labelSelector: 'suite=watch' }),
  );
  const run = informer.run(ac.signal);
  await informer.reader.ready;
  assert.equal(informer.reader.size, 1);
  assert.equal(informer.reader.list()[0]?.metadata?.managedFields, undefined, 'managedFields stripped');
  const key = objectKey(ns, 'watched-1');
  const changes: string[] = [];
  const settled = new Promise<void>((resolve) =>
    informer.reader.subscribe((c) => {
      if (c.key !== key) return;
      changes.push(c.type);
      if (c.type === 'delete') resolve();
    }),
  );
  await client.create(configmaps, cm('watched-1', { v: '1' }, { suite: 'watch' }));
  await client.patch(
    configmaps,
    { namespace: ns, name: 'watched-1' },
    { type: 'merge', patch: { data: { v: '2' } } },
  );
  await client.delete(configmaps, { namespace: ns, name: 'watched-1' });
  await settled;
  assert.deepEqual(changes.slice(-1), ['delete']);
  assert.ok(changes.filter((c) => c === 'apply').length >= 1);
  assert.equal(informer.reader.get(key), undefined);
  ac.abort();
  await run;
});

test('leader election: two candidates, one leader, release hands over', async () => {
  const timings = { leaseDurationMs: 4_000, renewDeadlineMs: 3_000, retryPeriodMs: 500 };
  const lock = leaseClient(client);
  const leaders = new Set<string>();
  const started: string[] = [];
  const candidate = (identity: string, signal: AbortSignal) =>
    runLeaderElection(
      {
        ...timings,
        lock,
        namespace: ns,
        name: 'it-leader',
        identity,
        onStartedLeading: (s) => {
          assert.equal(leaders.size, 0, 'two leaders at once');
          leaders.add(identity);
          started.push(identity);
          s.addEventListener('abort', () => leaders.delete(identity));
        },
      },
      signal,
    );
  const stopA = new AbortController();
  const stopB = new AbortController();
  const a = candidate('a', stopA.signal);
  while (started.length === 0) await new Promise((r) => setTimeout(r, 50));
  const b = candidate('b', stopB.signal);
  await new Promise((r) => setTimeout(r, 1_500));
  assert.deepEqual(started, ['a']);
  stopA.abort();
  assert.equal(await a, 'released');
  while (started.length < 2) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(started, ['a', 'b']);
  const lease = await client.get<Lease>(LEASES, { namespace: ns, name: 'it-leader' });
  assert.equal(lease.spec?.holderIdentity, 'b');
  assert.equal(lease.spec?.leaseTransitions, 1);
  assert.match(lease.spec?.renewTime ?? '', /\.\d{6}Z$/);
  stopB.abort();
  assert.equal(await b, 'released');
});
