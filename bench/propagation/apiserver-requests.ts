/**
 * Requests an API server served, from its own Prometheus metrics
 * (`apiserver_request_duration_seconds_{sum,count}`), so a run can report how many writes a
 * system made per propagated object and how long the server took for them. Read before and
 * after a batch and diffed; the numbers are the server's, whatever client made the requests.
 */
import { kubectl } from '../../src/testenv/kubectl.ts';

/** `VERB resource[/subresource]` → requests and total server-side seconds. */
export type RequestTotals = ReadonlyMap<string, { readonly count: number; readonly seconds: number }>;

export async function requestTotals(binDir: string, kubeconfig: string): Promise<RequestTotals> {
  const { stdout } = await kubectl(binDir, kubeconfig, ['get', '--raw', '/metrics'], { timeoutMs: 60_000 });
  const totals = new Map<string, { count: number; seconds: number }>();
  for (const line of stdout.split('\n')) {
    const m = /^apiserver_request_duration_seconds_(sum|count)\{([^}]*)\} (\S+)$/.exec(line);
    if (m === null) continue;
    const labels = Object.fromEntries(
      [...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]),
    );
    if (labels['verb'] === 'WATCH' || labels['verb'] === 'CONNECT') continue;
    const id = `${labels['verb']} ${labels['resource']}${labels['subresource'] ? `/${labels['subresource']}` : ''}`;
    const t = totals.get(id) ?? { count: 0, seconds: 0 };
    if (m[1] === 'sum') t.seconds += Number(m[3]);
    else t.count += Number(m[3]);
    totals.set(id, t);
  }
  return totals;
}

export interface RequestRow {
  readonly request: string;
  readonly count: number;
  readonly meanMs: number;
}

/** `after - before`, busiest first; `writes` counts every verb but GET and LIST. */
export function requestDiff(
  before: RequestTotals,
  after: RequestTotals,
): { readonly rows: readonly RequestRow[]; readonly writes: number; readonly reads: number } {
  const rows: RequestRow[] = [];
  let writes = 0;
  let reads = 0;
  for (const [request, a] of after) {
    const b = before.get(request) ?? { count: 0, seconds: 0 };
    const count = a.count - b.count;
    if (count <= 0) continue;
    rows.push({ request, count, meanMs: Math.round(((a.seconds - b.seconds) / count) * 1000) });
    if (/^(GET|LIST) /.test(request)) reads += count;
    else writes += count;
  }
  rows.sort((x, y) => y.count - x.count);
  return { rows, writes, reads };
}
