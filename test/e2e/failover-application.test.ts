// Application failover, rebalancing and controller restarts, end to end with real faults:
// pods made crash-looping in one member (kwok's stage for the `fault.meridian.dev/crash-loop`
// label: Running, not Ready, CrashLoopBackOff), a member's kube-apiserver frozen (SIGSTOP),
// Meridian's controllers stopped mid-failover. It breaks members on purpose, so it runs its own
// environment (hub + 3 members) and the controllers in-process with aggressive health settings.
// Every fault is undone in `finally`. Waits are watches or `eventually` with generous timeouts:
// nothing asserts on wall time except "not before the toleration".
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Cluster, ResourceBinding } from '../../src/api/index.ts';
import type { ControllerSettings } from '../../src/controllers/context.ts';
import { FAILOVER_DECISIONS } from '../../src/controllers/failover/metrics.ts';
import { objectKey } from '../../src/kube/object-key.ts';
import type { StoreReader } from '../../src/kube/store.ts';
import type { ClusterInfo, Environment } from '../../src/testenv/environment.ts';
import { CRASH_LOOP_LABEL } from '../../src/testenv/kwok-config.ts';
import { eventually } from '../support/eventually.ts';
import { failoverFixture, json, notReadyTaint, readyStatus, yaml } from '../support/failover.ts';
import { meridian } from '../support/meridian.ts';
import { logJson } from '../support/log.ts';

const run = randomBytes(3).toString('hex');
/** Generous: the machine is shared and slow. */
const WAIT_MS = 300_000;
const TOLERATION_SECONDS = 15;
// Quick to notice a frozen member, but with a 3 s probe timeout: on this shared machine 1 s probes
// made healthy members flap not Ready, and a placement made during a flap skips that member.
const SETTINGS: ControllerSettings = {
  clusterProbeIntervalMs: 1_000,
  clusterProbeTimeoutMs: 3_000,
  clusterProbeRetryMs: 500,
  notReadyGracePeriodMs: 3_000,
  readyStabilizationMs: 3_000,
  evictionTimeoutMs: 600_000,
};

const fx = failoverFixture({ name: 'failover-app-test', settings: SETTINGS, waitMs: WAIT_MS, run });
const { startControllers, stopControllers, kubectl, waitFor, expectEvent, freeze } = fx;
const { memberDeployment, hubDeployment, logged } = fx;

let env: Environment;
let clusters: StoreReader<Cluster>;
let bindings: StoreReader<ResourceBinding>;

/** The in-process controllers' failover decision count for these labels (0 when none). */
async function decisions(labels: { kind: string; reason: string; cluster: string }): Promise<number> {
  const metric = fx.controllerMetrics()?.getSingleMetric(FAILOVER_DECISIONS);
  const values = (await metric?.get())?.values ?? [];
  return values
    .filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
    .reduce((sum, v) => sum + v.value, 0);
}

const names = (ms: readonly ClusterInfo[]) => ms.map((m) => m.name).sort();

interface Web {
  readonly ns: string;
  readonly binding: string;
  readonly work: string;
}

/**
 * A Deployment `web` of `replicas` in a fresh namespace, on this file's 3 members with
 * `placement` and `failover`; resolves once the binding places `expected` and the hub shows
 * every replica Ready.
 */
async function deployWeb(
  prefix: string,
  replicas: number,
  placement: object,
  failover: object,
  expected: (b: ResourceBinding | undefined) => boolean,
): Promise<Web> {
  const ns = `${prefix}-${run}`;
  await Promise.all(
    env.members.map((m) =>
      waitFor(
        clusters,
        objectKey(undefined, m.name),
        'Ready',
        (c) => readyStatus(c) === 'True' && !notReadyTaint(c),
      ),
    ),
  );
  await kubectl('hub', ['create', 'namespace', ns]);
  const container = {
    name: 'app',
    image: 'nginx:1.27',
    resources: { requests: { cpu: '100m', memory: '64Mi' } },
  };
  await kubectl(
    'hub',
    ['apply', '-f', '-'],
    yaml(
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web', namespace: ns, labels: { app: 'web' } },
        spec: {
          replicas,
          selector: { matchLabels: { app: 'web' } },
          template: { metadata: { labels: { app: 'web' } }, spec: { containers: [container] } },
        },
      },
      {
        apiVersion: 'meridian.dev/v1alpha1',
        kind: 'PropagationPolicy',
        metadata: { name: 'web', namespace: ns },
        spec: {
          resourceSelectors: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }],
          placement: {
            clusterAffinity: { labelSelector: { matchLabels: { 'meridian.dev/test-run': run } } },
            ...placement,
          },
          failover,
        },
      },
    ),
  );
  const binding = 'web-deployment';
  await eventually(
    async () => {
      const b = bindings.get(objectKey(ns, binding));
      assert.ok(expected(b), `placement: ${logJson(b?.spec.clusters)}`);
      assert.equal((await hubDeployment(ns)).status?.readyReplicas, replicas);
    },
    { timeoutMs: WAIT_MS },
  );
  return { ns, binding, work: `rb.${ns}.${binding}` };
}

