/**
 * `meridian get [type[/name]]`: the bindings on the hub (one per propagated object), with
 * where each object was placed and how it is doing in each cluster.
 */
import type { Command } from 'commander';
import { Kinds, type ClusterResourceBinding, type Condition, type ResourceBinding } from '../api/index.ts';
import { DEPENDENCY_LABEL, bindingName } from '../controllers/detector/binding-for.ts';
import { Resources } from '../controllers/resources.ts';
import type { ApiClient } from '../kube/api-client.ts';
import { NotFoundError } from '../kube/errors.ts';
import { notFound, reportErrors, usageError } from './exit-codes.ts';
import { listAll, withHub } from './hub-kubeconfig.ts';
import { outputOption, render, type OutputFormat } from './output.ts';
import { formatTable, placementCells } from './placement-report.ts';
import { parseTypeAndName, resolveType, type ServedType } from './resource-types.ts';

export type AnyBinding = ResourceBinding | ClusterResourceBinding;

/** A condition as the CLI prints it; `status` is `Unknown` when the condition is absent. */
export interface ConditionSummary {
  readonly status: string;
  readonly reason: string | null;
  readonly message: string | null;
}

/** How one object is doing in one target cluster. */
export interface ClusterPlacement {
  readonly name: string;
  /** The cluster's share, for kinds with replicas. */
  readonly replicas: number | null;
  readonly applied: boolean | null;
  /** Why it is not applied, when it is not. */
  readonly message: string | null;
  readonly health: string | null;
  readonly readyReplicas: number | null;
}

/** A binding as `meridian get -o json|yaml` prints it (one of `items`). */
export interface BindingSummary {
  /** The object's namespace; `null` for cluster-scoped objects. */
  readonly namespace: string | null;
  readonly resource: { readonly apiVersion: string; readonly kind: string; readonly name: string };
  readonly binding: { readonly kind: string; readonly name: string };
  /** The policy that claimed the object; `null` for a dependency placed with its workloads. */
  readonly policy: { readonly kind: string; readonly namespace: string | null; readonly name: string } | null;
  readonly dependency: boolean;
  /** The template's replicas (kinds with replicas only). */
  readonly replicas: number | null;
  /** Ready replicas summed over the target clusters, and their desired sum (kinds with replicas only). */
  readonly ready: { readonly ready: number; readonly desired: number } | null;
  readonly scheduled: ConditionSummary;
  readonly fullyApplied: ConditionSummary;
  readonly clusters: readonly ClusterPlacement[];
}

export function conditionSummary(
  conditions: readonly Condition[] | undefined,
  type: string,
): ConditionSummary {
  const c = conditions?.find((x) => x.type === type);
  return { status: c?.status ?? 'Unknown', reason: c?.reason ?? null, message: c?.message ?? null };
}

const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);

export function bindingSummary(b: AnyBinding): BindingSummary {
  const r = b.spec.resource;
  const statuses = new Map((b.status?.aggregatedStatus ?? []).map((s) => [s.clusterName, s]));
  const replicated = b.spec.replicas !== undefined;
  const clusters = (b.spec.clusters ?? []).map((c): ClusterPlacement => {
    const s = statuses.get(c.name);
    return {
      name: c.name,
      replicas: replicated ? c.replicas : null,
      applied: s?.applied ?? null,
      message: s?.applied === true ? null : (s?.appliedMessage ?? null),
      health: s?.health ?? null,
      readyReplicas: replicated ? (num(s?.status?.['readyReplicas']) ?? 0) : null,
    };
  });
  const ref = b.spec.policyRef;
  const labels = b.metadata.labels ?? {};
  return {
    namespace: b.kind === Kinds.ClusterResourceBinding ? null : (b.metadata.namespace ?? r.namespace ?? null),
    resource: { apiVersion: r.apiVersion, kind: r.kind, name: r.name },
    binding: { kind: b.kind, name: b.metadata.name ?? '' },
    policy: ref === undefined ? null : { kind: ref.kind, namespace: ref.namespace ?? null, name: ref.name },
    dependency: labels[DEPENDENCY_LABEL] === 'true',
    replicas: b.spec.replicas ?? null,
    ready: replicated
      ? {
          ready: clusters.reduce((n, c) => n + (c.readyReplicas ?? 0), 0),
          desired: clusters.reduce((n, c) => n + (c.replicas ?? 0), 0),
        }
      : null,
    scheduled: conditionSummary(b.status?.conditions, 'Scheduled'),
    fullyApplied: conditionSummary(b.status?.conditions, 'FullyApplied'),
    clusters,
  };
}

