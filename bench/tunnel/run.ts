// Benchmark (issue 4): Meridian's tunnel beside chisel (github.com/jpillora/chisel, pinned,
// built by build-chisel.sh) and a direct connection, in one run on one machine.
//
// Usage: node bench/tunnel/run.ts [--bytes 268435456] [--rounds 3] [--requests 2000]
//          [--concurrency 1,16] [--idle-tunnels 100] [--out FILE]
//
// Every system serves the same origin (backend.ts: HTTPS on 127.0.0.1, its own process) to the
// same client (this process, Node's https with keep-alive):
//   direct   client ──TLS──▶ origin
//   meridian client ──TLS──▶ `meridian gateway` ══wss══ `meridian agent` ──TLS──▶ origin
//            (the real CLI processes, run from the bundle the images run; the request goes
//            to /clusters/bench/<path> with a hub-CA client certificate, one tunnel stream
//            per request)
//   meridian-w1m  the same with streams starting at a 1 MiB receive window at the gateway
//            (default 256 KiB; both auto-tune up to 4 MiB; gateway-window.ts), to see what the
//            starting window costs
//   chisel   client ──TLS (end to end)──▶ chisel server reverse port ══wss+SSH══ chisel client
//            ──▶ origin   (`chisel server --reverse --tls-*`, `chisel client R:…`: the client
//            dials out, as the agent does)
//   tls-relay  client ──TLS──▶ relay ──TLS──▶ origin: a reference, not a tunnel — about the least
//            a Node process does that terminates TLS and re-originates it (tls-relay.ts: each
//            connection piped to a new one). Meridian's path terminates TLS twice; this, once.
//            Throughput, upgraded and latency only.
// Measures, per system:
//   throughput  GET /big of --bytes, MB/s (median of --rounds, systems interleaved)
//   upgraded    the same bytes over an upgraded connection (101, then raw bytes: the data path
//               of kubectl port-forward/exec through the tunnel, spliced), MB/s
//   latency     --requests small GETs over N concurrent streams, p50/p99 in ms (and p50 added
//               over direct)
//   stalled     one GET /stall whose reader stops reading; once it is stalled, the small-request
//               latency (N = the largest --concurrency) and a --bytes/4 transfer are measured
//               again beside it: a stalled stream that blocked the others shows up as a timeout
//               or a collapse
//   cpu         CPU time per MB moved, of the tunnel's processes and of the whole path (client +
//               tunnel + origin), per throughput round: unlike MB/s it holds on a busy machine
//   memory      resident memory the hub end gains per extra idle tunnel (--idle-tunnels of them,
//               before any traffic) and the tunnel's processes per stalled stream (50 at once): gateway (+ agent) vs
//               chisel server (+ client); and the member end's process (agent vs chisel client)
// Output: progress on stderr; one JSON document on stdout (and to --out).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { Agent, request, type RequestOptions } from 'node:https';
import { cpus, loadavg, tmpdir, totalmem, type } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bundleCli } from '../../scripts/bundle.ts';
import { RELAY_NODE_FLAGS } from '../../src/cli/relay-gc.ts';
import { cpuSeconds, rssMiB } from '../propagation/procfs.ts';
import { dialGateway } from '../../src/agent/dial.ts';
import { createCertificateAuthority, issueCertificate } from '../../src/testenv/pki.ts';
import { TunnelSession } from '../../src/tunnel/session.ts';
import { writeKubeconfig } from '../../src/testenv/kubeconfig.ts';
import { freePorts } from '../../src/testenv/ports.ts';

const { values: args } = parseArgs({
  options: {
    bytes: { type: 'string', default: String(256 * 1024 * 1024) },
    rounds: { type: 'string', default: '3' },
    requests: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '1,16' },
    'idle-tunnels': { type: 'string', default: '100' },
    out: { type: 'string' },
  },
});
const BYTES = Number(args.bytes);
const ROUNDS = Number(args.rounds);
const REQUESTS = Number(args.requests);
const CONCURRENCY = args.concurrency.split(',').map(Number);
const repo = fileURLToPath(new URL('../..', import.meta.url));
const log = (m: string) => process.stderr.write(`[tunnel-bench] ${m}\n`);

