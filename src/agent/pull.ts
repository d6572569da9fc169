/**
 * Pull mode: the agent applies its own cluster's Works from the hub, with the same applier as
 * the hub's push-mode execution controller (src/work/applier.ts): create/update by server-side
 * apply, drift reverted, conflicts reported, objects of removed manifests and deleted Works
 * removed, status written to `Work.status`. Works are watched in the cluster's hub namespace
 * only (all its Role allows); the member is reached with the agent's own credentials, and
 * objects Meridian applied there are watched so drift and status changes requeue their Work.
 * Beside it: the heartbeat Lease (`heartbeat.ts`) and the member's version and APIs
 * (`cluster-status.ts`).
 *
 * Differences from push mode, by design: drift Events go to the Work only (the agent may not
 * read hub templates or bindings), health uses the built-in interpretation (hub CRDs' health
 * rules are not readable by the agent), and a deleting Work of a cluster that is leaving is
 * released by the hub, which the agent cannot see.
 */
import { API_VERSION, Kinds, clusterNamespace } from '../api/index.ts';
import type { ApiClient } from '../kube/api-client.ts';
import { defineController } from '../kube/controller.ts';
import { InformerFactory } from '../kube/informer-factory.ts';
import type { Logger } from '../kube/log.ts';
import type { ObjectKey } from '../kube/object-key.ts';
import { createRecorder } from '../kube/recorder.ts';
import { WORKS, WorkApplier } from '../work/applier.ts';
import { MemberWatches } from '../work/member-watches.ts';
import type { ApplyTarget } from '../work/target.ts';
import { runStatusReporter } from './cluster-status.ts';
import { runHeartbeat } from './heartbeat.ts';

export interface PullOptions {
  readonly cluster: string;
  /** The hub, as the agent's identity. */
  readonly hub: ApiClient;
  /** The member API server, with the agent's own credentials. */
  readonly member: ApiClient;
  readonly log: Logger;
  readonly signal: AbortSignal;
  /** Concurrent Work reconciles. Default 4. */
  readonly workers?: number;
  readonly heartbeat?: { readonly renewIntervalMs?: number; readonly leaseDurationSeconds?: number };
}

/** Applies the cluster's Works and renews its heartbeat until `signal` aborts. */
export async function runPull(o: PullOptions): Promise<void> {
  const { cluster, log, signal } = o;
  const hubInformers = new InformerFactory(o.hub, signal, log);
  const memberInformers = new InformerFactory(o.member, signal, log);
  const works = hubInformers.informer(WORKS, { namespace: clusterNamespace(cluster) });
  const target: ApplyTarget = {
    cluster,
    client: o.member,
    informer: (rt, scope) => memberInformers.informer(rt, scope),
  };
  const targets = { get: (c: string) => (c === cluster ? target : undefined) };
  const enqueue = (key: ObjectKey): void => void controller.queue.add(key);
  const watches = new MemberWatches(targets, enqueue, signal, log);
  const applier = new WorkApplier({
    hub: o.hub,
    works,
    clusterLeaving: () => false,
    members: targets,
    watches,
    recorder: createRecorder(o.hub, 'meridian-agent', cluster, log),
    drift: { inc: () => {} },
    hubTemplates: false,
  });
  const controller = defineController({
    name: 'pull',
    for: { store: works, apiVersion: API_VERSION, kind: Kinds.Work },
    reconciler: applier,
    workers: o.workers ?? 4,
    log,
  });
  log.info({ cluster }, 'pull mode: applying this cluster’s Works');
  await Promise.all([
    controller.run(signal),
    runHeartbeat({ cluster, hub: o.hub, log, signal, ...o.heartbeat }),
    runStatusReporter({ cluster, hub: o.hub, member: o.member, memberInformers, log, signal }),
  ]);
}
