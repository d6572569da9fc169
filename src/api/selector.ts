/**
 * Selector semantics of the API: label selectors (as `metav1.LabelSelector`), field
 * selectors over a cluster's provider/region/zone, and `ClusterAffinity`. Pure; used by the
 * scheduler and the override renderer so both read selectors the same way.
 */
import type { Cluster } from './cluster.ts';
import type { ClusterAffinity, ClusterField, FieldSelector, LabelSelector } from './common.ts';
import { Labels } from './constants.ts';

type LabelMap = Readonly<Record<string, string>> | undefined;

/**
 * Why `labels` do not match `selector`, one reason per failed requirement; empty when they
 * match. An empty selector matches everything (as in Kubernetes).
 */
export function labelSelectorMismatches(labels: LabelMap, selector: LabelSelector): string[] {
  const out: string[] = [];
  const get = (key: string): string | undefined =>
    labels && Object.hasOwn(labels, key) ? labels[key] : undefined;
  for (const [key, want] of Object.entries(selector.matchLabels ?? {})) {
    const got = get(key);
    if (got !== want) out.push(`label ${key}=${want} required, found ${got === undefined ? 'none' : got}`);
  }
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const got = get(key);
    const list = `(${values.join(', ')})`;
    switch (operator) {
      case 'In':
        if (got === undefined || !values.includes(got))
          out.push(`label ${key} ${got ?? 'missing'} not in ${list}`);
        break;
      case 'NotIn':
        if (got !== undefined && values.includes(got)) out.push(`label ${key}=${got} is in ${list}`);
        break;
      case 'Exists':
        if (got === undefined) out.push(`label ${key} missing`);
        break;
      case 'DoesNotExist':
        if (got !== undefined) out.push(`label ${key} present`);
        break;
    }
  }
  return out;
}

export function matchesLabelSelector(labels: LabelMap, selector: LabelSelector): boolean {
  return labelSelectorMismatches(labels, selector).length === 0;
}

const FIELD_LABEL: Record<ClusterField, string> = {
  provider: Labels.provider,
  region: Labels.region,
  zone: Labels.zone,
};

/** A cluster's provider/region/zone, read from its well-known label; `undefined` if unset. */
export function clusterField(cluster: Cluster, field: ClusterField): string | undefined {
  const labels = cluster.metadata.labels;
  const key = FIELD_LABEL[field];
  return labels && Object.hasOwn(labels, key) ? labels[key] : undefined;
}

/** Why `cluster` does not match `selector`; empty when it matches. */
export function fieldSelectorMismatches(cluster: Cluster, selector: FieldSelector): string[] {
  const out: string[] = [];
  for (const { key, operator, values } of selector.matchExpressions) {
    const got = clusterField(cluster, key);
    const list = `(${values.join(', ')})`;
    if (operator === 'In' && (got === undefined || !values.includes(got))) {
      out.push(`${key} ${got ?? 'unset'} not in ${list}`);
    } else if (operator === 'NotIn' && got !== undefined && values.includes(got)) {
      out.push(`${key} ${got} is in ${list}`);
    }
  }
  return out;
}

/**
 * Why `cluster` is not selected by `affinity`; empty when it is. All criteria must hold;
 * `exclude` is checked first and is reported alone.
 */
export function clusterAffinityMismatches(cluster: Cluster, affinity: ClusterAffinity): string[] {
  const name = cluster.metadata.name ?? '';
  if (affinity.exclude?.includes(name)) return ['cluster is excluded by exclude'];
  const out: string[] = [];
  if (affinity.clusterNames && affinity.clusterNames.length > 0 && !affinity.clusterNames.includes(name)) {
    out.push(`cluster not in clusterNames (${affinity.clusterNames.join(', ')})`);
  }
  if (affinity.labelSelector) {
    out.push(
      ...labelSelectorMismatches(cluster.metadata.labels, affinity.labelSelector).map(
        (r) => `labelSelector: ${r}`,
      ),
    );
  }
  if (affinity.fieldSelector) {
    out.push(...fieldSelectorMismatches(cluster, affinity.fieldSelector).map((r) => `fieldSelector: ${r}`));
  }
  return out;
}

export function matchesClusterAffinity(cluster: Cluster, affinity: ClusterAffinity): boolean {
  return clusterAffinityMismatches(cluster, affinity).length === 0;
}
