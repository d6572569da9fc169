/**
 * Hub objects → the dashboard's views (wire.ts). Pure functions: what the browser may see
 * is decided here, in one place — statuses, decisions and override lists, never manifests.
 */
import { createHash } from 'node:crypto';
import {
  Annotations,
  Kinds,
  Labels,
  parseQuantity,
  type Cluster,
  type ResourceBinding,
  type Work,
} from '../api/index.ts';
import type { KubeObject } from '../kube/wire.ts';
import type {
  BindingView,
  Capacity,
  ClusterView,
  Condition,
  EventView,
  ManifestView,
  Placement,
  WorkView,
} from './wire.ts';

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

function conditions(list: unknown): Condition[] {
  if (!Array.isArray(list)) return [];
  return list.map((c: Record<string, unknown>) => ({
    type: str(c.type),
    status: str(c.status),
    ...(c.reason !== undefined && { reason: str(c.reason) }),
    ...(c.message !== undefined && { message: str(c.message) }),
    ...(c.lastTransitionTime !== undefined && { lastTransitionTime: str(c.lastTransitionTime) }),
  }));
}

function quantity(q: unknown): number | null {
  if (typeof q !== 'string' && typeof q !== 'number') return null;
  try {
    return parseQuantity(q);
  } catch {
    return null; // A malformed status value shows as unknown rather than failing the view.
  }
}

function capacity(summary: Cluster['status'], resource: string): Capacity | null {
  const allocatable = quantity(summary?.resourceSummary?.allocatable?.[resource]);
  if (allocatable === null) return null;
  return { allocatable, allocated: quantity(summary?.resourceSummary?.allocated?.[resource]) ?? 0 };
}

export function clusterView(c: Cluster): ClusterView {
  const labels = c.metadata.labels ?? {};
  const ready = c.status?.conditions?.find((x) => x.type === 'Ready');
  return {
    key: c.metadata.name ?? '',
    name: c.metadata.name ?? '',
    region: labels[Labels.region] ?? '',
    zone: labels[Labels.zone] ?? '',
    provider: labels[Labels.provider] ?? '',
    syncMode: c.spec.syncMode,
    ready: ready?.status ?? 'Unknown',
    readyMessage: ready?.message ?? '',
    kubernetesVersion: c.status?.kubernetesVersion ?? '',
    nodes: c.status?.nodeSummary ?? null,
    cpu: capacity(c.status, 'cpu'),
    memory: capacity(c.status, 'memory'),
    pods: capacity(c.status, 'pods'),
    taints: (c.spec.taints ?? []).map((t) => ({
      key: t.key,
      effect: t.effect,
      ...(t.value !== undefined && { value: t.value }),
    })),
    lastHeartbeatTime: c.status?.lastHeartbeatTime ?? '',
    conditions: conditions(c.status?.conditions),
  };
}

/** As the binding controller's `labelValue`: names longer than a label value are hashed to fit. */
export function bindingLabelValue(v: string): string {
  if (v.length <= 63) return v;
  return `${v.slice(0, 52)}-${createHash('sha256').update(v).digest('hex').slice(0, 10)}`;
}

