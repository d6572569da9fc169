/**
 * Meridian as a `PeerControlPlane`: the members joined with the real `meridian join` (push
 * mode, as the e2e suites do) and one real `meridian controllers` process against the hub.
 * Its logs (pino JSON) go to `<outDir>/meridian-controllers.log`; `nodeArgs` go to its
 * `node` (e.g. `--cpu-prof --cpu-prof-dir=<dir>`, written when it exits on SIGTERM).
 */
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { API_VERSION, Kinds, Labels } from '../../src/api/constants.ts';
import { Resources } from '../../src/controllers/resources.ts';
import type { Environment } from '../../src/testenv/environment.ts';
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

  const logPath = join(outDir, 'meridian-controllers.log');
  const fd = openSync(logPath, 'a');
  const child = spawn(
    process.execPath,
    [...(opts.nodeArgs ?? []), cli, 'controllers', '--kubeconfig', env.hub.kubeconfig],
    { stdio: ['ignore', fd, fd] },
  );
  closeSync(fd);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const pid = child.pid;
  if (pid === undefined) throw new Error('meridian controllers did not start');
  log(`meridian: controllers pid ${pid}, log ${logPath}`);

  let stopped = false;
  const stopControllers = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
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
    pids: () => (child.exitCode === null && child.signalCode === null ? [pid] : []),
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
      if (stopped) return;
      stopped = true;
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
