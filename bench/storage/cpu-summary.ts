/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): self time per function and
 * inclusive time per function, top N each.
 *
 *   node bench/storage/cpu-summary.ts /tmp/prof/CPU.*.cpuprofile [--top 30]
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

type Node = {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
};
type Profile = { nodes: Node[]; samples: number[]; timeDeltas: number[] };

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '30' } },
});
const top = Number(values.top);
for (const file of positionals) {
  const p = JSON.parse(await readFile(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  let total = 0;
  const name = (n: Node): string => {
    const url = n.callFrame.url.replace(/^.*\/(src|bench|test|node_modules)\//, '$1/');
    return `${n.callFrame.functionName || '(anon)'} ${url}:${n.callFrame.lineNumber + 1}`;
  };
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    total += dt;
    const leaf = byId.get(p.samples[i] ?? -1);
    if (leaf === undefined) continue;
    self.set(name(leaf), (self.get(name(leaf)) ?? 0) + dt);
    const seen = new Set<string>();
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
      const k = name(byId.get(id) as Node);
      if (seen.has(k)) continue;
      seen.add(k);
      incl.set(k, (incl.get(k) ?? 0) + dt);
    }
  }
  const fmt = (m: Map<string, number>): string =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, v]) => `${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`)
      .join('\n');
  process.stdout.write(
    `# ${file}: ${(total / 1e6).toFixed(2)} s sampled\n## self\n${fmt(self)}\n## inclusive\n${fmt(incl)}\n`,
  );
}