interface Target {
  readonly name: 'direct' | 'meridian' | 'meridian-w1m' | 'chisel' | 'tls-relay';
  readonly base: string;
  readonly tls: RequestOptions;
}

const children: ChildProcess[] = [];
const byName = new Map<string, ChildProcess>();
function start(name: string, file: string, argv: readonly string[], dir: string): ChildProcess {
  const c = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], cwd: repo });
  children.push(c);
  byName.set(name, c);
  let err = '';
  c.stderr?.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-4000)));
  c.once('exit', (code, sig) => {
    if (!stopping && !name.startsWith('chisel-idle-')) log(`${name} exited (${code ?? sig}): ${err}`);
  });
  void writeFile(join(dir, `${name}.cmd`), [file, ...argv].join(' '));
  return c;
}
let stopping = false;

async function firstLine(c: ChildProcess): Promise<string> {
  let buf = '';
  for await (const chunk of c.stdout as AsyncIterable<Buffer>) {
    buf += chunk.toString();
    const nl = buf.indexOf('\n');
    if (nl >= 0) return buf.slice(0, nl);
  }
  throw new Error('no output');
}

/** One GET; resolves with the status and the bytes received, after the whole body. */
function get(
  t: Target,
  agent: Agent,
  path: string,
  signal?: AbortSignal,
): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = request(`${t.base}${path}`, { ...t.tls, agent, signal }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function waitUp(t: Target, agent: Agent, ms = 180_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      const r = await get(t, agent, '/small', AbortSignal.timeout(5000));
      if (r.status === 200) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`${t.name} did not come up`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

async function throughput(t: Target, agent: Agent, bytes: number): Promise<number> {
  const t0 = performance.now();
  const r = await get(t, agent, `/big?bytes=${bytes}`);
  const s = (performance.now() - t0) / 1000;
  if (r.status !== 200 || r.bytes !== bytes)
    throw new Error(`${t.name}: got ${r.status}, ${r.bytes} of ${bytes} bytes`);
  return bytes / 1e6 / s;
}

/** An upgraded connection (as a port-forward's) carrying `bytes` raw bytes from the origin; MB/s. */
function upgradeThroughput(t: Target, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request(`${t.base}/pf?bytes=${bytes}`, {
      ...t.tls,
      agent: false,
      headers: { Connection: 'Upgrade', Upgrade: 'bench' },
    });
    req.on('upgrade', (_res, socket, head) => {
      let got = head.length;
      socket.on('data', (c: Buffer) => (got += c.length));
      socket.on('end', () => {
        socket.destroy();
        if (got !== bytes) reject(new Error(`${t.name}: upgraded stream carried ${got} of ${bytes} bytes`));
        else resolve(bytes / 1e6 / ((performance.now() - t0) / 1000));
      });
      socket.on('error', reject);
    });
    req.on('response', (res) => reject(new Error(`${t.name}: no upgrade (${res.statusCode})`)));
    req.on('error', reject);
    req.end();
  });
}

async function latency(t: Target, agent: Agent, requests: number, concurrency: number): Promise<number[]> {
  const out: number[] = [];
  let left = requests;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (left-- > 0) {
        const t0 = performance.now();
        const r = await get(t, agent, '/small', AbortSignal.timeout(30_000));
        out.push(performance.now() - t0);
        if (r.status !== 200) throw new Error(`${t.name}: status ${r.status}`);
      }
    }),
  );
  return out;
}

