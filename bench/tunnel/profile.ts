// CPU profile of the tunnel's HTTP response path: the real `meridian gateway` and `meridian
// agent` processes run under `node --cpu-prof` while this process fetches large responses
// through them (the same origin as run.ts), then the profiles are summarised by self time.
//
// The processes start with the node flags of the images' entry points (RELAY_NODE_FLAGS); --node-flag
// adds to them (a later --initial-old-space-size wins).
// Usage: node bench/tunnel/profile.ts [--bytes 134217728] [--rounds 4] [--path big|pf|small]
//          [--requests 2000] [--concurrency 1] [--keep DIR] [--node-flag=--trace-gc …] [--no-profile]
//          [--bundle]
// Prints MB/s per round (direct first, then through the tunnel) with the CPU ms per MB the
// gateway and the agent used in that round — for --path small, the p50 and p99 of --requests
// small GETs, --concurrency at a time, instead — and, per process, the functions with the most
// self time. --keep copies the .cpuprofile files to DIR (open them in Chrome DevTools'
// Performance tab) and the processes' stdout. --no-profile runs them without the profiler, which
// itself costs CPU and starts extra garbage collections: for CPU per MB and --trace-gc counts.
// --bundle runs the bundled command the images (and run.ts) run instead of the sources: a third of
// the heap, which every mark-compact walks.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request, type RequestOptions } from 'node:https';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createCertificateAuthority, issueCertificate } from '../../src/testenv/pki.ts';
import { writeKubeconfig } from '../../src/testenv/kubeconfig.ts';
import { freePorts } from '../../src/testenv/ports.ts';
import { bundleCli } from '../../scripts/bundle.ts';
import { RELAY_NODE_FLAGS } from '../../src/cli/relay-gc.ts';
import { cpuSeconds } from '../propagation/procfs.ts';

const { values: args } = parseArgs({
  options: {
    bytes: { type: 'string', default: String(128 * 1024 * 1024) },
    rounds: { type: 'string', default: '4' },
    path: { type: 'string', default: 'big' },
    requests: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '1' },
    keep: { type: 'string' },
    'node-flag': { type: 'string', multiple: true, default: [] },
    profile: { type: 'boolean', default: true },
    bundle: { type: 'boolean', default: false },
  },
  allowNegative: true,
});
const BYTES = Number(args.bytes);
const repo = fileURLToPath(new URL('../..', import.meta.url));
const log = (m: string) => process.stderr.write(`[tunnel-profile] ${m}\n`);

const children: ChildProcess[] = [];
function start(file: string, argv: readonly string[]): ChildProcess {
  const c = spawn(file, argv, { stdio: ['ignore', 'pipe', 'inherit'], cwd: repo });
  children.push(c);
  return c;
}

