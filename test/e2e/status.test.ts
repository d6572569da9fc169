// The status controller on the real hub: it runs in process against the hub kube-apiserver,
// while this test plays the other controllers' parts by hand — it creates a hub template, its
// ResourceBinding (with the scheduler's status written under the scheduler's field manager)
// and one Work per target cluster whose status it sets as the execution controller would.
// Everything is waited for on watches (informer stores), never by sleeping.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { API_VERSION, clusterNamespace, Labels, type ResourceBinding } from '../../src/api/index.ts';
import { installCrds, NAMESPACES } from '../../src/controllers/bootstrap/install-crds.ts';
import type { ControllerContext, MemberRegistry } from '../../src/controllers/context.ts';
import { HubFieldManagers, Resources } from '../../src/controllers/resources.ts';
import { startStatusController } from '../../src/controllers/status/controller.ts';
import { ApiClient } from '../../src/kube/api-client.ts';
import { InformerFactory } from '../../src/kube/informer-factory.ts';
import { objectKey } from '../../src/kube/object-key.ts';
import { createRecorder } from '../../src/kube/recorder.ts';
import type { StoreReader } from '../../src/kube/store.ts';
import type { KubeObject } from '../../src/kube/wire.ts';
import { useEnvironment } from '../support/environment.ts';
import { BuiltinTypes } from '../support/builtin-types.ts';
import { testLogger } from '../support/log.ts';

const env = useEnvironment();
const run = randomBytes(3).toString('hex');
const WAIT_MS = 90_000;

const DEPLOYMENTS = BuiltinTypes.Deployment;
const JOBS = BuiltinTypes.Job;
const EXECUTION_MANAGER = 'meridian-execution-test';

const log = testLogger('status-test');

type Status = Record<string, unknown>;
type WithStatus = KubeObject & { status?: Status };

/** Resolves with the object once `predicate` holds for it, re-checked on every change of it. */
function waitFor<K extends KubeObject>(
  store: StoreReader<K>,
  namespace: string | undefined,
  name: string,
  what: string,
  predicate: (obj: K) => boolean,
): Promise<K> {
  const key = objectKey(namespace, name);
  return new Promise((resolve, reject) => {
    const done = new AbortController();
    const check = (): void => {
      const obj = store.get(key);
      let ok: boolean;
      try {
        ok = store.isReady() && obj !== undefined && predicate(obj);
      } catch {
        ok = false;
      }
      if (!ok) return;
      done.abort();
      clearTimeout(timer);
      resolve(obj!);
    };
    const timer = setTimeout(() => {
      done.abort();
      const last = (store.get(key) as WithStatus | undefined)?.status ?? null;
      reject(new Error(`timed out waiting for ${key}: ${what}; last status: ${JSON.stringify(last)}`));
    }, WAIT_MS);
    store.subscribe((c) => {
      if (c.key === key) check();
    }, done.signal);
    void store.ready.then(check);
  });
}

const condition = (obj: { status?: { conditions?: unknown } } | undefined, type: string) =>
  (
    obj?.status?.conditions as { type: string; status: string; reason: string; message: string }[] | undefined
  )?.find((c) => c.type === type);

const members: MemberRegistry = { get: () => undefined, names: () => [], subscribe: () => () => {} };

