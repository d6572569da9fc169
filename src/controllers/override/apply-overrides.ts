/**
 * Renders one manifest for one cluster: applies the override policies that select the
 * resource, in a fixed, documented order, and reports what was applied.
 *
 * Order (later wins where two touch the same field):
 * 1. ClusterOverridePolicy before OverridePolicy (the namespace owner refines the cluster admin);
 * 2. within a kind, by namespace then name;
 * 3. within a policy, overrideRules in order; a rule applies only when its targetCluster
 *    selects the cluster (no targetCluster: every cluster);
 * 4. within a rule: image, command, args, labels, annotations, plaintext (JSON patch).
 */
import {
  Kinds,
  matchesClusterAffinity,
  type Cluster,
  type ClusterOverridePolicy,
  type CommandArgsOverrider,
  type ImageOverrider,
  type MapOverrider,
  type OverridePolicy,
  type Overriders,
  type PlaintextOverrider,
} from '../../api/index.ts';
import { formatImage, parseImage, type ImageRef } from './image.ts';
import { applyPatch, JsonPatchError } from './json-patch.ts';

export type AnyOverridePolicy = OverridePolicy | ClusterOverridePolicy;
type Manifest = Record<string, unknown>;

export type OverriderKind = keyof Overriders;

/** One overrider that ran, and whether it changed the manifest. */
export interface AppliedOverrider {
  /** `ClusterOverridePolicy/<name>` or `OverridePolicy/<namespace>/<name>`. */
  readonly policy: string;
  readonly rule: number;
  readonly overrider: OverriderKind;
  readonly index: number;
  readonly changed: boolean;
}

export interface RenderResult {
  readonly manifest: Manifest;
  readonly applied: AppliedOverrider[];
}

/** An overrider that cannot apply to this manifest; names the policy, rule and overrider. */
export class OverrideError extends Error {
  readonly code = 'Invalid';
  readonly field: string;
  readonly reason: string;
  constructor(field: string, reason: string, cause?: unknown) {
    super(`${field}: ${reason}`, cause === undefined ? undefined : { cause });
    this.name = 'OverrideError';
    this.field = field;
    this.reason = reason;
  }
}

type AnyOverrider = ImageOverrider | CommandArgsOverrider | MapOverrider | PlaintextOverrider;

const RULE_ORDER: readonly OverriderKind[] = [
  'imageOverrider',
  'commandOverrider',
  'argsOverrider',
  'labelsOverrider',
  'annotationsOverrider',
  'plaintext',
];

const policyId = (p: AnyOverridePolicy) =>
  p.kind === Kinds.ClusterOverridePolicy
    ? `ClusterOverridePolicy/${p.metadata.name ?? ''}`
    : `OverridePolicy/${p.metadata.namespace ?? ''}/${p.metadata.name ?? ''}`;