/** Makes `member`'s pods of `web` crash-loop (kwok flips them to not Ready, CrashLoopBackOff). */
async function crashLoop(member: ClusterInfo, ns: string): Promise<void> {
  await kubectl(member.name, [
    'label',
    'pods',
    '-n',
    ns,
    '-l',
    'app=web',
    `${CRASH_LOOP_LABEL}=true`,
    '--overwrite',
  ]);
  await eventually(
    async () => {
      const d = await memberDeployment(member.name, ns, 'web');
      assert.equal(d?.status?.readyReplicas ?? 0, 0, `${member.name}: no replica Ready`);
    },
    { timeoutMs: WAIT_MS },
  );
}

/**
 * Every replica in `where` (cluster → replicas) runs Ready there and nowhere else; the hub
 * counts each once.
 */
async function expectRunning(w: Web, replicas: number, where: Record<string, number>): Promise<void> {
  await eventually(
    async () => {
      const b = bindings.get(objectKey(w.ns, w.binding));
      assert.deepEqual(
        Object.fromEntries((b?.spec.clusters ?? []).map((c) => [c.name, c.replicas])),
        where,
        'placement',
      );
      assert.deepEqual(b?.spec.gracefulEvictionTasks ?? [], [], 'graceful eviction ended');
      assert.deepEqual(
        (b?.status?.aggregatedStatus ?? []).map((s) => [s.clusterName, s.health]),
        Object.keys(where)
          .sort()
          .map((n) => [n, 'Healthy']),
        'the binding aggregates exactly its targets, each Healthy',
      );
      for (const m of env.members) {
        const d = await memberDeployment(m.name, w.ns, 'web');
        if (where[m.name] === undefined) {
          assert.equal(d, undefined, `${m.name} has no copy`);
          continue;
        }
        assert.equal(d?.spec.replicas, where[m.name], m.name);
        assert.equal(d?.status?.readyReplicas, where[m.name], `${m.name} ready`);
      }
      const d = await hubDeployment(w.ns);
      assert.equal(d.status?.readyReplicas, replicas, 'ready replicas summed over the targets');
      assert.equal(d.status?.replicas, replicas, 'nothing counted twice');
    },
    { timeoutMs: WAIT_MS },
  );
}

before(async () => {
  ({ env, clusters, bindings } = await fx.start());
});

after(() => fx.stop());

const divided = {
  replicaScheduling: { replicaSchedulingType: 'Divided', replicaDivisionPreference: 'Weighted' },
};
const replicasOf = (b: ResourceBinding | undefined) => b?.spec.clusters?.map((c) => c.replicas);