function fetchBig(base: string, tls: RequestOptions, agent: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request(`${base}/big?bytes=${BYTES}`, { ...tls, agent }, (res) => {
      let got = 0;
      res.on('data', (c: Buffer) => (got += c.length));
      res.on('end', () =>
        got === BYTES
          ? resolve(BYTES / 1e6 / ((performance.now() - t0) / 1000))
          : reject(new Error(`got ${got} of ${BYTES}`)),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/** `n` small GETs, `concurrency` at a time; p50 and p99 in ms. */
async function smallLatency(
  base: string,
  tls: RequestOptions,
  agent: Agent,
  n: number,
  concurrency: number,
): Promise<string> {
  const xs: number[] = [];
  let left = n;
  const worker = async (): Promise<void> => {
    while (left-- > 0) {
      const t0 = performance.now();
      await new Promise<void>((resolve, reject) => {
        const req = request(`${base}/small`, { ...tls, agent }, (res) => {
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', reject);
        req.end();
      });
      xs.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  xs.sort((a, b) => a - b);
  const at = (p: number) => (xs[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? NaN).toFixed(3);
  return `p50 ${at(0.5)} ms, p99 ${at(0.99)} ms`;
}

function fetchUpgraded(base: string, tls: RequestOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request(`${base}/pf?bytes=${BYTES}`, {
      ...tls,
      agent: false,
      headers: { Connection: 'Upgrade', Upgrade: 'bench' },
    });
    req.on('upgrade', (_res, socket, head) => {
      let got = head.length;
      socket.on('data', (c: Buffer) => (got += c.length));
      socket.on('end', () => {
        socket.destroy();
        if (got === BYTES) resolve(BYTES / 1e6 / ((performance.now() - t0) / 1000));
        else reject(new Error(`got ${got} of ${BYTES}`));
      });
    });
    req.on('error', reject);
    req.end();
  });
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The functions with the most self time in a .cpuprofile: [name, ms, share]. */
function summarise(p: Profile, top = 25): string[] {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const n = byId.get(p.samples[i] as number);
    const dt = (p.timeDeltas[i] ?? 0) / 1000;
    if (n === undefined) continue;
    const f = n.callFrame;
    const where =
      f.url === '' ? '' : ` ${f.url.replace(/^.*\/(node_modules|src|lib)\//, '$1/')}:${f.lineNumber + 1}`;
    const key = `${f.functionName || '(anonymous)'}${where}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  }
  const idle = (self.get('(idle)') ?? 0) + (self.get('(program)') ?? 0);
  return [
    `total ${Math.round(total)} ms, idle+program ${Math.round(idle)} ms`,
    ...[...self]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(
        ([k, ms]) => `${ms.toFixed(0).padStart(7)} ms ${((100 * ms) / total).toFixed(1).padStart(5)} %  ${k}`,
      ),
  ];
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'meridian-tunnel-profile-'));
  try {
    const pki = join(dir, 'pki');
    const ca = await createCertificateAuthority(pki, 'ca');
    const server = (name: string) =>
      issueCertificate(ca, pki, name, { commonName: name, ipAddresses: ['127.0.0.1'], usage: 'server' });
    const [origin, gateway, client] = await Promise.all([
      server('origin'),
      server('gateway'),
      issueCertificate(ca, pki, 'client', { commonName: 'bench', usage: 'client' }),
    ]);
    const caPem = await readFile(ca.certPath);
    const [gwPort] = (await freePorts(1)) as [number];
    const backend = start(process.execPath, [
      join(repo, 'bench/tunnel/backend.ts'),
      origin.certPath,
      origin.keyPath,
    ]);
    let line = '';
    for await (const c of backend.stdout as AsyncIterable<Buffer>) {
      line += c.toString();
      if (line.includes('\n')) break;
    }
    const originPort = (JSON.parse(line) as { port: number }).port;
    const tokens = join(dir, 'tokens');
    await mkdir(tokens);
    await writeFile(join(tokens, 'bench'), 'bench-token\n');
    const memberKc = join(dir, 'origin.kubeconfig');
    await writeKubeconfig(memberKc, {
      cluster: 'origin',
      server: `https://127.0.0.1:${originPort}`,
      caPath: ca.certPath,
      user: 'agent',
      credentials: client,
    });
    const profDir = join(dir, 'prof');
    const cliMain = args.bundle
      ? await bundleCli(join(dir, 'dist', 'cli', 'main.mjs'))
      : join(repo, 'src/cli/main.ts');
    const prof = (name: string) => [
      ...RELAY_NODE_FLAGS,
      ...args['node-flag'],
      ...(args.profile ? ['--cpu-prof', '--cpu-prof-dir', join(profDir, name)] : []),
    ];
    const gw = start(process.execPath, [
      ...prof('gateway'), cliMain, 'gateway', '--tls-cert-file', gateway.certPath, '--tls-key-file',
      gateway.keyPath, '--client-ca-file', ca.certPath, '--agent-token-dir', tokens, '--bind-address',
      '127.0.0.1', '--port', String(gwPort), '--audit-log', '/dev/null',
    ]); // prettier-ignore
    const ag = start(process.execPath, [
      ...prof('agent'), cliMain, 'agent', '--cluster', 'bench', '--gateway', `https://127.0.0.1:${gwPort}`,
      '--gateway-ca-file', ca.certPath, '--token-file', join(tokens, 'bench'), '--kubeconfig', memberKc,
    ]); // prettier-ignore
    // Their stdout (JSON logs, and whatever --node-flag makes Node print, e.g. --trace-gc).
    const outputs = { gateway: '', agent: '' };
    gw.stdout?.setEncoding('utf8').on('data', (d: string) => (outputs.gateway += d));
    ag.stdout?.setEncoding('utf8').on('data', (d: string) => (outputs.agent += d));
    const direct = { base: `https://127.0.0.1:${originPort}`, tls: { ca: caPem } };
    const tunnel = {
      base: `https://127.0.0.1:${gwPort}/clusters/bench`,
      tls: { ca: caPem, cert: await readFile(client.certPath), key: await readFile(client.keyPath) },
    };
    const agent = new Agent({ keepAlive: true });
    for (let i = 0; ; i++) {
      try {
        await new Promise<void>((resolve, reject) => {
          const r = request(`${tunnel.base}/small`, { ...tunnel.tls, agent }, (res) => {
            res.resume();
            if (res.statusCode === 200) resolve();
            else reject(new Error(String(res.statusCode)));
          });
          r.on('error', reject);
          r.end();
        });
        break;
      } catch (err) {
        if (i > 600) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    log(
      `up; load average ${loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')}`,
    );
    for (let r = 0; r < Number(args.rounds); r++) {
      for (const [name, t] of [
        ['direct', direct],
        ['meridian', tunnel],
      ] as const) {
        if (args.path === 'small') {
          log(
            `small ${name} round ${r + 1}: ${await smallLatency(t.base, t.tls, agent, Number(args.requests), Number(args.concurrency))}`,
          );
          continue;
        }
        const cpu0 = [gw, ag].map((c) => cpuSeconds(c.pid ?? 0) * 1000);
        const mbps =
          args.path === 'pf' ? await fetchUpgraded(t.base, t.tls) : await fetchBig(t.base, t.tls, agent);
        const cpu1 = [gw, ag].map((c) => cpuSeconds(c.pid ?? 0) * 1000);
        const perMb = cpu1.map((v, i) => ((v - (cpu0[i] ?? 0)) / (BYTES / 1e6)).toFixed(2));
        log(
          `${args.path} ${name} round ${r + 1}: ${mbps.toFixed(1)} MB/s; CPU ms/MB gateway ${perMb[0]}, agent ${perMb[1]}`,
        );
      }
    }
    agent.destroy();
    for (const c of [gw, ag]) c.kill('SIGTERM');
    await Promise.all([gw, ag].map((c) => (c.exitCode === null ? once(c, 'exit') : undefined)));
    for (const name of args.profile ? ['gateway', 'agent'] : []) {
      const files = await readdir(join(profDir, name));
      const p = JSON.parse(await readFile(join(profDir, name, files[0] as string), 'utf8')) as Profile;
      process.stdout.write(`\n== ${name}\n${summarise(p).join('\n')}\n`);
    }
    if (args.keep !== undefined) {
      await mkdir(args.keep, { recursive: true });
      if (args.profile) await cp(profDir, args.keep, { recursive: true });
      for (const [name, text] of Object.entries(outputs))
        await writeFile(join(args.keep, `${name}.out`), text);
    }
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
