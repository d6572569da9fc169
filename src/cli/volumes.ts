/**
 * `meridian volumes create|resize|delete|list`: replicated volumes (docs/storage.md). The
 * Volume objects live on the hub; replicas are created, grown and dropped on the storage
 * nodes themselves (their own endpoints, from the namespace's StorageNode objects).
 */
import { Command, InvalidArgumentError } from 'commander';
import { AckModes, parseQuantity, type AckMode, type Volume, type VolumeSpec } from '../api/index.ts';
import { AlreadyExistsError, NotFoundError } from '../kube/errors.ts';
import { StorageError } from '../storage/errors.ts';
import {
  createVolume,
  deleteVolume,
  listVolumes,
  PlacementRefusedError,
  resizeVolume,
} from '../storage/ops/volumes.ts';
import { CliError, ExitCodes, reportErrors, usageError } from './exit-codes.ts';
import { withHub } from './hub-kubeconfig.ts';
import { age, outputOption, render, type OutputFormat } from './output.ts';
import { formatTable } from './placement-report.ts';

/** `1Gi`, `512Mi`, `1073741824`: a whole, positive number of bytes. */
export function parseSize(value: string): number {
  let n: number;
  try {
    n = parseQuantity(value);
  } catch {
    throw new InvalidArgumentError(`${value} is not a size (e.g. 10Gi, 512Mi, 1073741824)`);
  }
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new InvalidArgumentError(`${value} is not a whole, positive number of bytes`);
  return n;
}

/** `k=v,k2=v2` (empty: any node). */
export function parseSelector(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',').filter((p) => p !== '')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`${part}: expected key=value`);
    out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

/** `region=eu:2` or `:3` (any node): a replica rule, repeatable. */
export function parseRule(value: string, previous: VolumeSpec['policy']['replicas'] = []) {
  const at = value.lastIndexOf(':');
  const count = Number(at < 0 ? NaN : value.slice(at + 1));
  if (!Number.isInteger(count) || count < 1 || count > 16)
    throw new InvalidArgumentError(`${value}: expected SELECTOR:COUNT, e.g. region=eu:2 (count 1..16)`);
  return [...previous, { selector: parseSelector(value.slice(0, at)), count }];
}

const collect = (value: string, previous: Record<string, string>[] = []) => [
  ...previous,
  parseSelector(value),
];

const int = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number ≥ 1');
  return n;
};

const ack = (value: string): AckMode => {
  if (!(AckModes as readonly string[]).includes(value))
    throw new InvalidArgumentError(`expected one of ${AckModes.join(', ')}`);
  return value as AckMode;
};

export type VolumeSummary = {
  readonly name: string;
  readonly namespace: string;
  readonly sizeBytes: number;
  readonly ackMode: string;
  readonly durability: number;
  readonly phase: string | null;
  readonly epoch: number | null;
  readonly replicas: readonly { node: string; state: string | null; lagWrites: number | null }[];
  readonly created: string | null;
};

export function volumeSummary(v: Volume): VolumeSummary {
  return {
    name: v.metadata.name ?? '',
    namespace: v.metadata.namespace ?? '',
    sizeBytes: v.spec.sizeBytes,
    ackMode: v.spec.ackMode,
    durability: v.spec.durability,
    phase: v.status?.phase ?? null,
    epoch: v.status?.epoch ?? null,
    replicas: (v.status?.replicas ?? []).map((r) => ({
      node: r.node,
      state: r.state ?? null,
      lagWrites: r.lagWrites ?? null,
    })),
    created: v.metadata.creationTimestamp ?? null,
  };
}

/** Bytes for people: the largest binary unit that keeps it whole-ish (`1Gi`, `1.5Gi`, `512Mi`). */
export function formatBytes(n: number): string {
  for (const [unit, size] of [
    ['Ti', 2 ** 40],
    ['Gi', 2 ** 30],
    ['Mi', 2 ** 20],
    ['Ki', 2 ** 10],
  ] as const) {
    if (n >= size) return `${String(Number((n / size).toFixed(1)))}${unit}`;
  }
  return `${n}`;
}

export function formatVolumes(items: readonly VolumeSummary[]): string {
  return formatTable(
    ['NAME', 'SIZE', 'ACK', 'DURABILITY', 'PHASE', 'EPOCH', 'REPLICAS', 'AGE'],
    items.map((v) => [
      v.name,
      formatBytes(v.sizeBytes),
      v.ackMode,
      String(v.durability),
      v.phase ?? '-',
      v.epoch === null ? '-' : String(v.epoch),
      v.replicas.length === 0 ? '-' : v.replicas.map((r) => r.node).join(','),
      age(v.created ?? undefined),
    ]),
  );
}

/** Storage failures as CLI errors: bad input 1, missing 3, refused/unreachable 2. */
function cliError(err: unknown, what: string): unknown {
  if (err instanceof PlacementRefusedError) {
    const lines = err.explanation.map((v) => `  ${v.nodeId}: ${v.verdict} — ${v.reason}`);
    return new CliError(
      ExitCodes.failure,
      `cannot place ${what}: ${err.message}` +
        (lines.length > 0 ? `\nstorage nodes:\n${lines.join('\n')}` : ''),
    );
  }
  if (err instanceof StorageError)
    return new CliError(
      err.code === 'Invalid' ? ExitCodes.usage : ExitCodes.failure,
      `${what}: ${err.message}`,
    );
  if (err instanceof NotFoundError && /volumes/.test(err.message))
    return new CliError(ExitCodes.notFound, `no ${what}; \`meridian volumes list\` lists them`);
  if (err instanceof AlreadyExistsError) return new CliError(ExitCodes.failure, `${what} already exists`);
  return err;
}

