/**
 * `meridian clusters [name...]`: the member clusters the hub knows, with mode, readiness,
 * Kubernetes version, topology and capacity (available/allocatable), from each Cluster's
 * status as the cluster controller writes it (docs/clusters.md).
 */
import type { Command } from 'commander';
import { Labels, parseQuantityMilli, type Cluster } from '../api/index.ts';
import { Resources } from '../controllers/resources.ts';
import { NotFoundError } from '../kube/errors.ts';
import { CliError, ExitCodes, reportErrors, usageError } from './exit-codes.ts';
import { listAll, withHub } from './hub-kubeconfig.ts';
import { outputOption, render, type OutputFormat } from './output.ts';
import { formatTable } from './placement-report.ts';

/** One resource's capacity as reported (Kubernetes quantities), `null` when not reported. */
export interface Capacity {
  readonly allocatable: string | null;
  readonly allocated: string | null;
  readonly available: string | null;
}

/** A cluster as `meridian clusters -o json|yaml` prints it (one of `items`). */
export interface ClusterSummary {
  readonly name: string;
  readonly mode: string;
  readonly ready: {
    readonly status: string;
    readonly reason: string | null;
    readonly message: string | null;
  };
  readonly deleting: boolean;
  readonly kubernetesVersion: string | null;
  readonly region: string | null;
  readonly zone: string | null;
  readonly provider: string | null;
  readonly apiEndpoint: string | null;
  readonly nodes: { readonly ready: number; readonly total: number } | null;
  readonly capacity: { readonly cpu: Capacity; readonly memory: Capacity; readonly pods: Capacity };
  readonly taints: readonly string[];
  readonly lastHeartbeatTime: string | null;
  readonly labels: Readonly<Record<string, string>>;
}

function capacity(c: Cluster, resource: string): Capacity {
  const s = c.status?.resourceSummary;
  const q = (v: string | number | undefined): string | null => (v === undefined ? null : String(v));
  return {
    allocatable: q(s?.allocatable?.[resource]),
    allocated: q(s?.allocated?.[resource]),
    available: q(s?.available?.[resource]),
  };
}

