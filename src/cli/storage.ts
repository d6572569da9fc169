/**
 * `meridian storage register|nodes`: the storage nodes of a pool (namespace). `nodes` asks
 * every node over its own endpoint (health, capacity, the position of each replica, a
 * round trip from here) and adds what volume frontends reported to the hub (replica state
 * and the frontend's write latency, EWMA/p99).
 */
import type { Command } from 'commander';
import { StorageError } from '../storage/errors.ts';
import { registerNode, storageNodesView, type NodeView } from '../storage/ops/volumes.ts';
import { CliError, ExitCodes, reportErrors } from './exit-codes.ts';
import { withHub } from './hub-kubeconfig.ts';
import { outputOption, render, type OutputFormat } from './output.ts';
import { formatTable } from './placement-report.ts';
import { formatBytes } from './volumes.ts';

const ms = (x: number | null): string => (x === null ? '-' : x < 10 ? x.toFixed(2) : x.toFixed(1));

/** Two tables: the nodes, then one row per replica with its lag and latency. */
export function formatStorageNodes(nodes: readonly NodeView[]): string {
  const nodeTable = formatTable(
    ['NODE', 'ENDPOINT', 'HEALTH', 'RTT-MS', 'CAPACITY', 'ALLOCATED', 'FREE', 'LABELS'],
    nodes.map((n) => [
      n.name,
      n.endpoint,
      n.health,
      ms(n.rttMs),
      n.capacityBytes === null ? '-' : formatBytes(n.capacityBytes),
      n.allocatedBytes === null ? '-' : formatBytes(n.allocatedBytes),
      n.freeBytes === null ? '-' : formatBytes(n.freeBytes),
      Object.entries(n.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(',') || '-',
    ]),
  );
  const rows = nodes.flatMap((n) =>
    n.replicas.map((r) => [
      n.name,
      r.volume,
      r.onNode,
      r.rebuilding ? 'rebuilding' : (r.state ?? '-'),
      r.appliedSeq === null ? '-' : String(r.appliedSeq),
      r.lagWrites === null ? '-' : String(r.lagWrites),
      r.ewmaMs === null ? '-' : `${ms(r.ewmaMs)}/${ms(r.p99Ms)}`,
    ]),
  );
  if (rows.length === 0) return nodeTable;
  const replicaTable = formatTable(
    ['NODE', 'VOLUME', 'ON-NODE', 'STATE', 'APPLIED', 'LAG', 'LATENCY-MS(EWMA/P99)'],
    rows,
  );
  return `${nodeTable.trimEnd()}\n\n${replicaTable}`;
}

type Common = { readonly kubeconfig?: string; readonly namespace?: string };

const common = (c: Command): Command =>
  c
    .option('-n, --namespace <ns>', "the storage pool's namespace (default: the kubeconfig context's)")
    .option('--kubeconfig <file>', 'hub kubeconfig (default: $KUBECONFIG, then ~/.kube/config)');

const storageFailure = (err: unknown): unknown =>
  err instanceof StorageError
    ? new CliError(err.code === 'Invalid' ? ExitCodes.usage : ExitCodes.failure, err.message)
    : err;

/** Adds `meridian storage` to `program`. */
export function registerStorage(program: Command): void {
  const storage = program.command('storage').description('storage nodes contributing capacity to volumes');

  common(
    storage
      .command('register')
      .description('record a running storage node on the hub, with the labels it reports')
      .argument('<name>', "the node's id (its --id)")
      .requiredOption('--endpoint <host:port>', 'where it serves the replication protocol'),
  ).action(
    reportErrors(async (name: string, o: Common & { endpoint: string }) => {
      const m = /^(.+):(\d{1,5})$/.exec(o.endpoint);
      if (m === null) throw new CliError(ExitCodes.usage, `--endpoint ${o.endpoint}: expected host:port`);
      const endpoint = { host: m[1] as string, port: Number(m[2]) };
      const n = await withHub(o.kubeconfig, async (hub) => {
        try {
          return await registerNode(hub.client, o.namespace ?? hub.namespace, name, endpoint);
        } catch (err) {
          throw storageFailure(err);
        }
      });
      process.stdout.write(
        `storage node ${name} registered (${n.status?.health ?? 'unknown'}, ${formatBytes(n.status?.capacityBytes ?? 0)})\n`,
      );
    }),
  );

  common(
    storage
      .command('nodes')
      .description('the storage nodes with health, capacity and every replica with its lag and latency'),
  )
    .addOption(outputOption())
    .addHelpText(
      'after',
      `
RTT-MS is a round trip from this machine to the node. Per replica: ON-NODE and APPLIED
come from the node itself; LAG is writes behind the volume's head (the highest seq any
of its replicas or its frontend reports); STATE and LATENCY-MS (the frontend's write
latency to that replica, EWMA/p99) come from the frontend's report on the Volume (-
when no frontend has reported). -o json|yaml prints { items: [...] }.`,
    )
    .action(
      reportErrors(async (o: Common & { output: OutputFormat }) => {
        const items = await withHub(o.kubeconfig, (hub) =>
          storageNodesView(hub.client, o.namespace ?? hub.namespace),
        );
        if (items.length === 0 && o.output === 'table') {
          process.stderr.write('No storage nodes: add one with `meridian storage register`.\n');
          return;
        }
        process.stdout.write(render(o.output, { items }, () => formatStorageNodes(items)));
      }),
    );
}
