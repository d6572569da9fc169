/**
 * Meridian as a `PeerControlPlane`: the members joined with the real `meridian join` (push
 * mode, as the e2e suites do) and one real `meridian controllers` process against the hub.
 * Its logs (pino JSON) go to `<outDir>/meridian-controllers.log`; `nodeArgs` go to its
 * `node` (e.g. `--cpu-prof --cpu-prof-dir=<dir>`, written when it exits on SIGTERM), `args` to
 * the command (e.g. `--no-leader-elect`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { API_VERSION, Kinds, Labels } from '../../src/api/constants.ts';
import { Resources } from '../../src/controllers/resources.ts';
import type { Environment } from '../../src/testenv/environment.ts';
import { freePorts } from '../../src/testenv/ports.ts';
import type { KubeObject } from '../../src/kube/wire.ts';
import { joinAll } from '../../test/support/meridian.ts';
import { clientFor, observe, until } from './observe.ts';
import type { PeerControlPlane, PeerOptions, StageProbe } from './peer.ts';

const cli = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const CLUSTER_LABEL = 'meridian.dev/bench';

interface ClusterObject extends KubeObject {
  readonly status?: { readonly conditions?: readonly { readonly type: string; readonly status: string }[] };
}
interface BindingObject extends KubeObject {
  readonly spec?: { readonly clusters?: readonly { readonly name: string }[] };
}

export async function startMeridian(env: Environment, opts: PeerOptions = {}): Promise<PeerControlPlane> {
  const log = opts.log ?? (() => {});
  const outDir = opts.outDir ?? env.dir;
  const memberNames = env.members.map((m) => m.name);
  const hub = await clientFor(env.hub.kubeconfig);

  const t0 = performance.now();
  await joinAll(env.hub, env.members, `${CLUSTER_LABEL}=propagation`);
  log(`meridian: joined ${memberNames.join(', ')} in ${Math.round(performance.now() - t0)} ms`);

  // One `meridian controllers` process, restarted when it exits on its own, as a kubelet
  // would (restartPolicy Always); every restart is reported in `notes()`.
  const logPath = join(outDir, 'meridian-controllers.log');
  const notes: string[] = [];
  let stopped = false;
  /** Set when stop() begins: from then on an exit is not restarted. */
  let stopping = false;
  let child: ChildProcess;
  let exited: Promise<void>;
  // Its Prometheus endpoint, scraped for the event-loop delay (prom-client's default metrics:
  // a monitorEventLoopDelay histogram reset at every scrape, so each value covers one interval).
  const [metricsPort] = (await freePorts(1)) as [number];
  const lag: { at: string; maxS: number; p99S: number }[] = [];
  const scraper = setInterval(() => {
    fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(1500) })
      .then((r) => r.text())
      .then((text) => {
        const gauge = (name: string): number =>
          Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
        lag.push({
          at: new Date().toISOString(),
          maxS: gauge('nodejs_eventloop_lag_max_seconds'),
          p99S: gauge('nodejs_eventloop_lag_p99_seconds'),
        });
      })
      .catch(() => {}); // not up yet, restarting, or too busy to answer in time
  }, 2000);
  const spawnControllers = (): void => {
    const fd = openSync(logPath, 'a');
    const c = spawn(
      process.execPath,
      [
        ...(opts.nodeArgs ?? []),
        cli,
        'controllers',
        '--kubeconfig',
        env.hub.kubeconfig,
        '--metrics-port',
        String(metricsPort),
        ...(opts.args ?? []),
      ],
      { stdio: ['ignore', fd, fd] },
    );
    closeSync(fd);
    child = c;
    const started = performance.now();
    exited = new Promise<void>((resolve) =>
      c.once('exit', (code, signal) => {
        resolve();
        if (stopped || stopping) return;
        const note =
          `meridian controllers (pid ${c.pid}) exited on its own with ${code ?? signal} after ` +
          `${Math.round((performance.now() - started) / 1000)} s; restarted`;
        notes.push(`${new Date().toISOString()} ${note}`);
        log(`meridian: ${note}`);
        setTimeout(() => {
          if (!stopped && !stopping) spawnControllers();
        }, 1000);
      }),
    );
    log(`meridian: controllers pid ${c.pid}, log ${logPath}`);
  };
  spawnControllers();
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  const stopControllers = async (): Promise<void> => {
    stopped = true;
    clearInterval(scraper);
    writeFileSync(join(outDir, 'meridian-eventloop.json'), JSON.stringify(lag));
    if (running()) child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(killer);
  };

  try {
    const clusters = observe<ClusterObject>(
      hub,
      Resources.Cluster,
      { labelSelector: `${CLUSTER_LABEL}` },
      () => {},
    );
    try {
      await until(
        clusters,
        () =>
          clusters.reader
            .list()
            .filter((c) => c.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True'))
            .length === memberNames.length,
        180_000,
        'every member Cluster Ready on the hub',
      );
    } finally {
      clusters.stop();
    }
    log(`meridian: clusters Ready ${Math.round(performance.now() - t0)} ms after join started`);
  } catch (err) {
    await stopControllers();
    await hub.close();
    throw err;
  }

  return {
    name: 'meridian',
    kubeconfig: env.hub.kubeconfig,
    pids: () => (running() && child.pid !== undefined ? [child.pid] : []),
    apiServerPids: () =>
      env
        .processes()
        .filter((p) => p.name === 'hub/kube-apiserver')
        .map((p) => p.pid),
    notes: () => [...notes],
    metrics() {
      const finite = (xs: number[]): number[] => xs.filter((x) => Number.isFinite(x));
      const max = finite(lag.map((l) => l.maxS));
      return {
        eventLoopDelayMaxS: Math.max(0, ...max),
        eventLoopDelayP99MaxS: Math.max(0, ...finite(lag.map((l) => l.p99S))),
        scrapes: lag.length,
        scrapesWithDelayOver1s: max.filter((x) => x > 1).length,
      };
    },
    async applyPolicy(namespace, labelSelector) {
      await hub.create(Resources.PropagationPolicy, {
        apiVersion: API_VERSION,
        kind: Kinds.PropagationPolicy,
        metadata: { name: 'bench', namespace },
        spec: {
          resourceSelectors: [
            { apiVersion: 'apps/v1', kind: 'Deployment', labelSelector: { matchLabels: labelSelector } },
          ],
          placement: {
            clusterAffinity: { clusterNames: memberNames },
            replicaScheduling: {
              replicaSchedulingType: 'Divided',
              replicaDivisionPreference: 'Weighted',
              weightPreference: {
                staticWeightList: memberNames.map((n) => ({
                  targetCluster: { clusterNames: [n] },
                  weight: 1,
                })),
              },
            },
          },
        },
      } as KubeObject);
    },
    stages(namespace): StageProbe[] {
      // Binding name: `<template name>-<kind lowercased>` (src/controllers/detector/binding-for.ts).
      const fromBinding = (name: string | undefined): string | undefined =>
        name?.endsWith('-deployment') ? name.slice(0, -'-deployment'.length) : undefined;
      return [
        {
          name: 'binding',
          resource: Resources.ResourceBinding,
          namespace,
          deploymentOf: (o) => fromBinding(o.metadata?.name),
        },
        {
          name: 'scheduled',
          resource: Resources.ResourceBinding,
          namespace,
          deploymentOf: (o) => fromBinding(o.metadata?.name),
          done: (o) => ((o as BindingObject).spec?.clusters?.length ?? 0) >= memberNames.length,
        },
        {
          name: 'works',
          resource: Resources.Work,
          labelSelector: `${Labels.bindingNamespace}=${namespace}`,
          deploymentOf: (o) => fromBinding(o.metadata?.labels?.[Labels.bindingName]),
          expected: memberNames.length,
        },
      ];
    },
    async stop() {
      if (stopping) return;
      stopping = true;
      try {
        // Deregister while the controllers still run, so the Cluster finalizers are processed.
        const clusters = observe<ClusterObject>(
          hub,
          Resources.Cluster,
          { labelSelector: CLUSTER_LABEL },
          () => {},
        );
        try {
          await clusters.ready;
          for (const n of memberNames) {
            await hub.delete(Resources.Cluster, { name: n }).catch(() => {});
          }
          await until(clusters, () => clusters.reader.size === 0, 120_000, 'Meridian Clusters removed');
        } finally {
          clusters.stop();
        }
      } catch (err) {
        log(`meridian: cleanup of Clusters incomplete: ${String(err)}`);
      } finally {
        await stopControllers();
        await hub.close();
      }
    },
  };
}