/** `n/m` of the target clusters for which `test` holds; `-` without targets. */
function countOf(clusters: readonly ClusterPlacement[], test: (c: ClusterPlacement) => boolean): string {
  return clusters.length === 0 ? '-' : `${clusters.filter(test).length}/${clusters.length}`;
}

/**
 * The table: a column per cluster any listed object is placed on (`ready/desired` or
 * `applied`/`pending`, `-` where not placed), READY summed over clusters, SCHEDULED, and how
 * many target clusters report it APPLIED and HEALTHY.
 */
export function formatBindings(
  items: readonly BindingSummary[],
  opts: { readonly namespaceColumn: boolean },
): string {
  const clusters = [...new Set(items.flatMap((i) => i.clusters.map((c) => c.name)))].sort();
  const header = [
    ...(opts.namespaceColumn ? ['NAMESPACE'] : []),
    'OBJECT',
    ...clusters.map((c) => c.toUpperCase()),
    'READY',
    'SCHEDULED',
    'APPLIED',
    'HEALTHY',
  ];
  const rows = items.map((i) => {
    const cells = placementCells(
      {
        spec: {
          clusters: i.clusters.map((c) => ({
            name: c.name,
            ...(c.replicas === null ? {} : { replicas: c.replicas }),
          })),
        },
        status: {
          aggregatedStatus: i.clusters.map((c) => ({
            clusterName: c.name,
            ...(c.applied === null ? {} : { applied: c.applied }),
            ...(c.readyReplicas === null ? {} : { status: { readyReplicas: c.readyReplicas } }),
          })),
        },
      },
      clusters,
    );
    return [
      ...(opts.namespaceColumn ? [i.namespace ?? '-'] : []),
      `${i.resource.kind}/${i.resource.name}`,
      ...clusters.map((c) => cells[c] ?? '-'),
      i.ready === null ? '-' : `${i.ready.ready}/${i.ready.desired}`,
      i.scheduled.status,
      countOf(i.clusters, (c) => c.applied === true),
      countOf(i.clusters, (c) => c.health === 'Healthy'),
    ];
  });
  return formatTable(header, rows);
}

const groupOf = (apiVersion: string): string =>
  apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';

