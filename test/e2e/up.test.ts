// `meridian up` and `meridian dev clusters`, run as a user runs them (the real binary, as
// child processes) with their own data directory: a local hub that keeps its state across
// Ctrl-C, simulated members joined to it, aggregated status on the hub, the Prometheus
// endpoints of the controllers and the gateway, JSON logs, and the errors a user meets.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { kubectl } from '../../src/testenv/kubectl.ts';
import type { UpState } from '../../src/cli/up.ts';
import { eventually } from '../support/eventually.ts';
import { meridian } from '../support/meridian.ts';

const cli = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const WAIT = { timeoutMs: 300_000, intervalMs: 1_000 };

/** A running `meridian up`, its output so far, and a way to wait for a line. */
interface UpProcess {
  readonly child: ChildProcess;
  readonly out: () => string;
  readonly exited: Promise<number | null>;
}

function startUp(dataDir: string): UpProcess {
  const child = spawn(process.execPath, [cli, 'up', '--data-dir', dataDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (out += c));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, out: () => out, exited };
}

/** Resolves when `up` has printed `text`; rejects with its output if it exits first. */
function printed(up: UpProcess, text: string, timeoutMs = 600_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!up.out().includes(text)) return;
      cleanup();
      resolve();
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no "${text}" after ${timeoutMs} ms:\n${up.out()}`));
    }, timeoutMs);
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`meridian up exited (${code}) before "${text}":\n${up.out()}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      up.child.stdout?.off('data', check);
      up.child.off('exit', onExit);
    };
    up.child.stdout?.on('data', check);
    up.child.once('exit', onExit);
    check();
  });
}

async function stopUp(up: UpProcess): Promise<number | null> {
  if (up.child.exitCode === null && up.child.signalCode === null) up.child.kill('SIGINT');
  return up.exited;
}

