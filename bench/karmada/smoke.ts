// Smoke check of bench/karmada/karmada.ts: a fresh environment, Karmada on it, a policy and
// 3 Deployments of 3 replicas through Karmada's API server; passes when every member runs
// each one with 1 ready replica and Karmada's API server shows readyReplicas 3 (aggregated
// from the members), and when deleting them through Karmada empties the members.
// Usage: node bench/karmada/smoke.ts [count=3] [clientQps|default] [logDir]
// (builds Karmada on first use: bench/karmada/build.sh; logDir keeps Karmada's logs)
import { stringify } from 'yaml';
import { startEnvironment } from '../../src/testenv/environment.ts';
import { kubectl } from '../../src/testenv/kubectl.ts';
import { defaultMembers } from '../../src/testenv/topology.ts';
import { startKarmada } from './karmada.ts';

const log = (m: string) => console.log(`[${new Date().toISOString().slice(11, 23)}] ${m}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function poll(what: string, check: () => Promise<boolean>): Promise<number> {
  const timeoutMs = Math.max(180_000, count * 2000);
  const t = performance.now();
  while (!(await check())) {
    if (performance.now() - t > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(count > 50 ? 2000 : 250);
  }
  const ms = Math.round(performance.now() - t);
  log(`${what}: ${ms} ms`);
  return ms;
}

const count = Number(process.argv[2] ?? 3);
const qpsArg = process.argv[3] ?? 'default';
const clientQps = qpsArg === 'default' ? undefined : Number(qpsArg);
const outDir = process.argv[4];
// Nodes with room for every pod (one per Deployment per member), as bench/propagation/run.ts sizes them.
const members = defaultMembers.map((m) => ({
  ...m,
  nodePods: Math.max(m.nodePods, Math.ceil((count * 1.1) / m.nodes)),
}));
const env = await startEnvironment({ log, members });
let failed = false;
try {
  const karmada = await startKarmada(env, { log, clientQps, ...(outDir !== undefined && { outDir }) });
  try {
    const k = (args: readonly string[], input?: string) =>
      kubectl(env.binDir, karmada.kubeconfig, args, input === undefined ? {} : { input });
    const ns = 'karmada-smoke';
    const labels = { 'bench.meridian.dev/run': 'smoke' };
    await k(['create', 'namespace', ns]);
    await karmada.applyPolicy(ns, labels);
    const names = Array.from({ length: count }, (_, i) => `web-${i}`);
    const deployments = names.map((name) => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace: ns, labels },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: { containers: [{ name: 'c', image: 'nginx' }] },
        },
      },
    }));
    const t0 = performance.now();
    await k(['create', '-f', '-'], deployments.map((d) => stringify(d)).join('---\n'));

    const readyIn = async (kubeconfig: string): Promise<Record<string, number>> => {
      const out = await kubectl(env.binDir, kubeconfig, ['get', 'deployments', '-n', ns, '-o', 'json']).catch(
        () => ({ stdout: '{"items":[]}' }),
      );
      const items = (
        JSON.parse(out.stdout) as {
          items: {
            metadata: { name: string };
            spec: { replicas: number };
            status?: { readyReplicas?: number };
          }[];
        }
      ).items;
      return Object.fromEntries(items.map((d) => [d.metadata.name, d.status?.readyReplicas ?? 0]));
    };
    await Promise.all(
      env.members.map((m) =>
        poll(`member ${m.name} has all ${count} Deployments with 1 ready replica each`, async () => {
          const r = await readyIn(m.kubeconfig);
          return names.every((n) => r[n] === 1);
        }),
      ),
    );
    await poll('Karmada API server shows readyReplicas 3 on every Deployment', async () => {
      const r = await readyIn(karmada.kubeconfig);
      return names.every((n) => r[n] === 3);
    });
    log(`create → everywhere + aggregated: ${Math.round(performance.now() - t0)} ms`);
    for (const m of count <= 5 ? env.members : []) {
      const out = await kubectl(env.binDir, m.kubeconfig, ['get', 'deployments', '-n', ns, '-o', 'wide']);
      log(`${m.name}:\n${out.stdout}`);
    }
    if (count <= 5) log(`karmada:\n${(await k(['get', 'deployments', '-n', ns, '-o', 'wide'])).stdout}`);
    log(`karmada processes: ${JSON.stringify(karmada.processes())}; pids() = ${karmada.pids().join(',')}`);

    await k(['delete', 'namespace', ns, '--wait=true', '--timeout=120s']);
    await Promise.all(
      env.members.map((m) =>
        poll(`member ${m.name} has namespace ${ns} removed`, async () => {
          const out = await kubectl(env.binDir, m.kubeconfig, ['get', 'namespace', ns, '--ignore-not-found']);
          return out.stdout.trim() === '';
        }),
      ),
    );
  } finally {
    await karmada.stop();
  }
  // What the join made in the members is gone (its namespace may still be terminating).
  for (const m of env.members) {
    const mk = (args: readonly string[]) => kubectl(env.binDir, m.kubeconfig, args);
    const crb = await mk(['get', 'clusterrolebinding', `karmada-${m.name}`, '--ignore-not-found']);
    const deploys = await mk(['get', 'deployments', '-A', '-l', 'karmada.io/managed', '-o', 'name']);
    if (crb.stdout.trim() !== '' || deploys.stdout.trim() !== '')
      throw new Error(`member ${m.name} not clean after stop: ${crb.stdout}${deploys.stdout}`);
  }
  log('members clean after stop');
  log('smoke: PASS');
} catch (err) {
  failed = true;
  log(`smoke: FAIL: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
} finally {
  await env.stop();
}
process.exitCode = failed ? 1 : 0;