type Common = { readonly kubeconfig?: string; readonly namespace?: string };

async function onHub<T>(
  opts: Common,
  what: string,
  fn: (hub: Parameters<Parameters<typeof withHub>[1]>[0], ns: string) => Promise<T>,
): Promise<T> {
  return withHub(opts.kubeconfig, async (hub) => {
    try {
      return await fn(hub, opts.namespace ?? hub.namespace);
    } catch (err) {
      throw cliError(err, what);
    }
  });
}

const common = (c: Command): Command =>
  c
    .option('-n, --namespace <ns>', "the storage pool's namespace (default: the kubeconfig context's)")
    .option('--kubeconfig <file>', 'hub kubeconfig (default: $KUBECONFIG, then ~/.kube/config)');

/** Adds `meridian volumes` to `program`. */
export function registerVolumes(program: Command): void {
  const volumes = program
    .command('volumes')
    .description('replicated volumes placed on storage nodes by policy (docs/storage.md)');

  common(
    volumes
      .command('create')
      .description(
        'place a volume by policy over the storage nodes, create its replicas, record it on the hub',
      )
      .argument('<name>', 'volume name (a DNS label)')
      .requiredOption('--size <size>', 'size, e.g. 10Gi', parseSize)
      .option(
        '--replicas <selector:count>',
        'replica rule, repeatable: region=eu:2 (":3" = any nodes)',
        parseRule,
      )
      .option(
        '--allow <selector>',
        'sovereignty: every replica on a node matching one of these (repeatable)',
        collect,
      )
      .option(
        '--forbid <selector>',
        'sovereignty: no replica on a node matching any of these (repeatable)',
        collect,
      )
      .option(
        '--ack <mode>',
        `plain-write acknowledgement: ${AckModes.join(', ')}`,
        ack,
        'fastest' as AckMode,
      )
      .option('--durability <n>', 'replicas holding data durably before FLUSH/FUA is acknowledged', int),
  )
    .addOption(outputOption())
    .addHelpText(
      'after',
      `
Placement: sovereignty (--allow/--forbid) first and never relaxed, then health and free
space, then one replica per node. A volume that cannot be placed is refused (exit 2)
with the rule that failed and every node's verdict. Default: --replicas :3, durability
= a majority of the replicas.

Examples:
  meridian volumes create db --size 20Gi --replicas region=eu:2 --replicas region=us:1 --forbid provider=cheapcloud
  meridian volumes create scratch --size 1Gi --replicas :1 --ack all`,
    )
    .action(
      reportErrors(
        async (
          name: string,
          o: Common & {
            size: number;
            replicas?: VolumeSpec['policy']['replicas'];
            allow?: Record<string, string>[];
            forbid?: Record<string, string>[];
            ack: AckMode;
            durability?: number;
            output: OutputFormat;
          },
        ) => {
          if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name) || name.length > 63)
            throw usageError(`volume name ${JSON.stringify(name)} is not a DNS label`);
          const replicas = o.replicas ?? [{ selector: {}, count: 3 }];
          const total = replicas.reduce((n, r) => n + r.count, 0);
          const spec: VolumeSpec = {
            sizeBytes: o.size,
            ackMode: o.ack,
            durability: o.durability ?? Math.floor(total / 2) + 1,
            policy: {
              replicas,
              ...(o.allow === undefined ? {} : { allowed: o.allow }),
              ...(o.forbid === undefined ? {} : { forbidden: o.forbid }),
            },
          };
          const v = await onHub(o, `volume ${name}`, (hub, ns) => createVolume(hub.client, ns, name, spec));
          const s = volumeSummary(v);
          process.stdout.write(render(o.output, s, () => formatVolumes([s])));
        },
      ),
    );

  common(
    volumes
      .command('resize')
      .description('grow a volume: every replica first, then the Volume (it never shrinks)')
      .argument('<name>')
      .requiredOption('--size <size>', 'new size, e.g. 40Gi', parseSize),
  ).action(
    reportErrors(async (name: string, o: Common & { size: number }) => {
      const v = await onHub(o, `volume ${name}`, (hub, ns) => resizeVolume(hub.client, ns, name, o.size));
      process.stdout.write(
        `volume ${name} is ${formatBytes(v.spec.sizeBytes)} (${v.spec.sizeBytes} bytes)\n`,
      );
    }),
  );

  common(
    volumes
      .command('delete')
      .description("delete a volume's replicas on the storage nodes, then the Volume")
      .argument('<name>')
      .option('--force', 'delete the Volume even if some replicas could not be removed'),
  ).action(
    reportErrors(async (name: string, o: Common & { force?: boolean }) => {
      const { leftOn } = await onHub(o, `volume ${name}`, (hub, ns) =>
        deleteVolume(hub.client, ns, name, o.force === true),
      );
      for (const n of leftOn) process.stderr.write(`warning: replica left on ${n}\n`);
      process.stdout.write(`volume ${name} deleted\n`);
    }),
  );

  common(
    volumes.command('list').description('the volumes of the namespace: size, ack mode, placement, epoch'),
  )
    .addOption(outputOption())
    .action(
      reportErrors(async (o: Common & { output: OutputFormat }) => {
        const items = (await onHub(o, 'volumes', (hub, ns) => listVolumes(hub.client, ns)))
          .map(volumeSummary)
          .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        if (items.length === 0 && o.output === 'table') {
          process.stderr.write('No volumes: create one with `meridian volumes create`.\n');
          return;
        }
        process.stdout.write(render(o.output, { items }, () => formatVolumes(items)));
      }),
    );
}