describe('application failover', () => {
  test(
    'pods crash-looping in one member past tolerationSeconds: its replicas move to the others, its copy is removed once they are Ready, nothing is duplicated',
    logged(async () => {
      const sick = env.members[1] as ClusterInfo;
      const rest = env.members.filter((m) => m !== sick);
      const w = await deployWeb(
        'app-fo',
        6,
        divided,
        {
          application: {
            decisionConditions: { tolerationSeconds: TOLERATION_SECONDS },
            purgeMode: 'Graciously',
            gracePeriodSeconds: 600,
          },
        },
        (b) => logJson(replicasOf(b)) === '[2,2,2]',
      );
      const key = objectKey(w.ns, w.binding);
      // When the placement first changes, and whether the binding said it was tolerating first.
      let movedAt: number | undefined;
      let sawTolerating = false;
      const seen = new AbortController();
      bindings.subscribe((c) => {
        if (c.key !== key) return;
        const conds = c.object.status?.conditions ?? [];
        if (conds.some((x) => x.type === 'ApplicationFailover' && x.reason === 'Tolerating'))
          sawTolerating = true;
        if (movedAt === undefined && logJson(replicasOf(c.object)) !== '[2,2,2]') movedAt = Date.now();
      }, seen.signal);
      const t0 = Date.now();
      await crashLoop(sick, w.ns);

      const evicted = await waitFor(
        bindings,
        key,
        'evicted',
        (b) => (b?.spec.evictedClusters?.length ?? 0) > 0,
      );
      const e = evicted?.spec.evictedClusters?.[0];
      assert.equal(e?.name, sick.name);
      assert.equal(e?.reason, 'ApplicationFailure');
      assert.match(e?.message ?? '', /unhealthy for \d+s \(tolerationSeconds 15\)/);
      // Second-precision stamps: allow one second.
      assert.ok(
        Date.parse(e?.evictionTime ?? '') >= t0 + TOLERATION_SECONDS * 1000 - 1000,
        `evicted at ${e?.evictionTime}, crash-looping since ${new Date(t0).toISOString()}`,
      );

      await expectRunning(w, 6, Object.fromEntries(rest.map((m) => [m.name, 3])));
      seen.abort();
      assert.ok(sawTolerating, 'the binding said it was tolerating the unhealthy cluster first');
      assert.ok((movedAt ?? 0) >= t0 + TOLERATION_SECONDS * 1000, 'nothing moved within the toleration');
      const b = bindings.get(key);
      const cond = b?.status?.conditions?.find((c) => c.type === 'ApplicationFailover');
      assert.equal(cond?.status, 'True');
      assert.equal(cond?.reason, 'Evicted');
      assert.match(cond?.message ?? '', new RegExp(`moved off ${sick.name}`));
      const pods = await json<{ items: unknown[] }>(
        kubectl(sick.name, ['get', 'pods', '-n', w.ns, '-l', 'app=web', '-o', 'json']),
      );
      assert.equal(pods.items.length, 0, `no pod left in ${sick.name}`);

      await expectEvent(
        w.binding,
        w.ns,
        'ApplicationFailover',
        new RegExp(`moving the workload off ${sick.name}`),
      );
      await expectEvent(
        w.binding,
        w.ns,
        'ClusterEvicted',
        new RegExp(`evicted from ${sick.name} \\(application failover`),
      );
      await expectEvent(w.binding, w.ns, 'GracefulEvictionEnded', /the clusters replacing it are healthy/);
      assert.ok(
        (await decisions({ kind: 'application', reason: 'ApplicationUnhealthy', cluster: sick.name })) >= 1,
      );

      // A new template version lifts the eviction: the cluster may host it again.
      await kubectl('hub', ['patch', 'deployment', 'web', '-n', w.ns, '--type=merge', '-p', JSON.stringify({ spec: { template: { metadata: { annotations: { 'example.com/version': '2' } } } } })]); // prettier-ignore
      await waitFor(bindings, key, 'eviction lifted', (x) => (x?.spec.evictedClusters ?? []).length === 0);
      await expectEvent(
        w.binding,
        w.ns,
        'EvictionLifted',
        new RegExp(`${sick.name} may host the workload again`),
      );
    }),
  );

  test(
    'a singleton (1 replica, Aggregated) crash-looping with purgeMode Immediately moves to another cluster and never runs twice after the move',
    logged(async () => {
      const w = await deployWeb(
        'app-single',
        1,
        { replicaScheduling: { replicaSchedulingType: 'Divided', replicaDivisionPreference: 'Aggregated' } },
        {
          application: {
            decisionConditions: { tolerationSeconds: TOLERATION_SECONDS },
            purgeMode: 'Immediately',
          },
        },
        (b) => b?.spec.clusters?.length === 1,
      );
      const key = objectKey(w.ns, w.binding);
      const first = bindings.get(key)?.spec.clusters?.[0]?.name;
      const sick = env.members.find((m) => m.name === first) as ClusterInfo;
      await crashLoop(sick, w.ns);
      const moved = await waitFor(bindings, key, 'moved', (b) => b?.spec.clusters?.[0]?.name !== first);
      const now = moved?.spec.clusters?.[0]?.name as string;
      assert.notEqual(now, first);
      assert.deepEqual(moved?.spec.gracefulEvictionTasks ?? [], [], 'Immediately: no graceful eviction');
      await expectRunning(w, 1, { [now]: 1 });
      await expectEvent(w.binding, w.ns, 'ClusterEvicted', /purgeMode Immediately/);
    }),
  );
});