function sortSummaries(items: BindingSummary[]): BindingSummary[] {
  const key = (i: BindingSummary) => `${i.namespace ?? ''}\u0000${i.resource.kind}/${i.resource.name}`;
  return items.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

interface Options {
  readonly namespace?: string;
  readonly allNamespaces?: boolean;
  readonly selector?: string;
  readonly output: OutputFormat;
  readonly kubeconfig?: string;
}

/** The bindings `meridian get` lists, and the object named (for messages), if one was. */
async function findBindings(
  client: ApiClient,
  type: ServedType | undefined,
  name: string | undefined,
  namespace: string | undefined,
  selector: string | undefined,
): Promise<AnyBinding[]> {
  const sel = selector === undefined ? {} : { labelSelector: selector };
  const ns = namespace === undefined ? {} : { namespace };
  const isBindingType =
    type !== undefined &&
    type.group === Resources.ResourceBinding.group &&
    (type.kind === Kinds.ResourceBinding || type.kind === Kinds.ClusterResourceBinding);
  if (type === undefined || isBindingType) {
    const wantRb = type === undefined || type.kind === Kinds.ResourceBinding;
    const wantCrb =
      type?.kind === Kinds.ClusterResourceBinding || (type === undefined && namespace === undefined);
    const out: AnyBinding[] = [];
    if (wantRb)
      out.push(...(await listAll<ResourceBinding>(client, Resources.ResourceBinding, { ...ns, ...sel })));
    if (wantCrb)
      out.push(...(await listAll<ClusterResourceBinding>(client, Resources.ClusterResourceBinding, sel)));
    return name === undefined ? out : out.filter((b) => b.metadata.name === name);
  }
  const rt = type.scope === 'Cluster' ? Resources.ClusterResourceBinding : Resources.ResourceBinding;
  const matches = (b: AnyBinding) =>
    b.spec.resource.kind === type.kind &&
    groupOf(b.spec.resource.apiVersion) === type.group &&
    (name === undefined || b.spec.resource.name === name);
  if (name !== undefined && selector === undefined) {
    try {
      const b = await client.get<AnyBinding>(rt, {
        ...(type.scope === 'Cluster' ? {} : ns),
        name: bindingName({ kind: type.kind, metadata: { name } }),
      });
      return matches(b) ? [b] : [];
    } catch (err) {
      if (err instanceof NotFoundError) return [];
      throw err;
    }
  }
  const all = await listAll<AnyBinding>(client, rt, { ...(type.scope === 'Cluster' ? {} : ns), ...sel });
  return all.filter(matches);
}

/** Why nothing was found for a named object: it does not exist, or nothing propagates it. */
async function missingMessage(
  client: ApiClient,
  type: ServedType,
  name: string,
  namespace: string | undefined,
): Promise<string> {
  const where = type.scope === 'Cluster' || namespace === undefined ? name : `${namespace}/${name}`;
  const what = `${type.kind.toLowerCase()} ${where}`;
  if (type.kind === Kinds.ResourceBinding || type.kind === Kinds.ClusterResourceBinding) {
    return `no ${what} on the hub; \`meridian get${namespace === undefined ? ' -A' : ` -n ${namespace}`}\` lists the bindings`;
  }
  try {
    await client.get(type, {
      ...(type.scope === 'Cluster' || namespace === undefined ? {} : { namespace }),
      name,
    });
  } catch (err) {
    if (err instanceof NotFoundError) {
      return `no ${what} on the hub (kubectl get ${type.resource}${type.scope === 'Cluster' ? '' : ` -n ${namespace}`} lists them)`;
    }
    throw err;
  }
  return (
    `${what} is not propagated: no PropagationPolicy or ClusterPropagationPolicy selects it ` +
    '(or `meridian controllers` are not running); `meridian describe` says more'
  );
}

export async function runGet(
  first: string | undefined,
  second: string | undefined,
  opts: Options,
): Promise<void> {
  const parsed = first === undefined ? undefined : parseTypeAndName(first, second, 'get');
  if (opts.allNamespaces === true && opts.namespace !== undefined) {
    throw usageError('give -n <namespace> or -A, not both');
  }
  if (opts.allNamespaces === true && parsed?.name !== undefined) {
    throw usageError(`a name needs one namespace: use -n <namespace> instead of -A`);
  }
  const items = await withHub(opts.kubeconfig, async (hub) => {
    const type = parsed === undefined ? undefined : await resolveType(hub.client, parsed.type);
    const namespace = opts.allNamespaces === true ? undefined : (opts.namespace ?? hub.namespace);
    const found = await findBindings(hub.client, type, parsed?.name, namespace, opts.selector);
    if (found.length === 0 && type !== undefined && parsed?.name !== undefined) {
      throw notFound(await missingMessage(hub.client, type, parsed.name, namespace));
    }
    if (found.length === 0 && opts.output === 'table') {
      process.stderr.write(
        namespace === undefined
          ? 'No bindings: nothing is propagated yet (a PropagationPolicy selects what goes where).\n'
          : `No bindings in namespace ${namespace}${opts.selector === undefined ? '' : ` matching ${opts.selector}`}.\n`,
      );
    }
    return sortSummaries(found.map(bindingSummary));
  });
  if (items.length > 0 || opts.output !== 'table') {
    const namespaceColumn = opts.allNamespaces === true;
    process.stdout.write(render(opts.output, { items }, () => formatBindings(items, { namespaceColumn })));
  }
}

/** Adds `meridian get` to `program`. */
export function registerGet(program: Command): void {
  program
    .command('get')
    .description('list propagated objects (their bindings): placement and status per cluster')
    .argument('[type]', 'only objects of this type (deployment, configmaps, rb, …), or <type>/<name>')
    .argument('[name]', 'only this object (exit 3 if it is not propagated)')
    .option('-n, --namespace <ns>', "namespace (default: the kubeconfig context's, else default)")
    .option('-A, --all-namespaces', 'every namespace, and cluster-scoped objects')
    .option(
      '-l, --selector <selector>',
      'only bindings whose labels match (e.g. meridian.dev/policy-name=web)',
    )
    .addOption(outputOption())
    .option('--kubeconfig <file>', 'hub kubeconfig (default: $KUBECONFIG, then ~/.kube/config)')
    .addHelpText(
      'after',
      `
Columns: one per cluster an object is placed on: ready/desired replicas (kinds with
replicas), applied or pending (other kinds), - where it is not placed. READY sums ready
and desired replicas over the clusters; SCHEDULED is the binding's Scheduled condition;
APPLIED and HEALTHY count the target clusters that report the object applied / Healthy.
-o json|yaml prints { items: [...] } with every field (docs/cli.md).

Exit codes: 0 listed (also when empty); 1 usage (e.g. an unknown type); 2 hub unreachable
or refused; 3 a named object has no binding (it does not exist, or nothing propagates it).

Examples:
  meridian get -n shop
  meridian get deployment/frontend -n shop -o json
  meridian get -A -l meridian.dev/policy-name=shop-by-region`,
    )
    .action(
      reportErrors(async (type: string | undefined, name: string | undefined, opts: Options) => {
        await runGet(type, name, opts);
      }),
    );
}
