// Benchmark: startup time and resident memory of the local fleet (hub + 3 members).
// Usage: node bench/environment.ts [runs=3]   → one JSON line per run, then a summary line.
// Memory is the sum of VmRSS over every process the environment started, read from /proc,
// measured idle after startup and again with a 3-replica Deployment in each member.
import { readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { startEnvironment } from '../src/testenv/environment.ts';

function rssMiB(pids: number[]): number {
  let kib = 0;
  for (const pid of pids) {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    kib += Number(m?.[1] ?? 0);
  }
  return Math.round(kib / 1024);
}

const runs = Number(process.argv[2] ?? 3);
const results = [];
for (let i = 0; i < runs; i++) {
  const env = await startEnvironment();
  try {
    const pids = env.processes().map((p) => p.pid);
    await new Promise((r) => setTimeout(r, 5000));
    const idle = rssMiB(pids);
    const byComponent: Record<string, number> = {};
    for (const p of env.processes()) {
      const kind = p.name.split('/').at(-1) ?? p.name;
      byComponent[kind] = (byComponent[kind] ?? 0) + rssMiB([p.pid]);
    }
    await Promise.all(
      env.members.map(async (m) => {
        const deploy = {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'bench', namespace: 'default' },
          spec: {
            replicas: 3,
            selector: { matchLabels: { app: 'bench' } },
            template: {
              metadata: { labels: { app: 'bench' } },
              spec: { containers: [{ name: 'c', image: 'nginx' }] },
            },
          },
        };
        await env.kubectl(m.name, ['apply', '-f', '-'], { input: stringify(deploy) });
        await env.kubectl(m.name, [
          'wait',
          'deployment/bench',
          '--for=jsonpath={.status.readyReplicas}=3',
          '--timeout=120s',
        ]);
      }),
    );
    const loaded = rssMiB(pids);
    const r = {
      run: i + 1,
      startupMs: env.timings.total,
      timings: env.timings,
      idleRssMiB: idle,
      loadedRssMiB: loaded,
      byComponent,
    };
    results.push(r);
    console.log(JSON.stringify(r));
  } finally {
    await env.stop();
  }
}
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => sorted(xs)[Math.floor(xs.length / 2)] ?? 0;
console.log(
  JSON.stringify({
    summary: true,
    runs,
    startupMsMedian: median(results.map((r) => r.startupMs ?? 0)),
    startupMsMin: sorted(results.map((r) => r.startupMs ?? 0))[0],
    idleRssMiBMedian: median(results.map((r) => r.idleRssMiB)),
    loadedRssMiBMedian: median(results.map((r) => r.loadedRssMiB)),
  }),
);