/** `policies` sorted into application order (see the module doc). */
export function orderPolicies(policies: readonly AnyOverridePolicy[]): AnyOverridePolicy[] {
  const rank = (p: AnyOverridePolicy) => (p.kind === Kinds.ClusterOverridePolicy ? 0 : 1);
  const key = (p: AnyOverridePolicy) => `${p.metadata.namespace ?? ''}/${p.metadata.name ?? ''}`;
  return [...policies].sort((a, b) => rank(a) - rank(b) || (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/**
 * Applies `policies` to a copy of `manifest` for `cluster`. `manifest` is not modified.
 *
 * Assumes the caller passes the policies whose resourceSelectors select the manifest; the
 * rules' targetCluster is checked here. Throws {@link OverrideError} when an overrider cannot
 * apply (a JSON patch to a missing path, removing an image's repository…); nothing is
 * partially returned.
 */
export function applyOverrides(
  manifest: Readonly<Manifest>,
  cluster: Cluster,
  policies: readonly AnyOverridePolicy[],
): RenderResult {
  const out = structuredClone(manifest) as Manifest;
  const applied: AppliedOverrider[] = [];
  for (const policy of orderPolicies(policies)) {
    const id = policyId(policy);
    policy.spec.overrideRules.forEach((rule, r) => {
      if (rule.targetCluster && !matchesClusterAffinity(cluster, rule.targetCluster)) return;
      for (const kind of RULE_ORDER) {
        const list: readonly AnyOverrider[] = rule.overriders[kind] ?? [];
        list.forEach((o, i) => {
          const field = `${id}: overrideRules[${r}].overriders.${kind}[${i}]`;
          const before = JSON.stringify(out);
          try {
            apply(out, kind, o);
          } catch (err) {
            if (err instanceof OverrideError)
              throw new OverrideError(`${field}${err.field}`, err.reason, err);
            if (err instanceof JsonPatchError) throw new OverrideError(field, err.message, err);
            throw err;
          }
          applied.push({
            policy: id,
            rule: r,
            overrider: kind,
            index: i,
            changed: JSON.stringify(out) !== before,
          });
        });
      }
    });
  }
  return { manifest: out, applied };
}

/** Applies one overrider; `o` is of the type `kind` names (the caller reads it from that key). */
function apply(m: Manifest, kind: OverriderKind, o: AnyOverrider): void {
  switch (kind) {
    case 'imageOverrider':
      return overrideImages(m, o as ImageOverrider);
    case 'commandOverrider':
      return overrideCommandArgs(m, 'command', o as CommandArgsOverrider);
    case 'argsOverrider':
      return overrideCommandArgs(m, 'args', o as CommandArgsOverrider);
    case 'labelsOverrider':
      return overrideMap(m, 'labels', o as MapOverrider);
    case 'annotationsOverrider':
      return overrideMap(m, 'annotations', o as MapOverrider);
    case 'plaintext': {
      const p = o as PlaintextOverrider;
      if (p.operator !== 'remove' && p.value === undefined) {
        throw new OverrideError('.value', `required for operator ${p.operator}`);
      }
      return applyPatch(m, p.operator, p.path, p.value);
    }
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function at(m: unknown, path: readonly string[]): unknown {
  let cur = m;
  for (const p of path) cur = Array.isArray(cur) ? cur[Number(p)] : isObject(cur) ? cur[p] : undefined;
  return cur;
}

/**
 * The pod specs of a workload: a Pod's `spec`, a CronJob's job template's pod template, or
 * any kind's `spec.template.spec` (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job…).
 */
export function podSpecs(m: Manifest): Record<string, unknown>[] {
  const candidates =
    m['kind'] === 'Pod'
      ? [at(m, ['spec'])]
      : m['kind'] === 'CronJob'
        ? [at(m, ['spec', 'jobTemplate', 'spec', 'template', 'spec'])]
        : [at(m, ['spec', 'template', 'spec'])];
  return candidates.filter(isObject);
}

/** Containers and init containers of every pod spec. */
function containers(m: Manifest): Record<string, unknown>[] {
  return podSpecs(m).flatMap((spec) =>
    ['initContainers', 'containers'].flatMap((k) => (Array.isArray(spec[k]) ? spec[k].filter(isObject) : [])),
  );
}

/**
 * Image component semantics: `add` appends `value` to the component, `replace` sets it,
 * `remove` clears it. Replacing the tag drops a digest (it would pin other content);
 * removing the repository is an error (no image is left).
 */
export function overrideImage(image: string, o: ImageOverrider): string {
  const ref = parseImage(image);
  const value = o.value ?? '';
  const key = ({ Registry: 'registry', Repository: 'repository', Tag: 'tag' } as const)[o.component];
  const next: Record<keyof ImageRef, string> = { ...ref };
  next[key] = o.operator === 'add' ? ref[key] + value : o.operator === 'replace' ? value : '';
  if (!next.repository)
    throw new OverrideError('.component', `cannot ${o.operator} the repository of ${image}: no image left`);
  if (key === 'tag' && o.operator !== 'remove') next.digest = '';
  return formatImage(next);
}

function overrideImages(m: Manifest, o: ImageOverrider): void {
  if (o.predicate) {
    const current = at(
      m,
      o.predicate.path
        .slice(1)
        .split('/')
        .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~')),
    );
    if (typeof current !== 'string') {
      throw new OverrideError(
        '.predicate.path',
        `${o.predicate.path} is not an image string in the manifest`,
      );
    }
    applyPatch(m, 'replace', o.predicate.path, overrideImage(current, o));
    return;
  }
  for (const c of containers(m))
    if (typeof c['image'] === 'string') c['image'] = overrideImage(c['image'], o);
}

/** `add` appends the values; `remove` deletes every occurrence of each. Unknown container: no change. */
function overrideCommandArgs(m: Manifest, field: 'command' | 'args', o: CommandArgsOverrider): void {
  for (const c of containers(m)) {
    if (c['name'] !== o.containerName) continue;
    const current = Array.isArray(c[field]) ? (c[field] as unknown[]) : [];
    c[field] =
      o.operator === 'add' ? [...current, ...o.value] : current.filter((v) => !o.value.includes(String(v)));
  }
}

/** `add` sets keys (creating or overwriting), `replace` changes only keys present, `remove` deletes keys. */
function overrideMap(m: Manifest, field: 'labels' | 'annotations', o: MapOverrider): void {
  const metadata = isObject(m['metadata']) ? m['metadata'] : (m['metadata'] = {});
  const map: Record<string, unknown> = isObject(metadata[field]) ? metadata[field] : {};
  for (const [k, v] of Object.entries(o.value)) {
    if (o.operator === 'add') map[k] = v;
    else if (o.operator === 'replace' && Object.hasOwn(map, k)) map[k] = v;
    else if (o.operator === 'remove') Reflect.deleteProperty(map, k);
  }
  if (Object.keys(map).length > 0 || isObject(metadata[field])) metadata[field] = map;
}
