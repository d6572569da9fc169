import type { ClusterPropagationPolicy, PropagationPolicy } from '../../api/propagation-policy.ts';
import type { ResourceSelector } from '../../api/common.ts';
import { matchesLabelSelector } from '../../api/selector.ts';
import type { KubeObject } from '../../kube/wire.ts';

export type AnyPropagationPolicy = PropagationPolicy | ClusterPropagationPolicy;

/** How specifically a selector names an object: by name beats by labels beats by kind. */
const Specificity = { name: 3, labels: 2, kind: 1 } as const;

/** The specificity of the first selector of `policy` that selects `obj`, or 0 when none does. */
export function selectorMatch(
  selectors: readonly ResourceSelector[],
  obj: KubeObject,
  namespaced: boolean,
): number {
  let best = 0;
  const meta = obj.metadata ?? {};
  for (const s of selectors) {
    if (s.apiVersion !== obj.apiVersion || s.kind !== obj.kind) continue;
    if (s.namespace !== undefined && s.namespace !== '' && namespaced && s.namespace !== meta.namespace)
      continue;
    if (s.name !== undefined && s.name !== '') {
      if (s.name === meta.name) best = Math.max(best, Specificity.name);
      continue;
    }
    if (s.labelSelector !== undefined) {
      if (matchesLabelSelector(meta.labels, s.labelSelector)) best = Math.max(best, Specificity.labels);
      continue;
    }
    best = Math.max(best, Specificity.kind);
  }
  return best;
}

/**
 * The policy that claims `obj`, or `undefined`. Among matching policies (a PropagationPolicy
 * only matches objects in its own namespace): highest `priority`; then a PropagationPolicy
 * over a ClusterPropagationPolicy; then the most specific selector (name, then labels, then
 * kind); then the lexically first name — so the choice is total and stable.
 */
export function choosePolicy(
  obj: KubeObject,
  policies: readonly AnyPropagationPolicy[],
): AnyPropagationPolicy | undefined {
  const namespaced = obj.metadata?.namespace !== undefined && obj.metadata.namespace !== '';
  let best: { p: AnyPropagationPolicy; rank: readonly [number, number, number] } | undefined;
  for (const p of policies) {
    if (p.metadata.deletionTimestamp !== undefined) continue;
    const isPP = p.kind === 'PropagationPolicy';
    if (isPP && p.metadata.namespace !== obj.metadata?.namespace) continue;
    const specificity = selectorMatch(p.spec.resourceSelectors, obj, namespaced);
    if (specificity === 0) continue;
    const rank = [p.spec.priority ?? 0, isPP ? 1 : 0, specificity] as const;
    if (
      best === undefined ||
      compare(rank, best.rank) > 0 ||
      (compare(rank, best.rank) === 0 && (p.metadata.name ?? '') < (best.p.metadata.name ?? ''))
    ) {
      best = { p, rank };
    }
  }
  return best?.p;
}

function compare(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0);
  return 0;
}
