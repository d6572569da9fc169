// A table of where each bound object went and how it is doing there, from bindings and
// the hub's templates as `kubectl get -o json` returns them; and the kubectl-style table
// formatter every `meridian` command prints with.

/** The parts of a ResourceBinding this report reads. */
export interface PlacementBinding {
  readonly spec?: {
    readonly resource?: { readonly kind?: string; readonly name?: string };
    readonly clusters?: readonly { readonly name: string; readonly replicas?: number }[];
  };
  readonly status?: {
    readonly aggregatedStatus?: readonly {
      readonly clusterName: string;
      readonly applied?: boolean;
      readonly health?: string;
      readonly status?: { readonly readyReplicas?: number; readonly replicas?: number };
    }[];
  };
}

interface Template {
  readonly kind?: string;
  readonly metadata?: { readonly name?: string };
  readonly spec?: { readonly replicas?: number };
  readonly status?: { readonly readyReplicas?: number };
}

export interface PlacementRow {
  readonly object: string;
  /** Per cluster: `ready/desired` for replicated kinds, `applied`/`pending` for others, `-` when not placed there. */
  readonly cells: Readonly<Record<string, string>>;
  /** The hub object's aggregated `ready/desired`, for replicated kinds. */
  readonly hub: string;
}

/**
 * One binding's cell for each of `clusters`: `ready/desired` where replicas were placed,
 * `applied` or `pending` where a kind without replicas was placed, `-` where nothing was.
 */
export function placementCells(b: PlacementBinding, clusters: readonly string[]): Record<string, string> {
  const placed = new Map((b.spec?.clusters ?? []).map((c) => [c.name, c.replicas]));
  const statuses = new Map((b.status?.aggregatedStatus ?? []).map((s) => [s.clusterName, s]));
  const cells: Record<string, string> = {};
  for (const c of clusters) {
    if (!placed.has(c)) {
      cells[c] = '-';
      continue;
    }
    const desired = placed.get(c);
    const s = statuses.get(c);
    if (desired !== undefined && desired > 0) cells[c] = `${s?.status?.readyReplicas ?? 0}/${desired}`;
    else cells[c] = s?.applied === true ? 'applied' : 'pending';
  }
  return cells;
}

/** One row per binding, ordered by object, with a cell for each of `clusters`. */
export function placementRows(
  bindings: readonly PlacementBinding[],
  templates: readonly Template[],
  clusters: readonly string[],
): PlacementRow[] {
  const rows = bindings.map((b): PlacementRow => {
    const kind = b.spec?.resource?.kind ?? '?';
    const name = b.spec?.resource?.name ?? '?';
    const t = templates.find((x) => x.kind === kind && x.metadata?.name === name);
    const hub = t?.spec?.replicas === undefined ? '' : `${t.status?.readyReplicas ?? 0}/${t.spec.replicas}`;
    return { object: `${kind}/${name}`, cells: placementCells(b, clusters), hub };
  });
  return rows.sort((a, b) => a.object.localeCompare(b.object));
}

/**
 * An aligned text table, kubectl style: the header as given (upper case by convention),
 * columns two spaces apart, no trailing spaces. Callers write an empty value as `-`, so that
 * a row splits on whitespace into one field per column (only a last column may hold spaces).
 */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  return [header, ...rows]
    .map((row) =>
      header
        .map((_, i) => (row[i] ?? '').padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** Renders rows as an aligned text table (kubectl style: upper-case headers, two spaces). */
export function formatPlacement(rows: readonly PlacementRow[], clusters: readonly string[]): string {
  return formatTable(
    ['OBJECT', ...clusters.map((c) => c.toUpperCase()), 'HUB (READY)'],
    rows.map((r) => [r.object, ...clusters.map((c) => r.cells[c] ?? '-'), r.hub || '-']),
  );
}