/** Opens /stall and stops reading; resolves once no more bytes arrive (the stream is stalled). */
async function stall(t: Target): Promise<{ received: () => number; close: () => void }> {
  const agent = new Agent({ keepAlive: false });
  let received = 0;
  const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    const req = request(`${t.base}/stall`, { ...t.tls, agent }, resolve);
    req.on('error', reject);
    req.end();
  });
  res.on('data', (c: Buffer) => (received += c.length));
  await once(res, 'data');
  res.pause();
  // Stalled once the socket stops taking bytes in: its receive buffer no longer grows.
  let last = -1;
  for (;;) {
    await new Promise((r) => setTimeout(r, 500));
    const now = res.socket.bytesRead;
    if (now === last) break;
    last = now;
  }
  return {
    received: () => res.socket.bytesRead,
    close: () => {
      res.destroy();
      agent.destroy();
    },
  };
}

/** Resident memory of the named child processes, summed, in KiB. */
function rssKiB(...names: string[]): number {
  let sum = 0;
  for (const n of names) sum += rssMiB(byName.get(n)?.pid ?? 0) * 1024;
  return sum;
}

/** CPU time (user + system) the named child processes have used so far, summed, in ms. */
function cpuMs(...names: string[]): number {
  let sum = 0;
  for (const n of names) sum += cpuSeconds(byName.get(n)?.pid ?? 0) * 1000;
  return sum;
}

/** The processes that carry each system's bytes besides the client (this process) and the origin. */
const TUNNEL_PROCESSES: Record<Target['name'], string[]> = {
  direct: [],
  meridian: ['meridian-gateway', 'meridian-agent'],
  'meridian-w1m': ['meridian-gateway-w1m', 'meridian-agent-w1m'],
  chisel: ['chisel-server', 'chisel-client'],
  'tls-relay': ['tls-relay'],
};

/**
 * Runs `transfer` (which moves `bytes`) and returns the CPU it cost, in ms per MB: per process
 * (client = this process, origin, and the tunnel's own), the tunnel's processes together, and
 * the whole path. On a machine whose cores are all busy, throughput is bounded by the whole
 * path's CPU per byte, so this, unlike MB/s, holds under load; with a core per process it
 * would be bounded by the busiest process instead (`maxProcess`).
 */
async function cpuPerMB(
  t: Target,
  bytes: number,
  transfer: () => Promise<number>,
): Promise<{ mbps: number; tunnel: number; total: number; perProcess: Record<string, number> }> {
  const names = ['origin', ...TUNNEL_PROCESSES[t.name]];
  const before = names.map((n) => cpuMs(n));
  const client0 = process.cpuUsage();
  const mbps = await transfer();
  const c = process.cpuUsage(client0);
  const after = names.map((n) => cpuMs(n));
  const mb = bytes / 1e6;
  const perProcess: Record<string, number> = { client: (c.user + c.system) / 1000 / mb };
  names.forEach((n, i) => (perProcess[n] = ((after[i] as number) - (before[i] as number)) / mb));
  const tunnel = TUNNEL_PROCESSES[t.name].reduce((sum, n) => sum + (perProcess[n] ?? 0), 0);
  const total = Object.values(perProcess).reduce((a, b) => a + b, 0);
  return { mbps, tunnel, total, perProcess };
}