describe('application failover holds', () => {
  test(
    'a workload crash-looping in every cluster is not moved around: the binding says so and keeps its placement',
    logged(async () => {
      const w = await deployWeb(
        'app-held',
        3,
        divided,
        {
          application: {
            decisionConditions: { tolerationSeconds: TOLERATION_SECONDS },
            purgeMode: 'Graciously',
          },
        },
        (b) => logJson(replicasOf(b)) === '[1,1,1]',
      );
      const key = objectKey(w.ns, w.binding);
      // All at once: the first must not fall due before the last is unhealthy too.
      await Promise.all(env.members.map((m) => crashLoop(m, w.ns)));
      const held = await waitFor(bindings, key, 'UnhealthyEverywhere', (b) =>
        (b?.status?.conditions ?? []).some(
          (c) => c.type === 'ApplicationFailover' && c.reason === 'UnhealthyEverywhere',
        ),
      );
      assert.deepEqual(held?.spec.evictedClusters ?? [], [], 'no cluster evicted');
      assert.deepEqual(
        held?.spec.clusters?.map((c) => c.name),
        names(env.members),
        'still on all three',
      );
      await expectEvent(w.binding, w.ns, 'ApplicationFailoverHeld', /unhealthy in every target cluster/);
    }),
  );
});

describe('rebalancing', () => {
  test(
    'a lost cluster that returns gets its share back in bounded steps (one replica at a time), nothing duplicated or lost',
    logged(async () => {
      const lost = env.members[0] as ClusterInfo;
      const rest = env.members.filter((m) => m !== lost);
      const w = await deployWeb(
        'rebalance',
        6,
        {
          replicaScheduling: {
            ...divided.replicaScheduling,
            rebalance: { maxReplicasPerStep: 1, intervalSeconds: 5 },
          },
        },
        { cluster: { purgeMode: 'Graciously', gracePeriodSeconds: 600 } },
        (b) => logJson(replicasOf(b)) === '[2,2,2]',
      );
      const key = objectKey(w.ns, w.binding);
      const thaw = freeze(lost);
      try {
        await waitFor(clusters, objectKey(undefined, lost.name), 'tainted', (c) => !!notReadyTaint(c));
        await waitFor(
          bindings,
          key,
          'failed over',
          (b) =>
            logJson(b?.spec.clusters?.map((c) => c.name)) === logJson(names(rest)) &&
            !b?.spec.gracefulEvictionTasks?.length,
        );
      } finally {
        thaw();
      }
      // Every placement from here on, to check each step's size.
      const placements: Array<Record<string, number>> = [];
      const seen = new AbortController();
      const record = (b: ResourceBinding | undefined) => {
        const p = Object.fromEntries((b?.spec.clusters ?? []).map((c) => [c.name, c.replicas]));
        if (logJson(placements.at(-1)) !== logJson(p)) placements.push(p);
      };
      record(bindings.get(key));
      bindings.subscribe((c) => c.key === key && record(c.object), seen.signal);

      await waitFor(
        clusters,
        objectKey(undefined, lost.name),
        'untainted',
        (c) => readyStatus(c) === 'True' && !notReadyTaint(c),
      );
      await expectRunning(w, 6, Object.fromEntries(env.members.map((m) => [m.name, 2])));
      seen.abort();
      for (let i = 1; i < placements.length; i++) {
        const [a, b] = [placements[i - 1] ?? {}, placements[i] ?? {}];
        const moved = Object.keys({ ...a, ...b }).reduce(
          (s, n) => s + Math.max(0, (a[n] ?? 0) - (b[n] ?? 0)),
          0,
        );
        assert.ok(moved <= 1, `one replica per step: ${logJson(a)} → ${logJson(b)}`);
        const total = Object.values(b).reduce((s, n) => s + n, 0);
        assert.equal(total, 6, `never more or fewer than 6 placed: ${logJson(b)}`);
      }
      assert.ok(placements.length >= 3, `took steps: ${logJson(placements)}`);
      await expectEvent(
        w.binding,
        w.ns,
        'Rebalanced',
        new RegExp(`to ${lost.name} toward the desired spread`),
      );
      assert.ok((await decisions({ kind: 'rebalance', reason: 'Rebalanced', cluster: lost.name })) >= 2);
    }),
  );
});

