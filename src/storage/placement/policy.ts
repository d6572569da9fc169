/**
 * Volume placement policy: where a volume's replicas may and must live.
 *
 * A selector matches a node when every key/value pair equals the node's label.
 * Replica rules add up: `[{region: asia} × 2, {region: us} × 2, {site: onprem-dc1} × 2]`
 * asks for six replicas on six distinct nodes; a node fills at most one slot, even if
 * it matches several rules.
 */
export type LabelSelector = Readonly<Record<string, string>>;

export type ReplicaRule = { readonly selector: LabelSelector; readonly count: number };

export type VolumePolicy = {
  readonly replicas: readonly ReplicaRule[];
  /** Sovereignty: if non-empty, every replica's node must match at least one selector. */
  readonly allowed?: readonly LabelSelector[];
  /** Sovereignty: no replica's node may match any of these selectors. */
  readonly forbidden?: readonly LabelSelector[];
};

/** What placement needs to know about a storage node (from its reported status). */
export type CandidateNode = {
  readonly nodeId: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly freeBytes: number;
  readonly health: 'ok' | 'degraded' | 'unreachable';
};

export function matches(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** `region=asia,tier=ssd` — stable (sorted) so explanations are deterministic. */
export function describeSelector(selector: LabelSelector): string {
  const parts = Object.entries(selector)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`);
  return parts.length === 0 ? '(any node)' : parts.join(',');
}

export function describeRule(index: number, rule: ReplicaRule): string {
  return `replicas[${index}] (${describeSelector(rule.selector)}: ${rule.count})`;
}