const settle = () => new Promise((r) => setTimeout(r, 3000));

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'meridian-tunnel-bench-'));
  const chiselBin = await new Promise<string>((resolve, reject) => {
    const c = spawn('bash', [join(repo, 'bench/tunnel/build-chisel.sh')], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    c.once('exit', (code) =>
      code === 0 ? resolve(out.trim().split('\n').at(-1) ?? '') : reject(new Error('chisel build failed')),
    );
  });
  const chiselVersion = /chisel\/(v[^/]+)\//.exec(chiselBin)?.[1] ?? '?';
  try {
    const ca = await createCertificateAuthority(join(dir, 'pki'), 'ca');
    const server = (name: string) =>
      issueCertificate(ca, join(dir, 'pki'), name, {
        commonName: name,
        ipAddresses: ['127.0.0.1'],
        usage: 'server',
      });
    const [origin, gateway, chiselCert, client] = await Promise.all([
      server('origin'),
      server('gateway'),
      server('chisel'),
      issueCertificate(ca, join(dir, 'pki'), 'client', { commonName: 'bench', usage: 'client' }),
    ]);
    const caPem = await readFile(ca.certPath);
    const [gwPort, chiselPort, reversePort, gwWidePort, relayPort] = (await freePorts(5)) as [
      number,
      number,
      number,
      number,
      number,
    ];

    const backend = start(
      'origin',
      process.execPath,
      [join(repo, 'bench/tunnel/backend.ts'), origin.certPath, origin.keyPath],
      dir,
    );
    const originPort = (JSON.parse(await firstLine(backend)) as { port: number }).port;

    // Meridian: the real CLI processes.
    const tokens = join(dir, 'tokens');
    await mkdir(tokens);
    await writeFile(join(tokens, 'bench'), 'bench-token\n');
    await writeFile(join(tokens, 'idle'), 'idle-token\n');
    const memberKc = join(dir, 'origin.kubeconfig');
    await writeKubeconfig(memberKc, {
      cluster: 'origin',
      server: `https://127.0.0.1:${originPort}`,
      caPath: ca.certPath,
      user: 'agent',
      credentials: client,
    });
    // The processes the container images run: the bundled command (scripts/bundle.ts), with the
    // node flags of their entry points.
    const cliMain = await bundleCli(join(dir, 'dist', 'cli', 'main.mjs'));
    const windowMain = await bundleCli(
      join(dir, 'dist', 'bench', 'gateway-window.mjs'),
      join(repo, 'bench/tunnel/gateway-window.ts'),
    );
    start('meridian-gateway', process.execPath, [
      ...RELAY_NODE_FLAGS,
      cliMain, 'gateway', '--tls-cert-file', gateway.certPath, '--tls-key-file', gateway.keyPath,
      '--client-ca-file', ca.certPath, '--agent-token-dir', tokens, '--bind-address', '127.0.0.1',
      '--port', String(gwPort), '--audit-log', '/dev/null',
    ], dir); // prettier-ignore
    start('meridian-agent', process.execPath, [
      ...RELAY_NODE_FLAGS,
      cliMain, 'agent', '--cluster', 'bench', '--gateway', `https://127.0.0.1:${gwPort}`,
      '--gateway-ca-file', ca.certPath, '--token-file', join(tokens, 'bench'), '--kubeconfig', memberKc,
    ], dir); // prettier-ignore

    // The same with streams starting at a 1 MiB receive window at the gateway (default 256 KiB).
    start('meridian-gateway-w1m', process.execPath, [
      ...RELAY_NODE_FLAGS,
      windowMain, gateway.certPath, gateway.keyPath, ca.certPath, tokens,
      String(gwWidePort), String(1024 * 1024),
    ], dir); // prettier-ignore
    start('meridian-agent-w1m', process.execPath, [
      ...RELAY_NODE_FLAGS,
      cliMain, 'agent', '--cluster', 'bench', '--gateway', `https://127.0.0.1:${gwWidePort}`,
      '--gateway-ca-file', ca.certPath, '--token-file', join(tokens, 'bench'), '--kubeconfig', memberKc,
    ], dir); // prettier-ignore

    // chisel: server with TLS and reverse ports; the client dials out and exposes the origin.
    start('chisel-server', chiselBin, [
      'server', '--host', '127.0.0.1', '--port', String(chiselPort), '--reverse',
      '--tls-cert', chiselCert.certPath, '--tls-key', chiselCert.keyPath, '--auth', 'bench:bench',
    ], dir); // prettier-ignore
    start('chisel-client', chiselBin, [
      'client', '--tls-ca', ca.certPath, '--auth', 'bench:bench', `https://127.0.0.1:${chiselPort}`,
      `R:127.0.0.1:${reversePort}:127.0.0.1:${originPort}`,
    ], dir); // prettier-ignore

    // The reference relay, with the gateway's and agent's node flags.
    start('tls-relay', process.execPath, [
      ...RELAY_NODE_FLAGS,
      join(repo, 'bench/tunnel/tls-relay.ts'), gateway.certPath, gateway.keyPath, ca.certPath,
      String(relayPort), String(originPort),
    ], dir); // prettier-ignore

    const tlsBase: RequestOptions = { ca: caPem };
    const targets: Target[] = [
      { name: 'direct', base: `https://127.0.0.1:${originPort}`, tls: tlsBase },
      {
        name: 'meridian',
        base: `https://127.0.0.1:${gwPort}/clusters/bench`,
        tls: { ...tlsBase, cert: await readFile(client.certPath), key: await readFile(client.keyPath) },
      },
      {
        name: 'meridian-w1m',
        base: `https://127.0.0.1:${gwWidePort}/clusters/bench`,
        tls: { ...tlsBase, cert: await readFile(client.certPath), key: await readFile(client.keyPath) },
      },
      { name: 'chisel', base: `https://127.0.0.1:${reversePort}`, tls: tlsBase },
      { name: 'tls-relay', base: `https://127.0.0.1:${relayPort}`, tls: tlsBase },
    ];
    const maxC = Math.max(...CONCURRENCY);
    const agents = new Map(
      targets.map((t) => [t.name, new Agent({ keepAlive: true, maxSockets: maxC + 2 })]),
    );
    const ag = (t: Target) => agents.get(t.name) as Agent;
    for (const t of targets) await waitUp(t, ag(t));
    log('all up');
    // The member end's process before any traffic: the agent vs the chisel client.
    const memberFresh = {
      meridian: rssKiB('meridian-agent'),
      chisel: rssKiB('chisel-client'),
    };
    // Memory per idle tunnel at the hub end, before any traffic (a heap that has not grown yet
    // keeps the measurement out of garbage-collection noise): K more tunnels — Meridian:
    // sessions from this process to the gateway for a cluster nobody sends to; chisel: K more
    // `chisel client` processes — and the resident memory the gateway / chisel server gains.
    const K = Number(args['idle-tunnels']);
    const idleTunnel = { meridian: NaN, chisel: NaN };
    {
      const before = rssKiB('meridian-gateway');
      const sessions: TunnelSession[] = [];
      for (let i = 0; i < K; i++) {
        const transport = await dialGateway({
          gatewayUrl: `https://127.0.0.1:${gwPort}`,
          cluster: 'idle',
          token: 'idle-token',
          ca: caPem,
        });
        sessions.push(new TunnelSession(transport, { role: 'dialer' }));
      }
      await settle();
      idleTunnel.meridian = round((rssKiB('meridian-gateway') - before) / K, 1);
      for (const x of sessions) x.close();
    }
    {
      const before = rssKiB('chisel-server');
      const extra = await freePorts(K);
      const clients = extra.map(
        (p, i) =>
        start(`chisel-idle-${i}`, chiselBin, [
          'client', '--tls-ca', ca.certPath, '--auth', 'bench:bench', `https://127.0.0.1:${chiselPort}`,
          `R:127.0.0.1:${p}:127.0.0.1:${originPort}`,
        ], dir), // prettier-ignore
      );
      // Connected once each client's reverse port accepts.
      const chiselUp = (port: number) =>
        waitUp({ name: 'chisel', base: `https://127.0.0.1:${port}`, tls: tlsBase }, new Agent());
      await Promise.all(extra.map(chiselUp));
      await settle();
      idleTunnel.chisel = round((rssKiB('chisel-server') - before) / K, 1);
      for (const c of clients) c.kill('SIGTERM');
    }
    log(`memory per idle tunnel (${K}): ${JSON.stringify(idleTunnel)} KiB`);

    // Warm-up (TLS sessions, JIT, connection pools).
    for (const t of targets) {
      await latency(t, ag(t), 200, maxC);
      await throughput(t, ag(t), 16 * 1024 * 1024);
    }

    const result: Record<string, unknown> = {};
    const tput = new Map<string, number[]>(targets.map((t) => [t.name, []]));
    const cpu = new Map<string, { tunnel: number[]; total: number[]; perProcess: Map<string, number[]> }>();
    const noteCpu = (
      key: string,
      c: { tunnel: number; total: number; perProcess: Record<string, number> },
    ) => {
      const e = cpu.get(key) ?? { tunnel: [], total: [], perProcess: new Map<string, number[]>() };
      e.tunnel.push(c.tunnel);
      e.total.push(c.total);
      for (const [n, v] of Object.entries(c.perProcess))
        e.perProcess.set(n, [...(e.perProcess.get(n) ?? []), v]);
      cpu.set(key, e);
    };
    for (let r = 0; r < ROUNDS; r++) {
      for (const t of targets) {
        const c = await cpuPerMB(t, BYTES, () => throughput(t, ag(t), BYTES));
        tput.get(t.name)?.push(c.mbps);
        noteCpu(`http/${t.name}`, c);
        log(
          `throughput ${t.name} round ${r + 1}: ${round(c.mbps, 1)} MB/s, CPU ${round(c.total, 3)} ms/MB (tunnel ${round(c.tunnel, 3)})`,
        );
      }
    }
    const pf = new Map<string, number[]>(targets.map((t) => [t.name, []]));
    for (let r = 0; r < ROUNDS; r++) {
      for (const t of targets) {
        const c = await cpuPerMB(t, BYTES, () => upgradeThroughput(t, BYTES));
        pf.get(t.name)?.push(c.mbps);
        noteCpu(`upgraded/${t.name}`, c);
        log(
          `upgraded (port-forward path) ${t.name} round ${r + 1}: ${round(c.mbps, 1)} MB/s, CPU ${round(c.total, 3)} ms/MB (tunnel ${round(c.tunnel, 3)})`,
        );
      }
    }
    const lat: Record<string, Record<string, { p50: number; p99: number }>> = {};
    for (const c of CONCURRENCY) {
      for (const t of targets) {
        const xs = await latency(t, ag(t), REQUESTS, c);
        (lat[t.name] ??= {})[`c${c}`] = { p50: round(pct(xs, 50), 3), p99: round(pct(xs, 99), 3) };
        log(`latency ${t.name} c=${c}: p50 ${round(pct(xs, 50), 3)} ms, p99 ${round(pct(xs, 99), 3)} ms`);
      }
    }
    const stalled: Record<string, unknown> = {};
    for (const t of targets) {
      if (t.name === 'direct' || t.name === 'tls-relay') continue;
      const s = await stall(t);
      const before = s.received();
      let lats: number[] = [];
      let mbps = 0;
      let error: string | undefined;
      try {
        lats = await latency(t, ag(t), Math.min(REQUESTS, 1000), maxC);
        mbps = await throughput(t, ag(t), Math.floor(BYTES / 4));
      } catch (err) {
        error = (err as Error).message;
      }
      stalled[t.name] = {
        stalledStreamBytesWhileMeasuring: s.received() - before,
        p50: round(pct(lats, 50), 3),
        p99: round(pct(lats, 99), 3),
        throughputMBps: round(mbps, 1),
        ...(error === undefined ? {} : { error }),
      };
      log(`stalled ${t.name}: ${JSON.stringify(stalled[t.name])}`);
      s.close();
    }
    // Memory: S stalled streams at once through each tunnel; the resident memory the tunnel's
    // processes gain, per stream.
    const S = 50;
    const memory: Record<string, unknown> = {};
    {
      const memberProcess = rssKiB('meridian-agent');
      const b2 = rssKiB('meridian-gateway', 'meridian-agent');
      const meridian = targets.find((t) => t.name === 'meridian') as Target;
      const stalls = await Promise.all(Array.from({ length: S }, () => stall(meridian)));
      await settle();
      const perStream = rssKiB('meridian-gateway', 'meridian-agent') - b2;
      for (const x of stalls) x.close();
      memory['meridian'] = {
        perIdleTunnelKiB: idleTunnel.meridian,
        memberProcessKiB: { fresh: memberFresh.meridian, afterTraffic: memberProcess },
        perStalledStreamKiB: round(perStream / S, 1),
      };
      log(`memory meridian: ${JSON.stringify(memory['meridian'])}`);
    }
    {
      const memberProcess = rssKiB('chisel-client');
      const b2 = rssKiB('chisel-server', 'chisel-client');
      const chisel = targets.find((t) => t.name === 'chisel') as Target;
      const stalls = await Promise.all(Array.from({ length: S }, () => stall(chisel)));
      await settle();
      const perStream = rssKiB('chisel-server', 'chisel-client') - b2;
      for (const x of stalls) x.close();
      memory['chisel'] = {
        perIdleTunnelKiB: idleTunnel.chisel,
        memberProcessKiB: { fresh: memberFresh.chisel, afterTraffic: memberProcess },
        perStalledStreamKiB: round(perStream / S, 1),
      };
      log(`memory chisel: ${JSON.stringify(memory['chisel'])}`);
    }
    result['memory'] = { idleTunnels: K, stalledStreams: S, ...memory };
    const med = (xs: number[]) => round(pct(xs, 50), 1);
    const direct = lat['direct'] ?? {};
    result['date'] = new Date().toISOString();
    result['machine'] = {
      os: type(),
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      memGiB: round(totalmem() / 2 ** 30, 1),
      loadavgAtEnd: loadavg().map((x) => round(x, 1)),
      node: process.version,
      chisel: chiselVersion,
    };
    result['command'] = `node bench/tunnel/run.ts ${process.argv.slice(2).join(' ')}`.trim();
    result['params'] = { bytes: BYTES, rounds: ROUNDS, requests: REQUESTS, concurrency: CONCURRENCY };
    result['throughputMBps'] = Object.fromEntries(
      [...tput].map(([k, v]) => [k, { median: med(v), rounds: v.map((x) => round(x, 1)) }]),
    );
    result['upgradedThroughputMBps'] = Object.fromEntries(
      [...pf].map(([k, v]) => [k, { median: med(v), rounds: v.map((x) => round(x, 1)) }]),
    );
    // Medians over the rounds.
    result['cpuMsPerMB'] = Object.fromEntries(
      [...cpu].map(([k, v]) => {
        const perProcess = Object.fromEntries([...v.perProcess].map(([n, xs]) => [n, round(pct(xs, 50), 3)]));
        return [
          k,
          {
            tunnel: round(pct(v.tunnel, 50), 3),
            total: round(pct(v.total, 50), 3),
            maxProcess: Math.max(...Object.values(perProcess)),
            perProcess,
          },
        ];
      }),
    );
    result['latencyMs'] = lat;
    result['addedP50Ms'] = Object.fromEntries(
      targets
        .filter((t) => t.name !== 'direct')
        .map((t) => [
          t.name,
          Object.fromEntries(
            CONCURRENCY.map((c) => [
              `c${c}`,
              round((lat[t.name]?.[`c${c}`]?.p50 ?? NaN) - (direct[`c${c}`]?.p50 ?? NaN), 3),
            ]),
          ),
        ]),
    );
    result['stalled'] = stalled;
    const text = `${JSON.stringify(result, null, 2)}\n`;
    process.stdout.write(text);
    if (args.out !== undefined) await writeFile(args.out, text);
    for (const a of agents.values()) a.destroy();
  } finally {
    stopping = true;
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(
      children.map((c) => (c.exitCode === null && c.signalCode === null ? once(c, 'exit') : undefined)),
    );
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
