// The command-line entry points of the cluster proxy through the hub: `meridian gateway
// --hub-kubeconfig … --register-api-service 127.0.0.1 --audit-log <file>` and `meridian agent`
// as processes, run from the bundle the container images run (scripts/bundle.ts, outside the
// repository, so without node_modules); kubectl through the hub reaches the member, and the
// audit file has the line.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ClusterInfo } from '../../src/testenv/environment.ts';
import { writeKubeconfig } from '../../src/testenv/kubeconfig.ts';
import { freePorts } from '../../src/testenv/ports.ts';
import { eventually } from '../support/eventually.ts';
import { useEnvironment } from '../support/environment.ts';
import { startProxyFixture, type ProxyFixture } from '../support/proxy-fixture.ts';
import { bundleCli } from '../../scripts/bundle.ts';

const env = useEnvironment();
let cli = '';
const tag = randomBytes(3).toString('hex');
const CLUSTER = `cli-${tag}`;
let fx: ProxyFixture;
const procs: ChildProcess[] = [];
let auditPath = '';
let viaHub = '';

function meridianProcess(args: readonly string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: fx.dir });
  procs.push(child);
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => (out = (out + c).slice(-100_000)));
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (out = (out + c).slice(-100_000)));
  return { child, output: () => out };
}

describe('meridian gateway and agent (the bundled CLI) serving the cluster proxy through the hub', () => {
  before(async () => {
    const e = env.get();
    const member = e.members[1] as ClusterInfo;
    // The fixture provides certificates and users only: no gateway registered, no agents.
    fx = await startProxyFixture(e.info, {
      clusters: new Map([[CLUSTER, member]]),
      startAgents: false,
      register: false,
    });
    cli = await bundleCli(join(fx.dir, 'image', 'dist', 'cli', 'main.mjs'));
    const tokens = join(fx.dir, 'cli-tokens');
    await mkdir(tokens);
    const token = randomBytes(24).toString('base64url');
    await writeFile(join(tokens, CLUSTER), token);
    const [port] = (await freePorts(1)) as [number];
    auditPath = join(fx.dir, 'cli-audit.jsonl');
    const gw = meridianProcess([
      'gateway', '--tls-cert-file', fx.gatewayCert.certPath, '--tls-key-file', fx.gatewayCert.keyPath,
      '--client-ca-file', e.hub.caPath, '--agent-token-dir', tokens, '--bind-address', '127.0.0.1',
      '--port', String(port), '--hub-kubeconfig', e.hub.kubeconfig, '--register-api-service', '127.0.0.1',
      '--audit-log', auditPath,
    ]); // prettier-ignore
    await eventually(
      async () => assert.match(gw.output(), /registered APIService v1alpha1\.proxy\.meridian\.dev/),
      {
        timeoutMs: 60_000,
      },
    );
    await fx.hub([
      'wait',
      '--for=condition=Available',
      'apiservice/v1alpha1.proxy.meridian.dev',
      '--timeout=180s',
    ]);
    await writeFile(join(fx.dir, 'cli-agent.token'), token);
    meridianProcess([
      'agent', '--cluster', CLUSTER, '--gateway', `https://127.0.0.1:${port}`, '--gateway-ca-file', e.hub.caPath,
      '--token-file', join(fx.dir, 'cli-agent.token'), '--kubeconfig', member.kubeconfig,
    ]); // prettier-ignore
    const admin = await fx.user(`cli-admin-${tag}`, ['system:masters']);
    viaHub = join(fx.dir, 'cli-via-hub.kubeconfig');
    await writeKubeconfig(viaHub, {
      cluster: CLUSTER,
      server: `${e.hub.server}/apis/proxy.meridian.dev/v1alpha1/clusters/${CLUSTER}/proxy`,
      caPath: e.hub.caPath,
      user: 'cli-admin',
      credentials: admin,
    });
  });
  after(async () => {
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(
      procs.map((p) =>
        p.exitCode === null && p.signalCode === null
          ? new Promise((resolve) => p.once('exit', resolve))
          : undefined,
      ),
    );
    await fx?.stop(); // also removes the APIService
  });

  test('kubectl through the hub reaches the member, and the request is in the audit file', async () => {
    // The agent connects in the background: the proxy answers 503 until it has.
    const out = await eventually(
      () => fx.kubectl(viaHub, ['get', 'namespace', 'kube-public', '-o', 'name']),
      {
        timeoutMs: 60_000,
        intervalMs: 500,
      },
    );
    assert.equal(out.stdout, 'namespace/kube-public\n');
    await eventually(async () => {
      const lines = (await readFile(auditPath, 'utf8')).split('\n').filter((l) => l !== '');
      const rec = lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((r) => r['path'] === '/api/v1/namespaces/kube-public' && r['status'] === 200);
      assert.ok(rec, lines.join('\n'));
      assert.equal(rec['user'], `cli-admin-${tag}`);
      assert.equal(rec['cluster'], CLUSTER);
      assert.equal(rec['via'], 'hub');
    });
  });
});