describe('status controller', () => {
  const abort = new AbortController();
  let hub: ApiClient;
  let ctx: ControllerContext;
  let running: Promise<void>;
  const ns = `status-${run}`;
  const clusters = [`st-${run}-a`, `st-${run}-b`] as const;
  const namespaces = [ns, ...clusters.map(clusterNamespace)];

  before(async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(env.get().hub.kubeconfig);
    hub = await ApiClient.fromKubeConfig(kc);
    await installCrds(hub, abort.signal);
    for (const name of namespaces) {
      await hub.create(NAMESPACES, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    }
    ctx = {
      hub,
      informers: new InformerFactory(hub, abort.signal, log),
      members,
      recorder: createRecorder(hub, 'meridian-status', 'status-test', log),
      log,
      metrics: new Registry(),
      signal: abort.signal,
    };
    running = startStatusController(ctx);
  });

  after(async () => {
    abort.abort();
    await running;
    for (const name of namespaces) await hub.delete(NAMESPACES, { name }).catch(() => {});
    await hub.close();
  });

  /** The binding the detector and scheduler would have made, with the scheduler's status. */
  async function binding(template: KubeObject, name: string): Promise<void> {
    await hub.create(Resources.ResourceBinding, {
      apiVersion: API_VERSION,
      kind: 'ResourceBinding',
      metadata: { name, namespace: ns },
      spec: {
        resource: {
          apiVersion: template.apiVersion,
          kind: template.kind,
          namespace: ns,
          name: template.metadata?.name,
          uid: template.metadata?.uid,
        },
        clusters: clusters.map((c, i) => ({ name: c, replicas: i + 2 })),
      },
    } as KubeObject);
    await hub.applyStatus(
      Resources.ResourceBinding,
      {
        apiVersion: API_VERSION,
        kind: 'ResourceBinding',
        metadata: { name, namespace: ns },
        status: {
          conditions: [
            {
              type: 'Scheduled',
              status: 'True',
              reason: 'Success',
              message: '2 cluster(s) selected',
              lastTransitionTime: '2030-01-01T00:00:00Z',
            },
          ],
          schedulerObservedGeneration: 1,
        },
      } as KubeObject,
      { fieldManager: HubFieldManagers.scheduler, force: true },
    );
  }

  /** The Work the binding controller would have made for `cluster`. */
  async function work(bindingName: string, cluster: string, manifest: KubeObject): Promise<void> {
    await hub.create(Resources.Work, {
      apiVersion: API_VERSION,
      kind: 'Work',
      metadata: {
        name: `rb.${ns}.${bindingName}`,
        namespace: clusterNamespace(cluster),
        labels: {
          [Labels.bindingNamespace]: ns,
          [Labels.bindingName]: bindingName,
          [Labels.cluster]: cluster,
        },
      },
      spec: { workload: { manifests: [manifest] } },
    } as KubeObject);
  }

  /** Sets a Work's status as the execution controller would. */
  async function report(
    bindingName: string,
    cluster: string,
    kind: { group: string; kind: string },
    member: { applied: boolean; message?: string; status: Status; health: 'Healthy' | 'Unhealthy' },
  ): Promise<void> {
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    await hub.applyStatus(
      Resources.Work,
      {
        apiVersion: API_VERSION,
        kind: 'Work',
        metadata: { name: `rb.${ns}.${bindingName}`, namespace: clusterNamespace(cluster) },
        status: {
          conditions: [
            {
              type: 'Applied',
              status: member.applied ? 'True' : 'False',
              reason: member.applied ? 'AppliedSuccessful' : 'AppliedFailed',
              message: member.message ?? 'manifest applied',
              lastTransitionTime: now,
            },
          ],
          manifestStatuses: [
            {
              identifier: {
                ordinal: 0,
                group: kind.group,
                version: 'v1',
                kind: kind.kind,
                namespace: ns,
                name: 'web',
              },
              status: member.status,
              health: member.health,
              applied: member.applied,
              ...(member.message !== undefined && { message: member.message }),
              appliedGeneration: 1,
              observedGeneration: 1,
            },
          ],
        },
      } as KubeObject,
      { fieldManager: EXECUTION_MANAGER, force: true },
    );
  }

  const deploymentStatus = (ready: number, replicas: number): Status => ({
    observedGeneration: 1,
    replicas,
    updatedReplicas: replicas,
    readyReplicas: ready,
    availableReplicas: ready,
    ...(ready < replicas && { unavailableReplicas: replicas - ready }),
    conditions: [
      { type: 'Available', status: ready > 0 ? 'True' : 'False', reason: 'MinimumReplicasAvailable' },
      { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' },
    ],
  });

  test('Deployment: per-cluster status in the binding, summed status on the hub object, event-driven', async () => {
    const bindings = ctx.informers.informer<ResourceBinding>(Resources.ResourceBinding);
    const deployments = ctx.informers.informer<WithStatus>(DEPLOYMENTS);
    const manifest = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: ns },
      spec: {
        replicas: 5,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] },
        },
      },
    };
    const template = await hub.create(DEPLOYMENTS, manifest);
    await binding(template, 'web-deployment');
    for (const c of clusters) await work('web-deployment', c, manifest);
    await report(
      'web-deployment',
      clusters[0],
      { group: 'apps', kind: 'Deployment' },
      {
        applied: true,
        status: deploymentStatus(2, 2),
        health: 'Healthy',
      },
    );
    await report(
      'web-deployment',
      clusters[1],
      { group: 'apps', kind: 'Deployment' },
      {
        applied: true,
        status: deploymentStatus(3, 3),
        health: 'Healthy',
      },
    );

    // The binding lists both clusters, in spec.clusters order, with what each reported.
    const b = await waitFor(
      bindings,
      ns,
      'web-deployment',
      'FullyApplied=True with both clusters',
      (o) => condition(o, 'FullyApplied')?.status === 'True' && o.status?.aggregatedStatus?.length === 2,
    );
    assert.deepEqual(
      b.status!.aggregatedStatus!.map((i) => [
        i.clusterName,
        i.applied,
        i.health,
        i.status?.['readyReplicas'],
      ]),
      [
        [clusters[0], true, 'Healthy', 2],
        [clusters[1], true, 'Healthy', 3],
      ],
    );
    // The scheduler's condition and fields, written by another manager, are untouched.
    assert.equal(condition(b, 'Scheduled')?.message, '2 cluster(s) selected');
    assert.equal(b.status!.schedulerObservedGeneration, 1);

    // The hub Deployment's status is the sum, with the template's generation observed.
    const d = await waitFor(
      deployments,
      ns,
      'web',
      'readyReplicas == 5',
      (o) => o.status?.['readyReplicas'] === 5,
    );
    assert.equal(d.status!['replicas'], 5);
    assert.equal(d.status!['availableReplicas'], 5);
    assert.equal(d.status!['updatedReplicas'], 5);
    assert.equal(d.status!['observedGeneration'], d.metadata!.generation);
    assert.equal(condition(d, 'Available')?.status, 'True');

    // One member's change flows through to the sum.
    await report(
      'web-deployment',
      clusters[1],
      { group: 'apps', kind: 'Deployment' },
      {
        applied: true,
        status: deploymentStatus(1, 3),
        health: 'Unhealthy',
      },
    );
    const d2 = await waitFor(
      deployments,
      ns,
      'web',
      'readyReplicas == 3',
      (o) => o.status?.['readyReplicas'] === 3,
    );
    assert.equal(d2.status!['unavailableReplicas'], 2);
    await waitFor(
      bindings,
      ns,
      'web-deployment',
      'cluster b Unhealthy',
      (o) => o.status?.aggregatedStatus?.[1]?.health === 'Unhealthy',
    );

    // Writes happen only on change: an event that changes nothing the status depends on (a
    // label on a Work) writes nothing, so a later real change is exactly one write to each.
    let bindingWrites = 0;
    let deploymentWrites = 0;
    const counting = new AbortController();
    bindings.subscribe((c) => {
      if (c.key === objectKey(ns, 'web-deployment')) bindingWrites++;
    }, counting.signal);
    deployments.subscribe((c) => {
      if (c.key === objectKey(ns, 'web')) deploymentWrites++;
    }, counting.signal);
    await hub.patch(
      Resources.Work,
      { namespace: clusterNamespace(clusters[0]), name: `rb.${ns}.web-deployment` },
      { type: 'merge', patch: { metadata: { labels: { 'example.com/touched': 'yes' } } } },
    );
    await report(
      'web-deployment',
      clusters[1],
      { group: 'apps', kind: 'Deployment' },
      {
        applied: true,
        status: deploymentStatus(2, 3),
        health: 'Unhealthy',
      },
    );
    await waitFor(deployments, ns, 'web', 'readyReplicas == 4', (o) => o.status?.['readyReplicas'] === 4);
    await waitFor(
      bindings,
      ns,
      'web-deployment',
      'cluster b readyReplicas 2',
      (o) => o.status?.aggregatedStatus?.[1]?.status?.['readyReplicas'] === 2,
    );
    counting.abort();
    assert.equal(bindingWrites, 1, 'one binding status write for one change');
    assert.equal(deploymentWrites, 1, 'one template status write for one change');

    // A cluster that could not apply makes FullyApplied False, naming it and why.
    await report(
      'web-deployment',
      clusters[0],
      { group: 'apps', kind: 'Deployment' },
      {
        applied: false,
        message: 'admission webhook "deny.example" denied the request',
        status: deploymentStatus(2, 2),
        health: 'Healthy',
      },
    );
    const failed = await waitFor(
      bindings,
      ns,
      'web-deployment',
      'FullyApplied=False',
      (o) => condition(o, 'FullyApplied')?.status === 'False',
    );
    const fa = condition(failed, 'FullyApplied')!;
    assert.match(fa.message, new RegExp(clusters[0]));
    assert.doesNotMatch(fa.message, new RegExp(clusters[1]));
    assert.match(fa.message, /deny\.example/);
    assert.equal(failed.status!.aggregatedStatus![0]!.applied, false);
    assert.equal(condition(failed, 'Scheduled')?.status, 'True');

    // Both managers own their own fields: a later scheduler write keeps ours, and vice versa.
    const full = await hub.get<
      ResourceBinding & { metadata: { managedFields?: { manager: string; subresource?: string }[] } }
    >(Resources.ResourceBinding, { namespace: ns, name: 'web-deployment' });
    const managers = (full.metadata.managedFields ?? [])
      .filter((m) => m.subresource === 'status')
      .map((m) => m.manager);
    assert.ok(managers.includes(HubFieldManagers.status), `managers: ${managers.join(', ')}`);
    assert.ok(managers.includes(HubFieldManagers.scheduler), `managers: ${managers.join(', ')}`);
    await hub.applyStatus(
      Resources.ResourceBinding,
      {
        apiVersion: API_VERSION,
        kind: 'ResourceBinding',
        metadata: { name: 'web-deployment', namespace: ns },
        status: {
          conditions: [
            {
              type: 'Scheduled',
              status: 'True',
              reason: 'Success',
              message: 'rescheduled',
              lastTransitionTime: '2030-01-01T00:00:00Z',
            },
          ],
          schedulerObservedGeneration: 1,
        },
      } as KubeObject,
      { fieldManager: HubFieldManagers.scheduler, force: true },
    );
    const after = await waitFor(
      bindings,
      ns,
      'web-deployment',
      'Scheduled rescheduled',
      (o) => condition(o, 'Scheduled')?.message === 'rescheduled',
    );
    assert.equal(condition(after, 'FullyApplied')?.status, 'False');
    assert.equal(after.status!.aggregatedStatus!.length, 2);
  });

  test('Job: Complete on the hub once every cluster completed, accepted by the API server', async () => {
    const jobs = ctx.informers.informer<WithStatus>(JOBS);
    const manifest = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'web', namespace: ns },
      spec: {
        template: { spec: { restartPolicy: 'Never', containers: [{ name: 'x', image: 'busybox:1.36' }] } },
      },
    };
    const template = await hub.create(JOBS, manifest);
    await binding(template, 'web-job');
    for (const c of clusters) await work('web-job', c, manifest);
    const done = (end: string): Status => ({
      succeeded: 1,
      startTime: '2030-01-01T00:00:00Z',
      completionTime: end,
      conditions: [
        { type: 'SuccessCriteriaMet', status: 'True', reason: 'CompletionsReached' },
        { type: 'Complete', status: 'True', reason: 'CompletionsReached' },
      ],
    });
    await report(
      'web-job',
      clusters[0],
      { group: 'batch', kind: 'Job' },
      {
        applied: true,
        status: { active: 1, ready: 1, startTime: '2030-01-01T00:00:00Z' },
        health: 'Healthy',
      },
    );
    await report(
      'web-job',
      clusters[1],
      { group: 'batch', kind: 'Job' },
      {
        applied: true,
        status: done('2030-01-01T00:01:00Z'),
        health: 'Healthy',
      },
    );
    const running = await waitFor(jobs, ns, 'web', 'succeeded == 1', (o) => o.status?.['succeeded'] === 1);
    assert.equal(running.status!['active'], 1);
    assert.equal(condition(running, 'Complete'), undefined);

    await report(
      'web-job',
      clusters[0],
      { group: 'batch', kind: 'Job' },
      {
        applied: true,
        status: done('2030-01-01T00:02:00Z'),
        health: 'Healthy',
      },
    );
    const complete = await waitFor(
      jobs,
      ns,
      'web',
      'Complete=True',
      (o) => condition(o, 'Complete')?.status === 'True',
    );
    assert.equal(complete.status!['succeeded'], 2);
    assert.equal(complete.status!['completionTime'], '2030-01-01T00:02:00Z');
  });
});
