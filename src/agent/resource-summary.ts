/**
 * The pull-mode agent reports its member's capacity — `status.resourceSummary` and
 * `status.nodeSummary` of its Cluster — computed exactly as the hub does for push members
 * (src/work/summary.ts), from node and pod informers on the member. The scheduler's dynamic
 * replica division reads it. Pods change often, so writes are coalesced: at most one every
 * `minIntervalMs` (default 5 s, as the hub's own summary writes), and none when nothing the
 * summary shows has changed. Server-side apply to the status subresource under its own field
 * manager (`meridian-agent-capacity`), so it neither drops nor is dropped by the version/API
 * report (`cluster-status.ts`) or the hub's conditions.
 */
import { API_VERSION, GROUP, Kinds, Plurals, VERSION } from '../api/index.ts';
import type { ApiClient, ResourceType } from '../kube/api-client.ts';
import { systemClock } from '../kube/clock.ts';
import type { InformerFactory } from '../kube/informer-factory.ts';
import type { Logger } from '../kube/log.ts';
import type { KubeObject } from '../kube/wire.ts';
import { computeCapacity, toResourceSummary, type Node, type Pod } from '../work/summary.ts';

const CLUSTERS: ResourceType = {
  group: GROUP,
  version: VERSION,
  resource: Plurals.Cluster,
  scope: 'Cluster',
  kind: Kinds.Cluster,
};
const NODES: ResourceType = { group: '', version: 'v1', resource: 'nodes', scope: 'Cluster', kind: 'Node' };
const PODS: ResourceType = { group: '', version: 'v1', resource: 'pods', scope: 'Namespaced', kind: 'Pod' };
/** Terminal pods hold no resources; leaving them out of the watch keeps the cache small. */
const NON_TERMINAL_PODS = { fieldSelector: 'status.phase!=Succeeded,status.phase!=Failed' } as const;

export const SUMMARY_FIELD_MANAGER = 'meridian-agent-capacity';

/** Reports the member's capacity whenever it changes, at most once per `minIntervalMs`, until `signal` aborts. */
export async function runSummaryReporter(o: {
  readonly cluster: string;
  readonly hub: ApiClient;
  readonly memberInformers: InformerFactory;
  readonly log: Logger;
  readonly signal: AbortSignal;
  /** Least time between two writes. Default 5 s. */
  readonly minIntervalMs?: number;
}): Promise<void> {
  const every = o.minIntervalMs ?? 5_000;
  const nodes = o.memberInformers.informer<Node>(NODES);
  const pods = o.memberInformers.informer<Pod>(PODS, NON_TERMINAL_PODS);
  let dirty = true;
  let wake: (() => void) | undefined;
  const touch = (): void => {
    dirty = true;
    wake?.();
  };
  nodes.subscribe(touch, o.signal);
  pods.subscribe(touch, o.signal);
  o.signal.addEventListener('abort', () => wake?.(), { once: true });
  await Promise.race([Promise.all([nodes.ready, pods.ready]), aborted(o.signal)]);
  let last = '';
  while (!o.signal.aborted) {
    if (!dirty) {
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      continue;
    }
    dirty = false;
    const capacity = computeCapacity(nodes.list(), pods.list());
    const status = { resourceSummary: toResourceSummary(capacity), nodeSummary: { ...capacity.nodes } };
    const text = JSON.stringify(status);
    if (text === last) continue;
    try {
      await o.hub.applyStatus(
        CLUSTERS,
        { apiVersion: API_VERSION, kind: Kinds.Cluster, metadata: { name: o.cluster }, status } as KubeObject,
        { fieldManager: SUMMARY_FIELD_MANAGER, force: true, signal: o.signal },
      );
      last = text;
    } catch (err) {
      if (o.signal.aborted) break;
      dirty = true;
      o.log.warn(
        { cluster: o.cluster, err: (err as Error).message },
        'resource summary report failed; retrying',
      );
    }
    // Whatever changed meanwhile is written once, at the end of the interval.
    await systemClock.sleep(every, o.signal);
  }
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
