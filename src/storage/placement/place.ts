import { describeRule, describeSelector, matches, type CandidateNode, type VolumePolicy } from './policy.ts';

export type NodeVerdict =
  | { readonly nodeId: string; readonly verdict: 'chosen'; readonly rule: number; readonly reason: string }
  | { readonly nodeId: string; readonly verdict: 'spare'; readonly reason: string }
  | { readonly nodeId: string; readonly verdict: 'rejected'; readonly reason: string };

export type Placement =
  | {
      readonly ok: true;
      /** One entry per replica slot, in rule order. */
      readonly replicas: readonly { readonly nodeId: string; readonly rule: number }[];
      readonly explanation: readonly NodeVerdict[];
    }
  | { readonly ok: false; readonly reason: string; readonly explanation: readonly NodeVerdict[] };

/**
 * Places a volume's replicas. Pure and deterministic: the same policy and nodes (in any
 * order) give the same answer.
 *
 * Order of checks, each node's first failing check is its reason:
 * 1. sovereignty (`forbidden`, then `allowed`) — never relaxed;
 * 2. health (`ok` only) and free space (`sizeBytes`);
 * 3. assignment: each rule's slots get distinct nodes (bipartite matching, so overlapping
 *    rules succeed whenever any assignment exists), preferring more free space, then node id.
 * A volume that cannot be placed is refused with the first rule it cannot fill and why.
 */
export function place(policy: VolumePolicy, nodes: readonly CandidateNode[], sizeBytes: number): Placement {
  const sorted = [...nodes].sort((a, b) => b.freeBytes - a.freeBytes || cmp(a.nodeId, b.nodeId));
  const rejected = new Map<string, string>();
  const sovereignRejected = new Map<string, string>();
  for (const n of sorted) {
    const reason = sovereignty(policy, n);
    if (reason !== undefined) {
      rejected.set(n.nodeId, reason);
      sovereignRejected.set(n.nodeId, reason);
    } else if (n.health !== 'ok') rejected.set(n.nodeId, `health is ${n.health}`);
    else if (n.freeBytes < sizeBytes)
      rejected.set(n.nodeId, `free ${n.freeBytes} bytes < volume size ${sizeBytes}`);
  }
  const eligible = sorted.filter((n) => !rejected.has(n.nodeId));

  // Slots in rule order; each lists its eligible nodes in preference order.
  const slots: { rule: number; options: string[] }[] = [];
  policy.replicas.forEach((rule, i) => {
    const options = eligible.filter((n) => matches(rule.selector, n.labels)).map((n) => n.nodeId);
    for (let k = 0; k < rule.count; k++) slots.push({ rule: i, options });
  });

  const owner = new Map<string, number>(); // nodeId → slot index
  const assign = (slot: number, seen: Set<string>): boolean => {
    const options = (slots[slot] as { options: string[] }).options;
    const free = options.find((id) => !owner.has(id) && !seen.has(id));
    if (free !== undefined) {
      owner.set(free, slot);
      return true;
    }
    for (const nodeId of (slots[slot] as { options: string[] }).options) {
      if (seen.has(nodeId)) continue;
      seen.add(nodeId);
      const holder = owner.get(nodeId);
      if (holder === undefined || assign(holder, seen)) {
        owner.set(nodeId, slot);
        return true;
      }
    }
    return false;
  };

  const explain = (): NodeVerdict[] =>
    [...nodes]
      .sort((a, b) => cmp(a.nodeId, b.nodeId))
      .map((n): NodeVerdict => {
        const r = rejected.get(n.nodeId);
        if (r !== undefined) return { nodeId: n.nodeId, verdict: 'rejected', reason: r };
        const slot = owner.get(n.nodeId);
        if (slot !== undefined) {
          const rule = (slots[slot] as { rule: number }).rule;
          return {
            nodeId: n.nodeId,
            verdict: 'chosen',
            rule,
            reason: `fills ${describeRule(rule, policy.replicas[rule] as VolumePolicy['replicas'][number])}`,
          };
        }
        const could = policy.replicas.flatMap((rule, i) =>
          matches(rule.selector, n.labels) ? [describeRule(i, rule)] : [],
        );
        return {
          nodeId: n.nodeId,
          verdict: could.length === 0 ? 'rejected' : 'spare',
          reason:
            could.length === 0
              ? 'matches no replica rule'
              : `eligible for ${could.join(', ')} but not needed`,
        };
      });

  for (let s = 0; s < slots.length; s++) {
    if (assign(s, new Set())) continue;
    const ruleIndex = (slots[s] as { rule: number }).rule;
    const rule = policy.replicas[ruleIndex] as VolumePolicy['replicas'][number];
    const matching = sorted.filter((n) => matches(rule.selector, n.labels));
    const blockedBySovereignty = matching.filter((n) => sovereignRejected.has(n.nodeId));
    const otherRejected = matching.filter((n) => rejected.has(n.nodeId) && !sovereignRejected.has(n.nodeId));
    const parts = [`${matching.length} node(s) match its selector`];
    if (blockedBySovereignty.length > 0) {
      parts.push(
        `${blockedBySovereignty.length} excluded by sovereignty (${blockedBySovereignty.map((n) => `${n.nodeId}: ${sovereignRejected.get(n.nodeId) ?? ''}`).join('; ')})`,
      );
    }
    if (otherRejected.length > 0) {
      parts.push(
        `${otherRejected.length} unusable (${otherRejected.map((n) => `${n.nodeId}: ${rejected.get(n.nodeId) ?? ''}`).join('; ')})`,
      );
    }
    const usable = matching.length - blockedBySovereignty.length - otherRejected.length;
    if (usable >= rule.count) parts.push('the rest are needed by other rules (one replica per node)');
    return {
      ok: false,
      reason: `cannot place ${describeRule(ruleIndex, rule)}: ${parts.join(', ')}`,
      explanation: explain(),
    };
  }

  // Canonical order: by rule, then node preference (which node took which slot is arbitrary).
  const rank = new Map(sorted.map((n, i) => [n.nodeId, i]));
  const replicas = [...owner.entries()]
    .map(([nodeId, slot]) => ({ nodeId, rule: (slots[slot] as { rule: number }).rule }))
    .sort((a, b) => a.rule - b.rule || (rank.get(a.nodeId) ?? 0) - (rank.get(b.nodeId) ?? 0));
  return { ok: true, replicas, explanation: explain() };
}

function sovereignty(policy: VolumePolicy, n: CandidateNode): string | undefined {
  const forbidden = policy.forbidden ?? [];
  const hit = forbidden.findIndex((sel) => matches(sel, n.labels));
  if (hit >= 0) return `forbidden[${hit}] (${describeSelector(forbidden[hit] ?? {})}) matches`;
  const allowed = policy.allowed ?? [];
  if (allowed.length > 0 && !allowed.some((sel) => matches(sel, n.labels))) {
    return `outside allowed (${allowed.map(describeSelector).join(' | ')})`;
  }
  return undefined;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
