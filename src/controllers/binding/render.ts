import { createHash } from 'node:crypto';
import type { Cluster } from '../../api/cluster.ts';
import { API_VERSION, Annotations, clusterNamespace, Kinds, Labels } from '../../api/constants.ts';
import type { ResourceBinding } from '../../api/resource-binding.ts';
import type { KubeObject } from '../../kube/wire.ts';
import { selectorMatch } from '../detector/match.ts';
import { hasReplicas } from '../detector/workload.ts';
import { applyOverrides, type AnyOverridePolicy } from '../override/apply-overrides.ts';

/** Metadata the hub's API server sets, which must never be copied to a member. */
const serverMetadata = [
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'ownerReferences',
  'finalizers',
  'selfLink',
] as const;

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** The template as a member should get it: no status, no server-set metadata, no hub-only annotations. */
export function cleanTemplate(template: KubeObject): Record<string, unknown> {
  const {
    status: _status,
    metadata,
    ...rest
  } = structuredClone(template) as KubeObject & { status?: unknown };
  const drop = new Set<string>(serverMetadata);
  const meta = Object.fromEntries(Object.entries(metadata ?? {}).filter(([k]) => !drop.has(k)));
  const annotations = Object.fromEntries(
    Object.entries((meta.annotations as Record<string, string> | undefined) ?? {}).filter(
      ([k]) => k !== LAST_APPLIED,
    ),
  );
  if (Object.keys(annotations).length > 0) meta.annotations = annotations;
  else delete meta.annotations;
  // A Service's cluster IPs are allocated by each cluster.
  const spec = (rest as { spec?: Record<string, unknown> }).spec;
  if (template.kind === 'Service' && template.apiVersion === 'v1' && spec) {
    delete spec.clusterIP;
    delete spec.clusterIPs;
  }
  return { ...rest, metadata: meta };
}

/** The override policies that select `template`: OverridePolicies of its namespace and every matching ClusterOverridePolicy. */
export function overridesFor(
  template: KubeObject,
  policies: readonly AnyOverridePolicy[],
): AnyOverridePolicy[] {
  const ns = template.metadata?.namespace;
  return policies.filter((p) => {
    if (p.metadata.deletionTimestamp !== undefined) return false;
    if (p.kind === Kinds.OverridePolicy && p.metadata.namespace !== ns) return false;
    return selectorMatch(p.spec.resourceSelectors ?? [], template, ns !== undefined && ns !== '') > 0;
  });
}

export interface Rendered {
  readonly manifest: Record<string, unknown>;
  /** `ClusterOverridePolicy/x: overrideRules[0].overriders.imageOverrider[0]`… that changed the manifest. */
  readonly overrides: readonly string[];
}

/**
 * The manifest for one cluster: the cleaned template, its replicas set to the cluster's
 * share when the binding divides them, then the override policies applied in their
 * documented order. Throws `OverrideError` when an overrider cannot apply.
 */
export function renderFor(
  template: KubeObject,
  binding: ResourceBinding,
  cluster: Cluster,
  replicas: number | undefined,
  policies: readonly AnyOverridePolicy[],
): Rendered {
  const manifest = cleanTemplate(template);
  if (
    replicas !== undefined &&
    binding.spec.replicas !== undefined &&
    hasReplicas(template.apiVersion ?? '', template.kind ?? '')
  ) {
    (manifest.spec as Record<string, unknown>).replicas = replicas;
  }
  const { manifest: out, applied } = applyOverrides(manifest, cluster, policies);
  const overrides = applied
    .filter((a) => a.changed)
    .map((a) => `${a.policy}: overrideRules[${a.rule}].overriders.${a.overrider}[${a.index}]`);
  return { manifest: out, overrides };
}

/**
 * The Work name for a binding: `rb.<namespace>.<name>` or `crb.<name>` (namespace names have
 * no dots, so the two never collide); hashed when it would pass the 253-character limit.
 */
export function workName(binding: {
  kind?: string;
  metadata: { name?: string; namespace?: string };
}): string {
  const name = binding.metadata.name ?? '';
  const full =
    binding.kind === Kinds.ClusterResourceBinding
      ? `crb.${name}`
      : `rb.${binding.metadata.namespace}.${name}`;
  if (full.length <= 253) return full;
  const h = createHash('sha256').update(full).digest('hex').slice(0, 10);
  return `${full.slice(0, 242)}.${h}`;
}

export function bindingLabels(binding: {
  metadata: { name?: string; namespace?: string };
}): Record<string, string> {
  return {
    [Labels.bindingName]: labelValue(binding.metadata.name ?? ''),
    ...(binding.metadata.namespace && { [Labels.bindingNamespace]: binding.metadata.namespace }),
  };
}

/** Label values are at most 63 characters; longer binding names are hashed to fit. */
export function labelValue(v: string): string {
  if (v.length <= 63) return v;
  return `${v.slice(0, 52)}-${createHash('sha256').update(v).digest('hex').slice(0, 10)}`;
}

/**
 * The Work object the binding controller applies for one cluster; `replicas` is the cluster's
 * share (`spec.clusters[].replicas`), recorded in {@link Annotations.scheduledReplicas}.
 */
export function workFor(
  binding: ResourceBinding,
  cluster: string,
  rendered: Rendered,
  replicas?: number,
): KubeObject & { spec: unknown } {
  const manifest = rendered.manifest as { metadata?: { annotations?: Record<string, string> } };
  if (rendered.overrides.length > 0) {
    manifest.metadata = {
      ...manifest.metadata,
      annotations: {
        ...manifest.metadata?.annotations,
        [Annotations.appliedOverrides]: JSON.stringify(rendered.overrides),
      },
    };
  }
  return {
    apiVersion: API_VERSION,
    kind: Kinds.Work,
    metadata: {
      name: workName(binding),
      namespace: clusterNamespace(cluster),
      labels: { ...bindingLabels(binding), [Labels.cluster]: cluster },
      ...(replicas !== undefined && { annotations: { [Annotations.scheduledReplicas]: String(replicas) } }),
    },
    spec: {
      workload: { manifests: [rendered.manifest] },
      conflictResolution: binding.spec.conflictResolution ?? 'Abort',
    },
  };
}
