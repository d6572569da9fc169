// The execution controller against real clusters: Works created by hand on the hub are applied
// to a member through the real push-mode member registry (a Cluster + kubeconfig Secret with a
// unique name per run), with conflicts, member rejections, drift reverted (Events + metric),
// deleted objects re-created, a controller restart that neither duplicates nor misfires, and
// cleanup that never deletes what Meridian did not create.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { API_VERSION, Kinds, clusterNamespace, type Work } from '../../src/api/index.ts';
import { ensureNamespace, installCrds } from '../../src/controllers/bootstrap/install-crds.ts';
import type { ControllerContext } from '../../src/controllers/context.ts';
import { DRIFT_METRIC, WORKS, startExecutionController } from '../../src/controllers/execution/index.ts';
import { CLUSTERS, SECRETS, createMemberRegistry } from '../../src/controllers/members/registry.ts';
import { ApiClient, type ResourceType } from '../../src/kube/api-client.ts';
import { NotFoundError } from '../../src/kube/errors.ts';
import { InformerFactory } from '../../src/kube/informer-factory.ts';
import { EVENTS, createRecorder } from '../../src/kube/recorder.ts';
import { createInformer } from '../../src/kube/store.ts';
import type { KubeObject } from '../../src/kube/wire.ts';
import { useEnvironment, uniqueName } from '../support/environment.ts';
import { BuiltinTypes } from '../support/builtin-types.ts';
import { testLogger } from '../support/log.ts';

const env = useEnvironment();
const TIMEOUT = 120_000;

const DEPLOYMENTS = BuiltinTypes.Deployment;
const CONFIGMAPS = BuiltinTypes.ConfigMap;
const NAMESPACES = BuiltinTypes.Namespace;

const log = testLogger('execution-test');

async function client(kubeconfig: string): Promise<ApiClient> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return ApiClient.fromKubeConfig(kc);
}

/**
 * Watches `rt` in `scope` until `check` over the current objects returns a value; fails after
 * `timeoutMs` showing the last objects seen. Event-driven (an informer), never sleeps.
 */