/** The value of one Prometheus sample (`name{labels}`), or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

const deployment = (ns: string, name: string, replicas: number) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: ns, labels: { app: name } },
  spec: {
    replicas,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: { containers: [{ name: 'app', image: 'nginx:1.27' }] },
    },
  },
});

const policy = (ns: string, name: string) => ({
  apiVersion: 'meridian.dev/v1alpha1',
  kind: 'PropagationPolicy',
  metadata: { name, namespace: ns },
  spec: {
    resourceSelectors: [{ apiVersion: 'apps/v1', kind: 'Deployment', name }],
    placement: {
      replicaScheduling: {
        replicaSchedulingType: 'Divided',
        replicaDivisionPreference: 'Weighted',
        weightPreference: {
          staticWeightList: [{ targetCluster: { clusterNames: ['us-east', 'eu-west'] }, weight: 1 }],
        },
      },
    },
  },
});

describe('meridian up and meridian dev clusters', () => {
  let dataDir: string;
  let up: UpProcess | undefined;
  let state: UpState;
  const hubKubectl = (args: string[], input?: string) =>
    kubectl(state.binDir, state.kubeconfig, args, input === undefined ? {} : { input });

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'meridian-up-'));
  });

  after(async () => {
    await meridian(['dev', 'clusters', 'down', '--data-dir', dataDir]);
    if (up) await stopUp(up);
    await rm(dataDir, { recursive: true, force: true });
  });

  test('up starts a hub in the data directory and prints its kubeconfig, gateway and dashboard', async () => {
    up = startUp(dataDir);
    await printed(up, 'Ctrl-C stops the hub');
    const out = up.out();
    for (const step of ['kube-apiserver running', 'controllers running', 'gateway running']) {
      assert.match(out, new RegExp(`✓ [^\\n]*${step} \\(\\d+\\.\\d s\\)`), step);
    }
    assert.match(out, new RegExp(`kubeconfig: +${dataDir}/hub/admin\\.kubeconfig`));
    assert.match(out, /gateway: +https:\/\/127\.0\.0\.1:\d+/);
    assert.match(out, /dashboard: +\S/);
    state = JSON.parse(await readFile(join(dataDir, 'up.json'), 'utf8')) as UpState;
    assert.equal(state.pid, up.child.pid);
    const nodes = await hubKubectl(['get', 'namespaces', '-o', 'name']);
    assert.match(nodes.stdout, /namespace\/default/);
  });

  test('the gateway serves the dashboard: the page, 401 without a token, the fleet with the viewer token', async () => {
    assert.equal(state.dashboardUrl, `${state.gatewayUrl}/dashboard/`);
    assert.match(up?.out() ?? '', /create token -n meridian-system meridian-dashboard-viewer/);
    const get = (path: string, token?: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpsRequest(
          `${state.dashboardUrl}${path}`,
          { ca: readFileSync(state.caPath), headers: token ? { authorization: `Bearer ${token}` } : {} },
          (res) => {
            let body = '';
            res.setEncoding('utf8').on('data', (c: string) => (body += c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on('error', reject);
        req.end();
      });
    const page = await get('');
    assert.equal(page.status, 200, page.body);
    assert.match(page.body, /<html/i);
    assert.equal((await get('api/state')).status, 401);
    const token = await hubKubectl(['create', 'token', '-n', 'meridian-system', 'meridian-dashboard-viewer']);
    const fleet = await get('api/state', token.stdout.trim());
    assert.equal(fleet.status, 200, fleet.body);
    assert.ok(Array.isArray((JSON.parse(fleet.body) as { clusters?: unknown }).clusters), fleet.body);
  });

  test('a second up on the same data directory is refused (exit 2) and names the running one', async () => {
    const r = await meridian(['up', '--data-dir', dataDir]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`another \`meridian up\` \\(pid ${up?.child.pid}\\) is using ${dataDir}`),
    );
  });

  test('dev clusters up --count 2 joins two simulated clusters that meridian clusters lists Ready', async () => {
    const r = await meridian(['dev', 'clusters', 'up', '--count', '2', '--data-dir', dataDir]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /joined: us-east, eu-west/);
    await eventually(async () => {
      const c = await meridian(['clusters', '-o', 'json', '--kubeconfig', state.kubeconfig]);
      assert.equal(c.code, 0, c.stderr);
      const items = (JSON.parse(c.stdout) as { items: { name: string; ready: { status: string } }[] }).items;
      assert.deepEqual(
        items.map((i) => [i.name, i.ready.status]),
        [
          ['eu-west', 'True'],
          ['us-east', 'True'],
        ],
      );
    }, WAIT);
    const again = await meridian(['dev', 'clusters', 'up', '--data-dir', dataDir]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already running \(us-east, eu-west; pid \d+\).*dev clusters down/);
  });

  test('kubectl get deploy -A on the hub shows the status aggregated from both members', async () => {
    await hubKubectl(['create', 'namespace', 'app']);
    await hubKubectl(
      ['apply', '-f', '-'],
      [deployment('app', 'web', 4), policy('app', 'web')].map((d) => stringify(d)).join('---\n'),
    );
    await eventually(async () => {
      const r = await hubKubectl(['get', 'deploy', '-A', '--no-headers']);
      // Divided 2 + 2 over the members, 4 ready summed on the hub.
      assert.match(r.stdout, /^app\s+web\s+4\/4\s/m, r.stdout);
    }, WAIT);
  });

  test('the controllers serve queue, reconcile, propagation and cluster-health metrics', async () => {
    const text = await (await fetch(state.controllersMetricsUrl)).text();
    for (const queue of ['detector', 'scheduler-rb', 'binding-rb', 'execution', 'status-rb', 'cluster']) {
      assert.ok((sample(text, `meridian_workqueue_adds_total{name="${queue}"}`) ?? 0) > 0, `${queue} adds`);
      assert.equal(sample(text, `meridian_workqueue_depth{name="${queue}"}`) !== undefined, true, queue);
      assert.ok(sample(text, `meridian_workqueue_retries_total{name="${queue}"}`) !== undefined, queue);
    }
    const successes = sample(text, 'meridian_reconcile_total{controller="execution",result="success"}') ?? 0;
    assert.ok(successes > 0, 'execution reconciled');
    const count = sample(text, 'meridian_reconcile_duration_seconds_count{controller="execution"}') ?? 0;
    const sum = sample(text, 'meridian_reconcile_duration_seconds_sum{controller="execution"}') ?? NaN;
    assert.ok(count >= successes && sum > 0 && sum / count < 30, `reconcile mean ${sum / count} s`);
    for (const cluster of ['us-east', 'eu-west']) {
      const n = sample(text, `meridian_propagation_latency_seconds_count{cluster="${cluster}"}`) ?? 0;
      const s = sample(text, `meridian_propagation_latency_seconds_sum{cluster="${cluster}"}`) ?? NaN;
      assert.ok(n >= 1, `propagation to ${cluster} observed`);
      // From the hub change to the member apply: more than nothing, less than the test's wait.
      assert.ok(s > 0 && s / n < 300, `propagation latency to ${cluster}: ${s / n} s`);
      assert.equal(sample(text, `meridian_cluster_ready{cluster="${cluster}"}`), 1, `${cluster} ready gauge`);
    }
    assert.ok((sample(text, 'process_resident_memory_bytes') ?? 0) > 0);
  });

  test('the gateway serves its metrics and probes; both components log JSON lines', async () => {
    const text = await (await fetch(state.gatewayMetricsUrl)).text();
    for (const family of [
      'meridian_gateway_agents_connected',
      'meridian_gateway_tunnel_streams',
      'meridian_gateway_requests_total',
      'meridian_gateway_request_duration_seconds',
    ]) {
      assert.match(text, new RegExp(`^# TYPE ${family} `, 'm'), family);
    }
    // No agent has connected to this gateway (the members are push mode): no per-cluster series.
    assert.doesNotMatch(text, /^meridian_gateway_agents_connected\{/m);
    assert.ok((sample(text, 'process_resident_memory_bytes') ?? 0) > 0);
    assert.equal((await fetch(state.gatewayMetricsUrl.replace('/metrics', '/healthz'))).status, 200);
    for (const file of ['controllers.log', 'gateway.log']) {
      const lines = (await readFile(join(dataDir, 'logs', file), 'utf8')).trim().split('\n');
      assert.ok(lines.length > 0);
      for (const line of lines) {
        const entry = JSON.parse(line) as { level: number; time: number; msg: string; name: string };
        assert.equal(typeof entry.level, 'number', line);
        assert.equal(typeof entry.time, 'number', line);
        assert.match(entry.name, /^meridian-(controllers|gateway)$/);
      }
    }
  });

  test('dev clusters down unjoins and stops them', async () => {
    const r = await meridian(['dev', 'clusters', 'down', '--data-dir', dataDir]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /stopped: us-east, eu-west/);
    const c = await meridian(['clusters', '-o', 'json', '--kubeconfig', state.kubeconfig]);
    assert.deepEqual(JSON.parse(c.stdout), { items: [] });
  });

  test('Ctrl-C stops the hub; the CLI then says it is unreachable (exit 2) and what to do', async () => {
    assert.ok(up);
    // An agent token for the gateway to read when it starts again (see the agent test below).
    await writeFile(join(dataDir, 'gateway', 'agent-tokens', 'edge-1'), randomBytes(16).toString('hex'));
    assert.equal(await stopUp(up), 0, up.out());
    const c = await meridian(['clusters', '--kubeconfig', state.kubeconfig]);
    assert.equal(c.code, 2);
    assert.match(
      c.stderr,
      /^error: cannot reach the hub at https:\/\/127\.0\.0\.1:\d+ .*check that it is running/m,
    );
    const dev = await meridian(['dev', 'clusters', 'up', '--data-dir', dataDir]);
    assert.equal(dev.code, 2);
    assert.match(
      dev.stderr,
      new RegExp(`no local hub is running with data directory ${dataDir}; start one with \`meridian up`),
    );
  });

  test('up again resumes the same hub: same address, the Deployment created before is still there', async () => {
    up = startUp(dataDir);
    await printed(up, 'Ctrl-C stops the hub');
    assert.match(up.out(), /\(resuming\)/);
    const resumed = JSON.parse(await readFile(join(dataDir, 'up.json'), 'utf8')) as UpState;
    assert.equal(resumed.hubServer, state.hubServer);
    assert.equal(resumed.gatewayUrl, state.gatewayUrl);
    const r = await hubKubectl(['get', 'deploy', 'web', '-n', 'app', '-o', 'jsonpath={.spec.replicas}']);
    assert.equal(r.stdout, '4');
  });

  test('an agent tunnel and a request through the gateway show in its metrics', async () => {
    const dev = await meridian(['dev', 'clusters', 'up', '--count', '1', '--data-dir', dataDir]);
    assert.equal(dev.code, 0, dev.stdout + dev.stderr);
    // The gateway read this token at its (second) start.
    const tokenFile = join(dataDir, 'gateway', 'agent-tokens', 'edge-1');
    const agent = spawn(
      process.execPath,
      [
        cli,
        'agent',
        '--cluster',
        'edge-1',
        '--gateway',
        state.gatewayUrl,
        '--token-file',
        tokenFile,
        '--gateway-ca-file',
        state.caPath,
        '--kubeconfig',
        join(dataDir, 'dev-clusters', 'env', 'us-east', 'admin.kubeconfig'),
      ],
      { stdio: 'ignore' },
    );
    const agentExited = new Promise<void>((resolve) => agent.once('exit', () => resolve()));
    try {
      const metrics = async () => (await fetch(state.gatewayMetricsUrl)).text();
      await eventually(async () => {
        assert.equal(sample(await metrics(), 'meridian_gateway_agents_connected{cluster="edge-1"}'), 1);
      }, WAIT);
      const pki = join(dataDir, 'hub', 'pki');
      const version = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpsRequest(
          `${state.gatewayUrl}/clusters/edge-1/version`,
          {
            ca: readFileSync(state.caPath),
            cert: readFileSync(join(pki, 'admin.crt')),
            key: readFileSync(join(pki, 'admin.key')),
          },
          (res) => {
            let body = '';
            res.setEncoding('utf8').on('data', (c: string) => (body += c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on('error', reject);
        req.end();
      });
      assert.equal(version.status, 200, version.body);
      assert.match(version.body, /"gitVersion"/);
      await eventually(async () => {
        const text = await metrics();
        assert.ok(
          (sample(text, 'meridian_gateway_requests_total{cluster="edge-1",verb="get",code="200"}') ?? 0) >= 1,
        );
        const n =
          sample(text, 'meridian_gateway_request_duration_seconds_count{cluster="edge-1",verb="get"}') ?? 0;
        const sum =
          sample(text, 'meridian_gateway_request_duration_seconds_sum{cluster="edge-1",verb="get"}') ?? NaN;
        assert.ok(n >= 1 && sum > 0 && sum / n < 60, `request time ${sum / n} s`);
        assert.ok(sample(text, 'meridian_gateway_tunnel_streams{cluster="edge-1"}') !== undefined);
      }, WAIT);
    } finally {
      agent.kill('SIGTERM');
      await agentExited;
    }
  });

  test('a pull-mode cluster joins the local hub: its agent is issued a certificate and turns it Ready', async () => {
    const joined = await meridian(['join', 'edge-2', '--mode', 'Pull', '--hub-kubeconfig', state.kubeconfig]);
    assert.equal(joined.code, 0, joined.stdout + joined.stderr);
    const token = /bootstrap token: (\S+)/.exec(joined.stdout)?.[1];
    assert.ok(token, joined.stdout);
    const certDir = await mkdtemp(join(tmpdir(), 'meridian-agent-'));
    const agent = spawn(
      process.execPath,
      [
        cli,
        'agent',
        '--cluster',
        'edge-2',
        '--gateway',
        state.gatewayUrl,
        '--gateway-ca-file',
        state.caPath,
        '--hub-server',
        state.hubServer,
        '--cert-dir',
        certDir,
        '--bootstrap-token',
        token,
        '--kubeconfig',
        join(dataDir, 'dev-clusters', 'env', 'us-east', 'admin.kubeconfig'),
      ],
      { stdio: 'ignore' },
    );
    const agentExited = new Promise<void>((resolve) => agent.once('exit', () => resolve()));
    try {
      await eventually(async () => {
        const c = await meridian(['clusters', 'edge-2', '-o', 'json', '--kubeconfig', state.kubeconfig]);
        assert.equal(c.code, 0, c.stderr);
        const [item] = (JSON.parse(c.stdout) as { items: { mode: string; ready: { status: string } }[] })
          .items;
        assert.deepEqual([item?.mode, item?.ready.status], ['Pull', 'True']);
        const text = await (await fetch(state.gatewayMetricsUrl)).text();
        assert.equal(sample(text, 'meridian_gateway_agents_connected{cluster="edge-2"}'), 1);
      }, WAIT);
    } finally {
      agent.kill('SIGTERM');
      await agentExited;
      await rm(certDir, { recursive: true, force: true });
    }
  });

  test('dev clusters down and Ctrl-C leave nothing running', async () => {
    const down = await meridian(['dev', 'clusters', 'down', '--data-dir', dataDir]);
    assert.equal(down.code, 0, down.stderr);
    assert.ok(up);
    assert.equal(await stopUp(up), 0, up.out());
    up = undefined;
  });

  test('wrong arguments exit 1 with a message', async () => {
    const count = await meridian(['dev', 'clusters', 'up', '--count', '0', '--data-dir', dataDir]);
    assert.equal(count.code, 1);
    assert.match(count.stderr, /--count.*expected a whole number from 1 to 20/);
    const unknown = await meridian(['up', '--data-dri', dataDir]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /unknown option '--data-dri'/);
  });
});
