/**
 * A member's capacity, from its Nodes and Pods, the way kube-scheduler counts it:
 * - allocatable: `status.allocatable` of nodes that are Ready and schedulable;
 * - allocated: the effective requests of non-terminal pods bound to those nodes (one `pods`
 *   each), where a pod's effective request is max(app containers + sidecars, the largest
 *   init-container step) plus its overhead;
 * - available: allocatable − allocated, never below zero.
 * Pure and exact (integer milli-units); only `cpu`, `memory` and `pods` are summarised.
 */
import { parseQuantityMilli, type ResourceSummary } from '../api/index.ts';
import type { KubeObject } from '../kube/wire.ts';

export const SUMMARY_RESOURCES = ['cpu', 'memory', 'pods'] as const;
export type SummaryResource = (typeof SUMMARY_RESOURCES)[number];

type Quantities = Readonly<Record<string, string | number>>;

export type Node = KubeObject & {
  readonly spec?: { readonly unschedulable?: boolean };
  readonly status?: {
    readonly allocatable?: Quantities;
    readonly conditions?: readonly { readonly type: string; readonly status: string }[];
  };
};

interface Container {
  readonly resources?: { readonly requests?: Quantities };
  readonly restartPolicy?: string;
}

export type Pod = KubeObject & {
  readonly spec?: {
    readonly nodeName?: string;
    readonly containers?: readonly Container[];
    readonly initContainers?: readonly Container[];
    readonly overhead?: Quantities;
  };
  readonly status?: { readonly phase?: string };
};

/** Milli-units per summarised resource. */
export type MilliList = Record<SummaryResource, bigint>;

const zero = (): MilliList => ({ cpu: 0n, memory: 0n, pods: 0n });

/** A quantity in milli-units; an unparsable one counts as 0 (a bad node must not stall status). */
function milli(q: string | number | undefined): bigint {
  if (q === undefined) return 0n;
  try {
    return parseQuantityMilli(q);
  } catch {
    return 0n;
  }
}

function add(into: MilliList, list: Quantities | undefined): void {
  for (const r of SUMMARY_RESOURCES) into[r] += milli(list?.[r]);
}

/** Ready (condition `Ready=True`) and not cordoned. */
export function isSchedulableNode(node: Node): boolean {
  if (node.spec?.unschedulable === true) return false;
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** Succeeded and Failed pods hold no resources. */
export function isTerminalPod(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

/** A pod's effective requests (kube-scheduler's `computePodResourceRequest`), `pods` = 1. */
export function podRequests(pod: Pod): MilliList {
  const app = zero();
  for (const c of pod.spec?.containers ?? []) add(app, c.resources?.requests);
  // Sidecars (restartable init containers) run beside the app containers; each plain init
  // container runs alone, next to the sidecars started before it.
  const sidecars = zero();
  const initPeak = zero();
  for (const c of pod.spec?.initContainers ?? []) {
    const req = zero();
    add(req, c.resources?.requests);
    if (c.restartPolicy === 'Always') {
      for (const r of SUMMARY_RESOURCES) sidecars[r] += req[r];
      for (const r of SUMMARY_RESOURCES) if (sidecars[r] > initPeak[r]) initPeak[r] = sidecars[r];
    } else {
      for (const r of SUMMARY_RESOURCES) {
        const step = req[r] + sidecars[r];
        if (step > initPeak[r]) initPeak[r] = step;
      }
    }
  }
  const out = zero();
  for (const r of SUMMARY_RESOURCES) {
    const steady = app[r] + sidecars[r];
    out[r] = steady > initPeak[r] ? steady : initPeak[r];
  }
  add(out, pod.spec?.overhead);
  out.pods = 1000n;
  return out;
}

export interface Capacity {
  readonly allocatable: MilliList;
  readonly allocated: MilliList;
  readonly available: MilliList;
  readonly nodes: { readonly total: number; readonly ready: number };
}

/** See the module doc. */
export function computeCapacity(nodes: Iterable<Node>, pods: Iterable<Pod>): Capacity {
  const allocatable = zero();
  const counted = new Set<string>();
  let total = 0;
  for (const n of nodes) {
    total++;
    if (!isSchedulableNode(n)) continue;
    add(allocatable, n.status?.allocatable);
    if (n.metadata?.name !== undefined) counted.add(n.metadata.name);
  }
  const allocated = zero();
  for (const p of pods) {
    const node = p.spec?.nodeName;
    if (node === undefined || !counted.has(node) || isTerminalPod(p)) continue;
    const req = podRequests(p);
    for (const r of SUMMARY_RESOURCES) allocated[r] += req[r];
  }
  const available = zero();
  for (const r of SUMMARY_RESOURCES) {
    const left = allocatable[r] - allocated[r];
    available[r] = left > 0n ? left : 0n;
  }
  return { allocatable, allocated, available, nodes: { total, ready: counted.size } };
}

const BINARY_SUFFIXES = [
  ['Ei', 1024n ** 6n],
  ['Pi', 1024n ** 5n],
  ['Ti', 1024n ** 4n],
  ['Gi', 1024n ** 3n],
  ['Mi', 1024n ** 2n],
  ['Ki', 1024n],
] as const;

/**
 * Canonical text of a milli-value: whole numbers plainly (`48`), memory with the largest exact
 * binary suffix (`64Gi`), fractions in milli-units (`4500m`). Round-trips through
 * `parseQuantityMilli`.
 */
export function formatMilli(resource: SummaryResource, value: bigint): string {
  if (value % 1000n !== 0n) return `${value}m`;
  const whole = value / 1000n;
  if (resource === 'memory' && whole !== 0n) {
    for (const [suffix, size] of BINARY_SUFFIXES) if (whole % size === 0n) return `${whole / size}${suffix}`;
  }
  return whole.toString();
}

function format(list: MilliList): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of SUMMARY_RESOURCES) out[r] = formatMilli(r, list[r]);
  return out;
}

/** The `status.resourceSummary` of a capacity. */
export function toResourceSummary(c: Capacity): ResourceSummary {
  return {
    allocatable: format(c.allocatable),
    allocated: format(c.allocated),
    available: format(c.available),
  };
}
