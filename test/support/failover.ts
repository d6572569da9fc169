// What the failover suites share: their own environment (hub + 3 members, joined in push mode),
// Meridian's controllers in-process with the suite's health settings (stoppable and restartable
// mid-test), the hub watches the suites wait on, and the faults and checks they use. Each
// suite breaks members on purpose, so it never runs on the run's shared environment.
import assert from 'node:assert/strict';
import { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { stringify } from 'yaml';
import { TaintKeys, type Cluster, type ResourceBinding, type Taint } from '../../src/api/index.ts';
import type { ControllerSettings } from '../../src/controllers/context.ts';
import { runManager } from '../../src/controllers/manager.ts';
import { CLUSTERS } from '../../src/controllers/members/registry.ts';
import { Resources } from '../../src/controllers/resources.ts';
import { ApiClient } from '../../src/kube/api-client.ts';
import { InformerFactory } from '../../src/kube/informer-factory.ts';
import { objectKey } from '../../src/kube/object-key.ts';
import type { StoreReader } from '../../src/kube/store.ts';
import { startEnvironment, type ClusterInfo, type Environment } from '../../src/testenv/environment.ts';
import { eventually } from './eventually.ts';
import { logJson, tailLogger } from './log.ts';
import { meridian } from './meridian.ts';
import { waitForObject } from './wait-for.ts';

export const json = async <T>(p: Promise<{ stdout: string }>): Promise<T> =>
  JSON.parse((await p).stdout) as T;
export const yaml = (...docs: object[]) => docs.map((d) => stringify(d)).join('---\n');

export const readyStatus = (c: Cluster | undefined): string | undefined =>
  c?.status?.conditions?.find((x) => x.type === 'Ready')?.status;
export const notReadyTaint = (c: Cluster | undefined): Taint | undefined =>
  c?.spec.taints?.find((t) => t.key === TaintKeys.notReady && t.effect === 'NoExecute');

export type Deployment = {
  metadata: { generation?: number };
  spec: { replicas: number };
  status?: { replicas?: number; readyReplicas?: number };
};

export interface FailoverFixtureOptions {
  /** Names the log lines and the environment's messages. */
  readonly name: string;
  readonly settings: ControllerSettings;
  /** Bound on every wait; generous, as nothing asserts on elapsed wall time. */
  readonly waitMs: number;
  /** Label value (`meridian.dev/test-run`) on the joined Clusters. */
  readonly run: string;
}

/** The suite's running parts, once `start()` resolved. */
export interface FailoverParts {
  readonly env: Environment;
  readonly hub: ApiClient;
  readonly clusters: StoreReader<Cluster>;
  readonly bindings: StoreReader<ResourceBinding>;
}

export function failoverFixture(o: FailoverFixtureOptions) {
  const log = tailLogger(o.name);
  /** The suite's own hub watches: they outlive controller restarts. */
  const watching = new AbortController();
  let parts: FailoverParts | undefined;
  let controllers:
    | { readonly abort: AbortController; readonly done: Promise<unknown>; readonly metrics: Registry }
    | undefined;
  const got = (): FailoverParts => {
    assert.ok(parts, 'failover fixture not started');
    return parts;
  };

  /** Runs Meridian's controllers in this process (no leader election), as `meridian controllers` does. */
  function startControllers(): void {
    const abort = new AbortController();
    const metrics = new Registry();
    const done = runManager({
      hub: got().hub,
      log,
      leaderElection: false,
      metrics,
      signal: abort.signal,
      settings: o.settings,
    });
    controllers = { abort, done, metrics };
  }

  /** Stops them wherever they are: in-flight reconciles are abandoned. */
  async function stopControllers(): Promise<void> {
    const c = controllers;
    controllers = undefined;
    c?.abort.abort();
    await c?.done.catch(() => {});
  }

  const kubectl = (cluster: string, args: string[], input?: string) =>
    got().env.kubectl(
      cluster,
      args,
      input === undefined ? { timeoutMs: 120_000 } : { input, timeoutMs: 120_000 },
    );

  /** `waitForObject`, bounded by the suite's wait. */
  const waitFor = <K>(
    store: StoreReader<K>,
    key: ReturnType<typeof objectKey>,
    what: string,
    predicate: (obj: K | undefined) => boolean,
    timeoutMs = o.waitMs,
  ): Promise<K | undefined> => waitForObject(store, key, what, predicate, timeoutMs);

  /** Events about one hub object, as `kubectl get events` lists them. */
  async function eventsAbout(
    name: string,
    namespace: string,
  ): Promise<Array<{ reason: string; note: string }>> {
    const list = await json<{
      items: Array<{ reason?: string; note?: string; regarding?: { name?: string } }>;
    }>(kubectl('hub', ['get', 'events.events.k8s.io', '-n', namespace, '-o', 'json']));
    return list.items
      .filter((e) => e.regarding?.name === name)
      .map((e) => ({ reason: e.reason ?? '', note: e.note ?? '' }));
  }

  async function expectEvent(name: string, namespace: string, reason: string, note: RegExp): Promise<void> {
    await eventually(
      async () => {
        const ev = await eventsAbout(name, namespace);
        assert.ok(
          ev.some((e) => e.reason === reason && note.test(e.note)),
          `${reason} ${note} on ${name}: ${logJson(ev)}`,
        );
      },
      { timeoutMs: o.waitMs },
    );
  }

  /** Freezes a member's kube-apiserver (SIGSTOP) until the returned function thaws it. */
  function freeze(member: ClusterInfo): () => void {
    const apiserver = got()
      .env.processes()
      .find((p) => p.name === `${member.name}/kube-apiserver`);
    assert.ok(apiserver, `${member.name}'s kube-apiserver process`);
    process.kill(apiserver.pid, 'SIGSTOP');
    let thawed = false;
    return () => {
      if (thawed) return;
      thawed = true;
      process.kill(apiserver.pid, 'SIGCONT');
    };
  }

  /** A member's copy of a Deployment: undefined when it has none. */
  async function memberDeployment(member: string, ns: string, name: string): Promise<Deployment | undefined> {
    const r = await kubectl(member, ['get', 'deployment', name, '-n', ns, '-o', 'json', '--ignore-not-found']); // prettier-ignore
    return r.stdout.trim() === '' ? undefined : (JSON.parse(r.stdout) as Deployment);
  }

  const hubDeployment = (ns: string) =>
    json<Deployment>(kubectl('hub', ['get', 'deployment', 'web', '-n', ns, '-o', 'json']));

  /** Runs a test body; on failure prints the controllers' recent log first. */
  function logged(body: () => Promise<void>): () => Promise<void> {
    return async () => {
      try {
        await body();
      } catch (err) {
        process.stderr.write(`[${o.name}] controller log tail:\n${log.tail(400)}\n`);
        throw err;
      }
    };
  }

  /** Starts the environment, joins its members, starts the controllers; resolves once all are Ready. */
  async function start(): Promise<FailoverParts> {
    const env = await startEnvironment({ log: (m) => process.stderr.write(`[${o.name} env] ${m}\n`) });
    const kc = new KubeConfig();
    kc.loadFromFile(env.hub.kubeconfig);
    const hub = await ApiClient.fromKubeConfig(kc);
    for (const m of env.members) {
      const r = await meridian(['join', m.name, '--kubeconfig', m.kubeconfig, '--hub-kubeconfig', env.hub.kubeconfig, '--labels', `meridian.dev/test-run=${o.run}`]); // prettier-ignore
      assert.equal(r.code, 0, `join ${m.name}: ${r.stderr}`);
    }
    const informers = new InformerFactory(hub, watching.signal, log);
    parts = {
      env,
      hub,
      clusters: informers.informer<Cluster>(CLUSTERS),
      bindings: informers.informer<ResourceBinding>(Resources.ResourceBinding),
    };
    startControllers();
    const { clusters } = parts;
    await Promise.all(
      env.members.map((m) =>
        waitFor(clusters, objectKey(undefined, m.name), 'Ready', (c) => readyStatus(c) === 'True'),
      ),
    );
    return parts;
  }

  async function stop(): Promise<void> {
    await stopControllers();
    watching.abort();
    await parts?.hub.close();
    await parts?.env.stop();
  }

  return {
    log,
    start,
    stop,
    startControllers,
    stopControllers,
    /** The running controllers' metrics registry, if they run. */
    controllerMetrics: (): Registry | undefined => controllers?.metrics,
    kubectl,
    waitFor,
    eventsAbout,
    expectEvent,
    freeze,
    memberDeployment,
    hubDeployment,
    logged,
  };
}