describe('faults during application failover', () => {
  test(
    'the controllers are down past the toleration, then stopped again mid-eviction: the clock is not reset, the failover completes once; a new version lets the cluster back and rebalancing restores the spread, nothing duplicated or lost',
    logged(async () => {
      const sick = env.members[2] as ClusterInfo;
      const rest = env.members.filter((m) => m !== sick);
      const w = await deployWeb(
        'app-restart',
        6,
        {
          replicaScheduling: {
            ...divided.replicaScheduling,
            rebalance: { maxReplicasPerStep: 2, intervalSeconds: 5 },
          },
        },
        {
          application: {
            decisionConditions: { tolerationSeconds: TOLERATION_SECONDS },
            purgeMode: 'Graciously',
            gracePeriodSeconds: 600,
          },
        },
        (b) => logJson(replicasOf(b)) === '[2,2,2]',
      );
      const key = objectKey(w.ns, w.binding);
      await crashLoop(sick, w.ns);
      await waitFor(bindings, key, 'Tolerating', (b) =>
        (b?.status?.conditions ?? []).some(
          (c) => c.type === 'ApplicationFailover' && c.reason === 'Tolerating',
        ),
      );

      // Fault 1: controllers down for longer than the toleration (the outage itself, not a wait for state).
      await stopControllers();
      const downMs = (TOLERATION_SECONDS + 10) * 1000;
      await new Promise((r) => setTimeout(r, downMs));
      assert.deepEqual(
        replicasOf(bindings.get(key)),
        [2, 2, 2],
        'nothing moves while the controllers are down',
      );

      // Fault 2: stopped again the moment the eviction is recorded: the old copy kept, the replacement not Ready.
      let sawTask = false;
      const stopped = new Promise<void>((resolve) => {
        const done = new AbortController();
        bindings.subscribe((c) => {
          if (c.key !== key || !c.object.spec.gracefulEvictionTasks?.length) return;
          sawTask = true;
          done.abort();
          resolve(stopControllers());
        }, done.signal);
      });
      startControllers();
      await stopped;
      assert.ok(sawTask);
      const mid = bindings.get(key);
      assert.deepEqual(
        mid?.spec.gracefulEvictionTasks?.map((t) => [t.fromCluster, t.reason, t.replicas]),
        [[sick.name, 'ApplicationFailure', 2]],
      );
      // Unhealthy since before the first stop: the restarted controller did not restart the clock.
      const seconds = Number(/unhealthy for (\d+)s/.exec(mid?.spec.evictedClusters?.[0]?.message ?? '')?.[1]);
      assert.ok(
        seconds >= downMs / 1000,
        `unhealthy for ${seconds}s, controllers were down ${downMs / 1000}s`,
      );
      startControllers();

      await expectRunning(w, 6, Object.fromEntries(rest.map((m) => [m.name, 3])));

      // The cluster comes back for a new version of the workload, and rebalancing restores 2 + 2 + 2.
      await kubectl('hub', ['patch', 'deployment', 'web', '-n', w.ns, '--type=merge', '-p', JSON.stringify({ spec: { template: { metadata: { annotations: { 'example.com/version': '2' } } } } })]); // prettier-ignore
      await expectRunning(w, 6, Object.fromEntries(env.members.map((m) => [m.name, 2])));
      await expectEvent(
        w.binding,
        w.ns,
        'Rebalanced',
        new RegExp(`to ${sick.name} toward the desired spread`),
      );

      // `meridian describe` tells the story.
      const r = await meridian([
        'describe',
        'deployment/web',
        '-n',
        w.ns,
        '--kubeconfig',
        env.hub.kubeconfig,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Failover:\n/);
      assert.match(r.stdout, new RegExp(`ApplicationFailover +moving the workload off ${sick.name}`));
      assert.match(r.stdout, /EvictionLifted/);
      assert.match(r.stdout, /Rebalanced/);
    }),
  );
});

describe('faults during cluster failover and rebalancing', () => {
  test(
    'controllers killed the moment the cluster is tainted, and again at the first rebalancing step: the failover completes, the returned cluster loses its stale copy, then gets its share back; nothing duplicated or lost',
    logged(async () => {
      const lost = env.members[1] as ClusterInfo;
      const rest = env.members.filter((m) => m !== lost);
      const w = await deployWeb(
        'fo-reb-restart',
        6,
        {
          replicaScheduling: {
            ...divided.replicaScheduling,
            rebalance: { maxReplicasPerStep: 1, intervalSeconds: 5 },
          },
        },
        { cluster: { purgeMode: 'Graciously', gracePeriodSeconds: 600 } },
        (b) => logJson(replicasOf(b)) === '[2,2,2]',
      );
      const key = objectKey(w.ns, w.binding);
      const clusterKey = objectKey(undefined, lost.name);
      /** Stops the controllers the first time `predicate` holds for the watched store's object. */
      const stopWhen = <K extends { metadata: { name?: string } }>(
        store: StoreReader<K>,
        k: ReturnType<typeof objectKey>,
        predicate: (o: K) => boolean,
      ) =>
        new Promise<K>((resolve) => {
          const done = new AbortController();
          store.subscribe((c) => {
            if (c.key !== k || !predicate(c.object)) return;
            done.abort();
            void stopControllers().then(() => resolve(c.object));
          }, done.signal);
        });

      // Fault 1: frozen member; controllers killed as soon as its taint lands (before any rescheduling).
      const killedAtTaint = stopWhen(clusters, clusterKey, (c) => !!notReadyTaint(c));
      const thaw = freeze(lost);
      try {
        await killedAtTaint;
        assert.deepEqual(replicasOf(bindings.get(key)), [2, 2, 2], 'stopped before the scheduler acted');
        startControllers();
        await waitFor(
          bindings,
          key,
          'failed over, graceful eviction ended',
          (b) =>
            logJson(b?.spec.clusters?.map((c) => c.name)) === logJson(names(rest)) &&
            !b?.spec.gracefulEvictionTasks?.length,
        );
        for (const m of rest) {
          await eventually(async () => assert.equal((await memberDeployment(m.name, w.ns, 'web'))?.status?.readyReplicas, 3, m.name), { timeoutMs: WAIT_MS }); // prettier-ignore
        }
        await eventually(async () => assert.equal((await hubDeployment(w.ns)).status?.readyReplicas, 6), { timeoutMs: WAIT_MS }); // prettier-ignore
      } finally {
        thaw();
      }

      // Fault 2: killed again the moment the first rebalancing step is written.
      const firstStep = stopWhen(bindings, key, (b) =>
        (b.spec.clusters ?? []).some((c) => c.name === lost.name),
      );
      await waitFor(clusters, clusterKey, 'untainted', (c) => readyStatus(c) === 'True' && !notReadyTaint(c));
      const stepped = await firstStep;
      assert.deepEqual(
        Object.fromEntries((stepped.spec.clusters ?? []).map((c) => [c.name, c.replicas]))[lost.name],
        1,
        'the first step moved one replica',
      );
      assert.ok(stepped.metadata.annotations?.['meridian.dev/last-rebalance'], 'the step time is stored');
      startControllers();
      await expectRunning(w, 6, Object.fromEntries(env.members.map((m) => [m.name, 2])));
      await eventually(
        async () => {
          const pods = await json<{ items: unknown[] }>(
            kubectl(lost.name, ['get', 'pods', '-n', w.ns, '-l', 'app=web', '-o', 'json']),
          );
          assert.equal(
            pods.items.length,
            2,
            `exactly its share of pods on ${lost.name}, none left from before`,
          );
        },
        { timeoutMs: WAIT_MS },
      );
    }),
  );
});