/** The key a binding's Works carry in their labels: `namespace/label-safe name`. */
export function bindingKey(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${bindingLabelValue(name)}`;
}

export function bindingView(b: ResourceBinding): BindingView {
  const meta = b.metadata;
  const targets = new Map((b.spec.clusters ?? []).map((t) => [t.name, t.replicas]));
  const reported = new Map((b.status?.aggregatedStatus ?? []).map((a) => [a.clusterName, a]));
  const names = [...new Set([...targets.keys(), ...reported.keys()])].sort();
  const placements: Placement[] = names.map((cluster) => {
    const a = reported.get(cluster);
    const s = (a?.status ?? {}) as Record<string, unknown>;
    return {
      cluster,
      scheduled: targets.get(cluster) ?? null,
      applied: a?.applied ?? null,
      appliedMessage: a?.appliedMessage ?? '',
      health: a?.health ?? 'Unknown',
      replicas: num(s.replicas),
      readyReplicas: num(s.readyReplicas) ?? (num(s.replicas) === null ? null : 0),
      availableReplicas: num(s.availableReplicas),
    };
  });
  const r = b.spec.resource;
  const policy = b.spec.policyRef;
  return {
    key: bindingKey(meta.namespace, meta.name ?? ''),
    kind: (b.kind as string) === Kinds.ClusterResourceBinding ? 'ClusterResourceBinding' : 'ResourceBinding',
    namespace: meta.namespace ?? '',
    name: meta.name ?? '',
    resource: { apiVersion: r.apiVersion, kind: r.kind, namespace: r.namespace ?? '', name: r.name },
    policy:
      policy === undefined
        ? ''
        : `${policy.kind} ${policy.namespace ? `${policy.namespace}/` : ''}${policy.name}`,
    replicas: b.spec.replicas ?? null,
    placements,
    decisions: (b.status?.schedulingDecisions ?? []).map((d) => ({
      clusterName: d.clusterName,
      outcome: d.outcome,
      ...(d.score !== undefined && { score: d.score }),
      ...(d.replicas !== undefined && { replicas: d.replicas }),
      reasons: d.reasons ?? [],
    })),
    conditions: conditions(b.status?.conditions),
    evictions: (b.spec.gracefulEvictionTasks ?? []).map((t) => ({
      fromCluster: t.fromCluster,
      reason: t.reason,
      message: t.message ?? '',
    })),
    lastScheduledTime: b.status?.lastScheduledTime ?? '',
  };
}

function overridesOf(manifest: Record<string, unknown>): unknown[] {
  const meta = manifest.metadata as { annotations?: Record<string, string> } | undefined;
  const raw = meta?.annotations?.[Annotations.appliedOverrides];
  if (raw === undefined) return [];
  try {
    const parsed: unknown = JSON.parse(raw);
    return Array.isArray(parsed) ? parsed : [parsed];
  } catch {
    return [raw];
  }
}

export function workView(w: Work): WorkView {
  const labels = w.metadata.labels ?? {};
  const statuses = w.status?.manifestStatuses ?? [];
  const manifests: ManifestView[] = w.spec.workload.manifests.map((m, ordinal) => {
    const manifest = m as Record<string, unknown>;
    const meta = (manifest.metadata ?? {}) as { namespace?: string; name?: string };
    const st = statuses.find((s) => s.identifier.ordinal === ordinal);
    return {
      kind: str(manifest.kind),
      namespace: meta.namespace ?? '',
      name: meta.name ?? '',
      overrides: overridesOf(manifest),
      applied: st?.applied ?? null,
      health: st?.health ?? 'Unknown',
      message: st?.message ?? '',
    };
  });
  return {
    key: `${w.metadata.namespace ?? ''}/${w.metadata.name ?? ''}`,
    cluster: labels[Labels.cluster] ?? '',
    binding: `${labels[Labels.bindingNamespace] ?? ''}/${labels[Labels.bindingName] ?? ''}`,
    conditions: conditions(w.status?.conditions),
    manifests,
  };
}

/** An events.k8s.io/v1 Event (the recorder's shape). */
interface Event extends KubeObject {
  readonly reason?: string;
  readonly note?: string;
  readonly eventTime?: string;
  readonly reportingController?: string;
  readonly regarding?: { kind?: string; namespace?: string; name?: string };
  readonly series?: { count?: number; lastObservedTime?: string };
  readonly deprecatedCount?: number;
  readonly deprecatedLastTimestamp?: string;
}

export function eventView(e: Event): EventView {
  return {
    key: `${e.metadata?.namespace ?? ''}/${e.metadata?.name ?? ''}`,
    reason: e.reason ?? '',
    note: e.note ?? '',
    regarding: {
      kind: e.regarding?.kind ?? '',
      namespace: e.regarding?.namespace ?? '',
      name: e.regarding?.name ?? '',
    },
    count: e.series?.count ?? e.deprecatedCount ?? 1,
    time:
      e.series?.lastObservedTime ??
      e.deprecatedLastTimestamp ??
      e.eventTime ??
      e.metadata?.creationTimestamp ??
      '',
    controller: e.reportingController ?? '',
  };
}