async function until<K extends KubeObject, T>(
  c: ApiClient,
  rt: ResourceType,
  scope: { namespace?: string; name?: string },
  check: (items: K[]) => T | undefined,
  what: string,
  timeoutMs = TIMEOUT,
): Promise<T> {
  const abort = new AbortController();
  const informer = createInformer<K>(
    c.source<K>(rt, {
      ...(scope.namespace === undefined ? {} : { namespace: scope.namespace }),
      ...(scope.name === undefined ? {} : { fieldSelector: `metadata.name=${scope.name}` }),
    }),
  );
  let last: K[] = [];
  try {
    return await new Promise<T>((resolve, reject) => {
      const evaluate = (): void => {
        if (!informer.reader.isReady()) return;
        last = informer.reader.list();
        let got: T | undefined;
        try {
          got = check(last);
        } catch (err) {
          reject(err as Error);
          return;
        }
        if (got !== undefined) resolve(got);
      };
      informer.reader.subscribe(evaluate, abort.signal);
      void informer.reader.ready.then(evaluate);
      const timer = setTimeout(
        () =>
          reject(
            new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(last).slice(0, 4000)}`),
          ),
        timeoutMs,
      );
      abort.signal.addEventListener('abort', () => clearTimeout(timer));
      informer.run(abort.signal).catch((err: unknown) => {
        if (!abort.signal.aborted) reject(err as Error);
      });
    });
  } finally {
    abort.abort();
  }
}

const one =
  <K extends KubeObject>(pred: (o: K) => boolean) =>
  (items: K[]): K | undefined =>
    items.find(pred);
const gone = (items: KubeObject[]): true | undefined => (items.length === 0 ? true : undefined);

type Cond = { type: string; status: string; reason: string; message: string };
const cond = (w: Work, type: string): Cond | undefined => w.status?.conditions?.find((c) => c.type === type);

interface Stack {
  readonly metrics: Registry;
  stop(): Promise<void>;
}

let hub: ApiClient;
let member: ApiClient;
let memberName: string;
let cluster: string;
let workNs: string;
let stack: Stack;
const memberNamespaces: string[] = [];
const hubNamespaces: string[] = [];

/** A ControllerContext over the hub with the real push-mode registry, running the execution controller. */
function startStack(): Stack {
  const abort = new AbortController();
  const informers = new InformerFactory(hub, abort.signal, log);
  const members = createMemberRegistry({ informers, log, signal: abort.signal });
  const metrics = new Registry();
  const ctx: ControllerContext = {
    hub,
    informers,
    members,
    recorder: createRecorder(hub, 'meridian-execution', `test-${randomBytes(2).toString('hex')}`, log),
    log,
    metrics,
    signal: abort.signal,
  };
  const done = startExecutionController(ctx);
  done.catch((err: unknown) => process.stderr.write(`execution controller failed: ${String(err)}\n`));
  return {
    metrics,
    async stop() {
      abort.abort();
      await done.catch(() => {});
    },
  };
}

async function memberNamespace(prefix: string): Promise<string> {
  const ns = uniqueName(prefix);
  memberNamespaces.push(ns);
  return ns;
}

function deployment(namespace: string, name: string, replicas: number, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels: { app: name } },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'web', image: 'nginx:1.27', resources: { requests: { cpu: '10m' } } }] },
      },
      ...extra,
    },
  };
}

function configMap(
  namespace: string,
  name: string,
  data: Record<string, string>,
  annotations?: Record<string, string>,
) {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace, ...(annotations === undefined ? {} : { annotations }) },
    data,
  };
}

async function createWork(
  name: string,
  manifests: readonly object[],
  spec: Record<string, unknown> = {},
): Promise<void> {
  await hub.create(WORKS, {
    apiVersion: API_VERSION,
    kind: Kinds.Work,
    metadata: { name, namespace: workNs },
    spec: { workload: { manifests }, ...spec },
  } as KubeObject);
}

function waitWork(name: string, pred: (w: Work) => boolean, what: string): Promise<Work> {
  return until<Work, Work>(hub, WORKS, { namespace: workNs, name }, one(pred), `Work ${name}: ${what}`);
}

async function driftEvents(
  regardingKind: string,
  regardingName: string,
  namespace: string,
): Promise<KubeObject[]> {
  const list = await hub.list(EVENTS, { namespace });
  return list.items.filter((e) => {
    const ev = e as { reason?: string; regarding?: { kind?: string; name?: string } };
    return (
      ev.reason === 'DriftReverted' &&
      ev.regarding?.kind === regardingKind &&
      ev.regarding.name === regardingName
    );
  });
}

async function driftMetric(metrics: Registry, kind: string): Promise<number> {
  const m = metrics.getSingleMetric(DRIFT_METRIC);
  if (m === undefined) return 0;
  const values = (await m.get()).values;
  return values
    .filter((v) => v.labels['cluster'] === cluster && v.labels['kind'] === kind)
    .reduce((a, v) => a + v.value, 0);
}

before(async () => {
  const e = env.get();
  const target = e.members[0]!;
  memberName = target.name;
  hub = await client(e.hub.kubeconfig);
  member = await client(target.kubeconfig);
  await installCrds(hub, AbortSignal.timeout(TIMEOUT));
  cluster = `exec-${randomBytes(3).toString('hex')}`;
  workNs = clusterNamespace(cluster);
  await ensureNamespace(hub, workNs);
  await hub.create(SECRETS, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'member-kubeconfig', namespace: workNs },
    data: { kubeconfig: readFileSync(target.kubeconfig).toString('base64') },
  } as KubeObject);
  await hub.create(CLUSTERS, {
    apiVersion: API_VERSION,
    kind: Kinds.Cluster,
    metadata: { name: cluster },
    spec: {
      syncMode: 'Push',
      apiEndpoint: target.server,
      secretRef: { namespace: workNs, name: 'member-kubeconfig' },
    },
  } as KubeObject);
  stack = startStack();
});

after(async () => {
  await stack?.stop();
  if (hub === undefined) return;
  // Works still holding our finalizer would block their namespace's deletion.
  const left = await hub.list(WORKS, { namespace: workNs }).catch(() => ({ items: [] as KubeObject[] }));
  for (const w of left.items) {
    await hub
      .patch(
        WORKS,
        { namespace: workNs, name: w.metadata!.name! },
        { type: 'merge', patch: { metadata: { finalizers: null } } },
      )
      .catch(() => {});
  }
  await hub.delete(CLUSTERS, { name: cluster }).catch(() => {});
  for (const ns of [workNs, ...hubNamespaces]) await hub.delete(NAMESPACES, { name: ns }).catch(() => {});
  for (const ns of memberNamespaces) await member.delete(NAMESPACES, { name: ns }).catch(() => {});
  await hub.close();
  await member.close();
});

describe('execution controller (push mode)', { concurrency: false }, () => {
  let appNs: string;
  const web = 'web-work';

  test('a Deployment in a Work is applied to the member, becomes ready, and its status flows back', async () => {
    appNs = await memberNamespace('exec-app');
    // The hub template, so drift events can name it.
    await ensureNamespace(hub, appNs);
    hubNamespaces.push(appNs);
    await hub.create(DEPLOYMENTS, deployment(appNs, 'web', 2));
    await createWork(web, [deployment(appNs, 'web', 2), configMap(appNs, 'web-config', { mode: 'prod' })]);

    const work = await waitWork(
      web,
      (w) =>
        cond(w, 'Applied')?.status === 'True' &&
        cond(w, 'Available')?.status === 'True' &&
        (w.status?.manifestStatuses?.[0]?.status as { readyReplicas?: number } | undefined)?.readyReplicas ===
          2,
      'Applied=True, Available=True, readyReplicas=2',
    );
    assert.ok(work.metadata.finalizers?.includes('meridian.dev/work-cleanup'));
    const ms = work.status!.manifestStatuses!;
    assert.equal(ms.length, 2);
    assert.deepEqual(
      ms.map((m) => [m.identifier.kind, m.identifier.name, m.applied, m.health]),
      [
        ['Deployment', 'web', true, 'Healthy'],
        ['ConfigMap', 'web-config', true, 'Healthy'],
      ],
    );
    assert.equal(ms[0]!.observedGeneration, work.metadata.generation);

    const d = await member.get(DEPLOYMENTS, { namespace: appNs, name: 'web' });
    assert.deepEqual(
      {
        managedBy: d.metadata?.labels?.['app.kubernetes.io/managed-by'],
        ns: d.metadata?.labels?.['meridian.dev/work-namespace'],
        name: d.metadata?.labels?.['meridian.dev/work-name'],
        app: d.metadata?.labels?.['app'],
      },
      { managedBy: 'meridian', ns: workNs, name: web, app: 'web' },
    );
    assert.equal(ms[0]!.appliedGeneration, d.metadata?.generation);
    const ns = await member.get(NAMESPACES, { name: appNs });
    assert.equal(ns.metadata?.labels?.['app.kubernetes.io/managed-by'], 'meridian');
  });

  test("an object that exists in the member and is not Meridian's is a Conflict, until Overwrite takes it over", async () => {
    const ns = await memberNamespace('exec-conflict');
    await env.get().kubectl(memberName, ['create', 'namespace', ns]);
    await env
      .get()
      .kubectl(memberName, ['create', 'configmap', 'pre', '-n', ns, '--from-literal=owner=human']);
    await createWork('conflict-work', [configMap(ns, 'pre', { owner: 'meridian' })]);

    const work = await waitWork(
      'conflict-work',
      (w) => cond(w, 'Applied')?.reason === 'Conflict',
      'Applied=False reason Conflict',
    );
    const c = cond(work, 'Applied')!;
    assert.equal(c.status, 'False');
    assert.match(
      c.message,
      new RegExp(`ConfigMap ${ns}/pre already exists in cluster ${cluster} and was not created by Meridian`),
    );
    assert.match(c.message, /conflictResolution: Overwrite/);
    assert.equal(work.status?.manifestStatuses?.[0]?.applied, false);
    const untouched = (await member.get(CONFIGMAPS, { namespace: ns, name: 'pre' })) as KubeObject & {
      data?: Record<string, string>;
    };
    assert.equal(untouched.data?.['owner'], 'human');
    assert.equal(untouched.metadata?.labels?.['app.kubernetes.io/managed-by'], undefined);

    await hub.patch(
      WORKS,
      { namespace: workNs, name: 'conflict-work' },
      { type: 'merge', patch: { spec: { conflictResolution: 'Overwrite' } } },
    );
    await waitWork(
      'conflict-work',
      (w) => cond(w, 'Applied')?.status === 'True',
      'Applied=True after Overwrite',
    );
    const taken = await until(
      member,
      CONFIGMAPS,
      { namespace: ns, name: 'pre' },
      one((o: KubeObject & { data?: Record<string, string> }) => o.data?.['owner'] === 'meridian'),
      'ConfigMap pre taken over',
    );
    assert.equal(taken.metadata?.labels?.['meridian.dev/work-name'], 'conflict-work');
    assert.equal(taken.metadata?.uid, untouched.metadata?.uid, 'taken over in place, not re-created');
  });

  test("a manifest the member rejects ⇒ Applied=False with the member's own message", async () => {
    const ns = await memberNamespace('exec-invalid');
    await createWork('invalid-work', [deployment(ns, 'bad', -1)]);
    const work = await waitWork(
      'invalid-work',
      (w) => cond(w, 'Applied')?.reason === 'ApplyFailed',
      'Applied=False reason ApplyFailed',
    );
    const c = cond(work, 'Applied')!;
    assert.equal(c.status, 'False');
    assert.match(c.message, new RegExp(`cluster ${cluster} rejected Deployment ${ns}/bad`));
    assert.match(c.message, /spec\.replicas: Invalid value: -1: must be greater than or equal to 0/);
    await assert.rejects(member.get(DEPLOYMENTS, { namespace: ns, name: 'bad' }), NotFoundError);
  });

  test('drift: a scaled Deployment is scaled back, with Events on the Work and the hub template and a metric', async () => {
    const before = await member.get(DEPLOYMENTS, { namespace: appNs, name: 'web' });
    await env.get().kubectl(memberName, ['scale', 'deployment/web', '-n', appNs, '--replicas=5']);
    const reverted = await until(
      member,
      DEPLOYMENTS,
      { namespace: appNs, name: 'web' },
      one(
        (o: KubeObject & { spec?: { replicas?: number } }) =>
          o.spec?.replicas === 2 && (o.metadata?.generation ?? 0) >= (before.metadata?.generation ?? 0) + 2,
      ),
      'replicas reverted to 2',
    );
    assert.equal(reverted.metadata?.uid, before.metadata?.uid);
    await until(
      hub,
      EVENTS,
      { namespace: workNs },
      (items) =>
        items.find((e) => {
          const ev = e as { reason?: string; regarding?: { name?: string }; note?: string; type?: string };
          return (
            ev.reason === 'DriftReverted' &&
            ev.regarding?.name === web &&
            ev.type === 'Warning' &&
            ev.note?.includes(`cluster ${cluster}`)
          );
        }),
      'a DriftReverted Event on the Work',
    );
    const onTemplate = await until(
      hub,
      EVENTS,
      { namespace: appNs },
      (items) =>
        items.find((e) => {
          const ev = e as { reason?: string; regarding?: { kind?: string; name?: string; uid?: string } };
          return (
            ev.reason === 'DriftReverted' &&
            ev.regarding?.kind === 'Deployment' &&
            ev.regarding.name === 'web'
          );
        }),
      'a DriftReverted Event on the hub template',
    );
    const template = await hub.get(DEPLOYMENTS, { namespace: appNs, name: 'web' });
    assert.equal((onTemplate as { regarding?: { uid?: string } }).regarding?.uid, template.metadata?.uid);
    assert.ok(
      (await driftMetric(stack.metrics, 'Deployment')) >= 1,
      `${DRIFT_METRIC}{kind=Deployment} incremented`,
    );
  });

  test("drift: a removed Meridian label is restored (the object is not mistaken for someone else's)", async () => {
    await env
      .get()
      .kubectl(memberName, ['label', 'configmap/web-config', '-n', appNs, 'meridian.dev/work-name-']);
    const restored = await until(
      member,
      CONFIGMAPS,
      { namespace: appNs, name: 'web-config' },
      one((o: KubeObject) => o.metadata?.labels?.['meridian.dev/work-name'] === web),
      'work-name label restored',
    );
    assert.ok(restored);
    const w = await waitWork(web, (x) => cond(x, 'Applied')?.status === 'True', 'still Applied');
    assert.notEqual(cond(w, 'Applied')?.reason, 'Conflict');
  });

  test('drift: a deleted member object is re-created', async () => {
    const old = await member.get(CONFIGMAPS, { namespace: appNs, name: 'web-config' });
    await env.get().kubectl(memberName, ['delete', 'configmap', 'web-config', '-n', appNs]);
    const recreated = await until(
      member,
      CONFIGMAPS,
      { namespace: appNs, name: 'web-config' },
      one((o: KubeObject) => o.metadata?.uid !== old.metadata?.uid),
      'ConfigMap re-created',
    );
    assert.equal((recreated as { data?: Record<string, string> }).data?.['mode'], 'prod');
    await until(
      hub,
      EVENTS,
      { namespace: workNs },
      (items) =>
        items.find((e) =>
          (e as { note?: string }).note?.includes(`ConfigMap ${appNs}/web-config was deleted`),
        ),
      'a DriftReverted Event for the re-creation',
    );
    assert.ok((await driftMetric(stack.metrics, 'ConfigMap')) >= 1);
  });

  test('restart mid-way: nothing duplicated, unfinished work finished, no spurious drift events', async () => {
    const ns = await memberNamespace('exec-restart');
    const deployBefore = await member.get(DEPLOYMENTS, { namespace: appNs, name: 'web' });
    const eventsBefore = (await driftEvents('Work', web, workNs)).length;

    // Stop the controller right after handing it a new Work: it may be half-way through.
    await createWork('restart-work', [
      configMap(ns, 'a', { n: '1' }),
      configMap(ns, 'b', { n: '2' }),
      deployment(ns, 'r', 1),
    ]);
    await stack.stop();
    stack = startStack();

    await waitWork(
      'restart-work',
      (w) => cond(w, 'Applied')?.status === 'True' && cond(w, 'Available')?.status === 'True',
      'Applied and Available after restart',
    );
    // Make sure the new controller has reconciled the older Work too: change its spec and wait for it.
    const manifests = [
      deployment(appNs, 'web', 2),
      configMap(appNs, 'web-config', { mode: 'prod', restarted: 'yes' }),
    ];
    await hub.patch(
      WORKS,
      { namespace: workNs, name: web },
      { type: 'merge', patch: { spec: { workload: { manifests } } } },
    );
    const w = await waitWork(
      web,
      (x) =>
        (x.status?.manifestStatuses?.[1]?.observedGeneration ?? 0) === x.metadata.generation &&
        cond(x, 'Applied')?.status === 'True',
      'the new spec applied by the restarted controller',
    );
    assert.equal(w.status?.manifestStatuses?.[0]?.observedGeneration, w.metadata.generation);

    const deployAfter = await member.get(DEPLOYMENTS, { namespace: appNs, name: 'web' });
    assert.equal(deployAfter.metadata?.uid, deployBefore.metadata?.uid, 'not re-created');
    assert.equal(
      deployAfter.metadata?.generation,
      deployBefore.metadata?.generation,
      'its spec was not re-applied with changes',
    );
    const inNs = await member.list(CONFIGMAPS, {
      namespace: ns,
      labelSelector: 'meridian.dev/work-name=restart-work',
    });
    assert.deepEqual(inNs.items.map((o) => o.metadata?.name).sort(), ['a', 'b']);
    const deps = await member.list(DEPLOYMENTS, { namespace: ns });
    assert.equal(deps.items.length, 1);
    assert.equal(
      (await driftEvents('Work', web, workNs)).length,
      eventsBefore,
      'no DriftReverted event after restart',
    );
    assert.equal(await driftMetric(stack.metrics, 'Deployment'), 0);
    assert.equal(await driftMetric(stack.metrics, 'ConfigMap'), 0);
  });

  test('deleting a Work removes what it applied, and never what Meridian did not create', async () => {
    const ns = await memberNamespace('exec-delete');
    await env.get().kubectl(memberName, ['create', 'namespace', ns]);
    await env
      .get()
      .kubectl(memberName, ['create', 'configmap', 'keep', '-n', ns, '--from-literal=owner=human']);
    await createWork('delete-work', [
      configMap(ns, 'keep', { owner: 'meridian' }),
      configMap(ns, 'mine', { owner: 'meridian' }),
    ]);
    await waitWork(
      'delete-work',
      (w) => cond(w, 'Applied')?.reason === 'Conflict' && w.status?.manifestStatuses?.[1]?.applied === true,
      'keep in conflict, mine applied',
    );

    for (const name of ['delete-work', web]) await hub.delete(WORKS, { namespace: workNs, name });
    for (const name of ['delete-work', web])
      await until(hub, WORKS, { namespace: workNs, name }, gone, `Work ${name} gone`);

    await until(member, CONFIGMAPS, { namespace: ns, name: 'mine' }, gone, 'mine deleted from the member');
    await until(member, DEPLOYMENTS, { namespace: appNs, name: 'web' }, gone, 'web deleted from the member');
    await until(
      member,
      CONFIGMAPS,
      { namespace: appNs, name: 'web-config' },
      gone,
      'web-config deleted from the member',
    );
    const keep = (await member.get(CONFIGMAPS, { namespace: ns, name: 'keep' })) as KubeObject & {
      data?: Record<string, string>;
    };
    assert.equal(keep.data?.['owner'], 'human');
    // Namespaces are never deleted.
    await member.get(NAMESPACES, { name: appNs });
  });

  test('preserveResourcesOnDeletion leaves the objects in the member', async () => {
    const ns = await memberNamespace('exec-preserve');
    await createWork('preserve-work', [configMap(ns, 'stays', { a: 'b' })], {
      preserveResourcesOnDeletion: true,
    });
    await waitWork('preserve-work', (w) => cond(w, 'Applied')?.status === 'True', 'Applied');
    await hub.delete(WORKS, { namespace: workNs, name: 'preserve-work' });
    await until(hub, WORKS, { namespace: workNs, name: 'preserve-work' }, gone, 'Work gone');
    await member.get(CONFIGMAPS, { namespace: ns, name: 'stays' });
  });

  test('a Work of a cluster that left the fleet is released without touching the member', async () => {
    const ns = await memberNamespace('exec-left');
    await createWork('left-work', [configMap(ns, 'orphan', { a: 'b' })]);
    await waitWork('left-work', (w) => cond(w, 'Applied')?.status === 'True', 'Applied');
    await hub.delete(CLUSTERS, { name: cluster });
    await until(hub, CLUSTERS, { name: cluster }, gone, 'Cluster gone');
    await hub.delete(WORKS, { namespace: workNs, name: 'left-work' });
    await until(hub, WORKS, { namespace: workNs, name: 'left-work' }, gone, 'Work released');
    await member.get(CONFIGMAPS, { namespace: ns, name: 'orphan' });
  });
});