export function clusterSummary(c: Cluster): ClusterSummary {
  const ready = c.status?.conditions?.find((x) => x.type === 'Ready');
  const labels = c.metadata.labels ?? {};
  return {
    name: c.metadata.name ?? '',
    mode: c.spec.syncMode,
    ready: {
      status: ready?.status ?? 'Unknown',
      reason: ready?.reason ?? null,
      message: ready?.message ?? null,
    },
    deleting: c.metadata.deletionTimestamp !== undefined,
    kubernetesVersion: c.status?.kubernetesVersion ?? null,
    region: labels[Labels.region] ?? null,
    zone: labels[Labels.zone] ?? null,
    provider: labels[Labels.provider] ?? null,
    apiEndpoint: c.spec.apiEndpoint ?? null,
    nodes: c.status?.nodeSummary ?? null,
    capacity: { cpu: capacity(c, 'cpu'), memory: capacity(c, 'memory'), pods: capacity(c, 'pods') },
    taints: (c.spec.taints ?? []).map((t) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`),
    lastHeartbeatTime: c.status?.lastHeartbeatTime ?? null,
    labels,
  };
}

const trim = (n: number, digits: number): string => String(Number(n.toFixed(digits)));

/** CPU for people: `250m` under a core, else cores to one decimal (`13.6`). */
export function formatCpu(q: string): string {
  const milli = Number(parseQuantityMilli(q));
  return milli < 1000 ? `${milli}m` : trim(milli / 1000, 1);
}

/** Memory for people: `Gi` to one decimal from 1 Gi, else `Mi`, else `Ki`. */
export function formatMemory(q: string): string {
  const bytes = Number(parseQuantityMilli(q)) / 1000;
  if (bytes >= 2 ** 30) return `${trim(bytes / 2 ** 30, 1)}Gi`;
  if (bytes >= 2 ** 20) return `${trim(bytes / 2 ** 20, 0)}Mi`;
  return `${trim(bytes / 1024, 0)}Ki`;
}

function capacityCell(c: Capacity, format: (q: string) => string): string {
  if (c.available === null || c.allocatable === null) return '-';
  try {
    return `${format(c.available)}/${format(c.allocatable)}`;
  } catch {
    return `${c.available}/${c.allocatable}`;
  }
}

/** The table: capacity cells are `available/allocatable`. */
export function formatClusters(items: readonly ClusterSummary[]): string {
  return formatTable(
    ['NAME', 'MODE', 'READY', 'VERSION', 'REGION', 'PROVIDER', 'NODES', 'CPU', 'MEMORY', 'PODS'],
    items.map((c) => [
      c.name,
      c.mode,
      c.deleting ? 'Deleting' : c.ready.status,
      c.kubernetesVersion ?? '-',
      c.region ?? '-',
      c.provider ?? '-',
      c.nodes === null ? '-' : `${c.nodes.ready}/${c.nodes.total}`,
      capacityCell(c.capacity.cpu, formatCpu),
      capacityCell(c.capacity.memory, formatMemory),
      capacityCell(c.capacity.pods, (q) => String(Number(parseQuantityMilli(q)) / 1000)),
    ]),
  );
}

/** A line per cluster that is not Ready, saying why (the table has no room for it). */
export function notReadyNotes(items: readonly ClusterSummary[]): string[] {
  return items
    .filter((c) => c.ready.status !== 'True')
    .map(
      (c) =>
        `cluster ${c.name} is not Ready` +
        (c.ready.reason === null
          ? ' (no status yet: are `meridian controllers` running?)'
          : ` (${c.ready.reason})`) +
        (c.ready.message ? `: ${c.ready.message}` : ''),
    );
}

interface Options {
  readonly output: OutputFormat;
  readonly selector?: string;
  readonly kubeconfig?: string;
}

export async function runClusters(names: readonly string[], opts: Options): Promise<void> {
  if (names.length > 0 && opts.selector !== undefined) {
    throw usageError('give cluster names or --selector, not both');
  }
  const { clusters, missing } = await withHub(opts.kubeconfig, async (hub) => {
    if (names.length === 0) {
      const all = await listAll<Cluster>(hub.client, Resources.Cluster, {
        ...(opts.selector === undefined ? {} : { labelSelector: opts.selector }),
      });
      return { clusters: all, missing: [] as string[] };
    }
    const found: Cluster[] = [];
    const missing: string[] = [];
    for (const name of new Set(names)) {
      try {
        found.push(await hub.client.get<Cluster>(Resources.Cluster, { name }));
      } catch (err) {
        if (err instanceof NotFoundError) missing.push(name);
        else throw err;
      }
    }
    return { clusters: found, missing };
  });
  const items = clusters.map(clusterSummary).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (items.length > 0 || opts.output !== 'table') {
    process.stdout.write(render(opts.output, { items }, () => formatClusters(items)));
  }
  if (opts.output === 'table') {
    if (items.length === 0 && missing.length === 0) {
      process.stderr.write(
        opts.selector === undefined
          ? 'No clusters: join one with `meridian join <name> --kubeconfig <member kubeconfig>`.\n'
          : `No clusters match ${opts.selector}.\n`,
      );
    }
    for (const note of notReadyNotes(items)) process.stderr.write(`note: ${note}\n`);
  }
  if (missing.length > 0) {
    throw new CliError(
      ExitCodes.notFound,
      `no cluster named ${missing.join(', ')} on the hub; \`meridian clusters\` lists them`,
    );
  }
}

/** Adds `meridian clusters` to `program`. */
export function registerClusters(program: Command): void {
  program
    .command('clusters')
    .description('list the member clusters: mode, readiness, version, region, provider and capacity')
    .argument('[name...]', 'only these clusters (exit 3 if one does not exist)')
    .option('-l, --selector <selector>', 'only clusters whose labels match (e.g. meridian.dev/provider=aws)')
    .addOption(outputOption())
    .option('--kubeconfig <file>', 'hub kubeconfig (default: $KUBECONFIG, then ~/.kube/config)')
    .addHelpText(
      'after',
      `
Columns: CPU, MEMORY and PODS are available/allocatable over the member's Ready,
schedulable nodes (allocatable minus pod requests). READY is the Cluster's Ready
condition; why a cluster is not Ready is printed on stderr. -o json|yaml prints
{ items: [...] } with every field (docs/cli.md).

Exit codes: 0 listed (also when empty); 1 usage; 2 hub unreachable or refused; 3 a named
cluster does not exist.

Examples:
  meridian clusters
  meridian clusters -l topology.kubernetes.io/region=us-east-1 -o json
  meridian clusters us-east eu-west`,
    )
    .action(
      reportErrors(async (names: string[], opts: Options) => {
        await runClusters(names, opts);
      }),
    );
}
