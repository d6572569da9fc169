// The cluster proxy through agent tunnels, end to end: a real gateway and one real agent per
// member (in this process), the real kubectl pointed at https://<gateway>/clusters/<member>,
// the members' own API servers deciding with their own RBAC.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { startAgent, type RunningAgent } from '../../src/agent/agent.ts';
import { dialGateway } from '../../src/agent/dial.ts';
import { agentFromFiles } from '../../src/agent/main.ts';
import { memberTargetFromKubeConfig, type MemberTarget } from '../../src/agent/member.ts';
import { startGateway, type Gateway } from '../../src/gateway/gateway.ts';
import { gatewayFromFiles } from '../../src/gateway/main.ts';
import type { AuditRecord } from '../../src/gateway/proxy.ts';
import { staticTokens } from '../../src/gateway/tokens.ts';
import { TunnelError } from '../../src/tunnel/errors.ts';
import { writeKubeconfig } from '../../src/testenv/kubeconfig.ts';
import { kubectl as runKubectl } from '../../src/testenv/kubectl.ts';
import { issueCertificate, type KeyPair } from '../../src/testenv/pki.ts';
import { eventually } from '../support/eventually.ts';
import { uniqueName, useEnvironment } from '../support/environment.ts';

const env = useEnvironment();

let dir = '';
let gateway: Gateway | undefined;
const agents = new Map<string, RunningAgent>();
/** Every agent started, for cleanup. */
const allAgents: RunningAgent[] = [];
let startGatewayOn: (port: number) => Promise<Gateway>;
const targets: MemberTarget[] = [];
const tokens = new Map<string, string>();
const audits: AuditRecord[] = [];
let hubCa = '';
let admin: KeyPair;
let alice: KeyPair;
const aliceName = `alice-${randomBytes(3).toString('hex')}`;
const devGroup = 'tunnel-e2e-devs';

/** A kubeconfig for `user` whose server is the gateway's proxy path for `member`. */
async function viaGateway(user: string, creds: KeyPair, member: string): Promise<string> {
  const path = join(dir, `${user}@${member}.kubeconfig`);
  await writeKubeconfig(path, {
    cluster: member,
    server: `${gateway!.url}/clusters/${member}`,
    caPath: env.get().hub.caPath,
    user,
    credentials: creds,
  });
  return path;
}

function kubectlVia(
  kubeconfig: string,
  args: readonly string[],
  opts?: { input?: string; timeoutMs?: number },
) {
  return runKubectl(env.get().info.binDir, kubeconfig, args, opts);
}

/** kubectl with extra environment variables (e.g. to pick a streaming protocol). */
function kubectlEnv(
  kubeconfig: string,
  extraEnv: Readonly<Record<string, string>>,
  args: readonly string[],
  opts: { input?: string; timeoutMs?: number } = {},
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      join(env.get().info.binDir, 'kubectl'),
      ['--kubeconfig', kubeconfig, ...args],
      { timeout: opts.timeoutMs ?? 120_000, env: { ...process.env, ...extraEnv } },
      (err, stdout, stderr) => {
        if (err)
          reject(
            new Error(`kubectl ${args.join(' ')} failed: ${stderr.trim() || err.message}`, { cause: err }),
          );
        else resolve({ stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** A long-running kubectl (watch, logs -f) whose stdout is collected. */
function spawnKubectl(
  kubeconfig: string,
  args: readonly string[],
  extraEnv: Readonly<Record<string, string>> = {},
) {
  const child: ChildProcessWithoutNullStreams = spawn(
    join(env.get().info.binDir, 'kubectl'),
    ['--kubeconfig', kubeconfig, ...args],
    { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...extraEnv } },
  );
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  return {
    child,
    out: () => out,
    err: () => err,
    /** Resolves once stdout satisfies `pred`; rejects if kubectl exits first or after `ms`. */
    until(pred: (s: string) => boolean, ms = 60_000): Promise<string> {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (pred(out)) {
            cleanup();
            resolve(out);
          }
        };
        const onExit = (code: number | null): void => {
          cleanup();
          reject(new Error(`kubectl ${args.join(' ')} exited (${code}) early: ${err}\nstdout: ${out}`));
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(
              `kubectl ${args.join(' ')}: condition not met after ${ms} ms; stdout: ${out} stderr: ${err}`,
            ),
          );
        }, ms);
        const cleanup = (): void => {
          clearTimeout(timer);
          child.stdout.off('data', check);
          child.off('exit', onExit);
        };
        child.stdout.on('data', check);
        child.once('exit', onExit);
        check();
      });
    },
    stop() {
      child.kill();
    },
  };
}

function deployment(namespace: string): string {
  return stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] },
      },
    },
  });
}

/** A GET to the gateway, optionally with a client certificate; the body parsed as a `Status`. */
async function gatewayGet(
  path: string,
  creds?: KeyPair,
): Promise<{ status: number; body: { reason: string; message: string } }> {
  const tls = creds ? { cert: await readFile(creds.certPath), key: await readFile(creds.keyPath) } : {};
  return new Promise((resolve, reject) => {
    httpsGet(`${gateway!.url}${path}`, { ca: hubCa, ...tls }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) as never }));
    }).on('error', reject);
  });
}

/**
 * Setup, run by the suite's own `before`: root-level `before` hooks do not wait for one
 * another (node:test), so a root-level setup would race `useEnvironment()`'s start of a
 * private environment when this file runs on its own.
 */
async function setUp(): Promise<void> {
  const e = env.get();
  dir = await mkdtemp(join(tmpdir(), 'meridian-tunnel-e2e-'));
  const ca = { certPath: e.hub.caPath, keyPath: join(e.hub.dir, 'pki', 'ca.key') };
  hubCa = await readFile(e.hub.caPath, 'utf8');
  const [serving, adminPair, alicePair] = await Promise.all([
    issueCertificate(ca, dir, 'gateway', {
      commonName: 'meridian-gateway',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      usage: 'server',
    }),
    issueCertificate(ca, dir, 'tunnel-admin', {
      commonName: 'tunnel-admin',
      organizations: ['system:masters'],
      usage: 'client',
    }),
    issueCertificate(ca, dir, 'alice', { commonName: aliceName, organizations: [devGroup], usage: 'client' }),
  ]);
  admin = adminPair;
  alice = alicePair;
  for (const m of e.members) tokens.set(m.name, randomBytes(24).toString('base64url'));
  const cert = await readFile(serving.certPath);
  const key = await readFile(serving.keyPath);
  startGatewayOn = (port) =>
    startGateway({
      host: '127.0.0.1',
      port,
      tls: { cert, key, clientCa: hubCa },
      agents: staticTokens(tokens),
      audit: (r) => audits.push(r),
    });
  gateway = await startGatewayOn(0);
  for (const m of e.members) agents.set(m.name, await newAgent(m.name));
  await Promise.all([...agents.keys()].map((c) => gateway!.agents.connected(c, AbortSignal.timeout(60_000))));
}

/** Starts one more agent for `cluster` (its own connection pool to the member). */
async function newAgent(cluster: string, extra: { proxy?: string } = {}): Promise<RunningAgent> {
  const kc = new KubeConfig();
  kc.loadFromFile(env.get().members.find((m) => m.name === cluster)!.kubeconfig);
  const member = await memberTargetFromKubeConfig(kc);
  targets.push(member);
  const agent = startAgent({
    cluster,
    gatewayUrl: gateway!.url,
    token: async () => tokens.get(cluster) ?? '',
    gatewayCa: hubCa,
    member,
    backoff: { initialMs: 200, maxMs: 2000 },
    ...extra,
  });
  allAgents.push(agent);
  return agent;
}

async function tearDown(): Promise<void> {
  await Promise.all(allAgents.map((a) => a.stop()));
  await gateway?.close();
  for (const t of targets) t.close();
  if (dir) await rm(dir, { recursive: true, force: true });
}

describe('cluster proxy through agent tunnels', () => {
  before(setUp);
  after(tearDown);

  test('get: every member answers through the gateway with its own objects', async () => {
    const e = env.get();
    for (const m of e.members) {
      const kc = await viaGateway('tunnel-admin', admin, m.name);
      const through = JSON.parse((await kubectlVia(kc, ['get', 'nodes', '-o', 'json'])).stdout) as {
        items: { metadata: { name: string; labels: Record<string, string> } }[];
      };
      const direct = JSON.parse(
        (await e.kubectl(m.name, ['get', 'nodes', '-o', 'json'])).stdout,
      ) as typeof through;
      assert.deepEqual(
        through.items.map((n) => n.metadata.name).sort(),
        direct.items.map((n) => n.metadata.name).sort(),
      );
      assert.ok(
        through.items.every(
          (n) =>
            n.metadata.labels['topology.kubernetes.io/region'] === m.labels['topology.kubernetes.io/region'],
        ),
        `${m.name}'s nodes carry its region`,
      );
    }
  });

  test('watch: kubectl get -w streams events as they happen', async () => {
    const e = env.get();
    const m = e.members[1]!;
    const ns = uniqueName('tunnel-watch');
    await e.kubectl(m.name, ['create', 'namespace', ns]);
    const kc = await viaGateway('tunnel-admin', admin, m.name);
    const w = spawnKubectl(kc, ['get', 'configmaps', '-n', ns, '-w', '-o', 'name']);
    try {
      // The initial list (the namespace's root CA ConfigMap) shows the watch is established.
      await w.until((s) => s.includes('configmap/kube-root-ca.crt'), 60_000);
      for (const name of ['one', 'two', 'three']) {
        await e.kubectl(m.name, ['create', 'configmap', name, '-n', ns, `--from-literal=k=${name}`]);
        await w.until((s) => s.includes(`configmap/${name}\n`), 60_000);
      }
    } finally {
      w.stop();
      await e.kubectl(m.name, ['delete', 'namespace', ns, '--wait=false']);
    }
  });

  describe('logs and attach', () => {
    // The last member: appending to its pod log (for logs -f) changes what its pods log.
    const member = () => env.get().members.at(-1)!;
    let ns = '';
    let pod = '';

    test('setup: one ready pod', async () => {
      const e = env.get();
      ns = uniqueName('tunnel-logs');
      await e.kubectl(member().name, ['create', 'namespace', ns]);
      await e.kubectl(member().name, ['apply', '-f', '-'], { input: deployment(ns) });
      await e.kubectl(member().name, [
        'wait', '-n', ns, 'deployment/web', '--for=jsonpath={.status.readyReplicas}=1', '--timeout=120s',
      ]); // prettier-ignore
      pod = (
        await e.kubectl(member().name, ['get', 'pods', '-n', ns, '-o', 'jsonpath={.items[0].metadata.name}'])
      ).stdout;
      assert.match(pod, /^web-/);
    });

    test('logs returns the pod log through the tunnel', async () => {
      const kc = await viaGateway('tunnel-admin', admin, member().name);
      const out = await kubectlVia(kc, ['logs', '-n', ns, pod]);
      assert.match(out.stdout, new RegExp(`^meridian: log of a pod in member ${member().name}\nline 2\n`));
    });

    test('logs -f streams lines appended while it runs', async () => {
      const kc = await viaGateway('tunnel-admin', admin, member().name);
      const f = spawnKubectl(kc, ['logs', '-f', '-n', ns, pod]);
      try {
        await f.until((s) => s.includes('line 2\n'));
        const marker = `streamed through the tunnel ${randomBytes(4).toString('hex')}`;
        await appendFile(member().podLogFile!, `${new Date().toISOString()} stdout F ${marker}\n`);
        await f.until((s) => s.includes(`${marker}\n`));
      } finally {
        f.stop();
      }
    });

    const attachFamilies: { name: string; env: Record<string, string> }[] = [
      { name: 'WebSocket', env: {} },
      { name: 'SPDY/3.1', env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' } },
    ];
    for (const f of attachFamilies) {
      test(`attach over ${f.name} streams what the container writes`, async () => {
        const kc = await viaGateway('tunnel-admin', admin, member().name);
        const a = spawnKubectl(kc, ['attach', '-n', ns, pod], f.env);
        try {
          // kwok's attach follows the pod log from its end, and kubectl does not say when it is
          // attached: append marked lines until one comes through (a bounded number of tries).
          const marker = `attached through the tunnel ${randomBytes(4).toString('hex')}`;
          for (let i = 0; ; i++) {
            await appendFile(member().podLogFile!, `${new Date().toISOString()} stdout F ${marker} ${i}\n`);
            try {
              await a.until((s) => s.includes(marker), 2000);
              break;
            } catch (err) {
              if (i >= 30 || a.child.exitCode !== null) throw err;
            }
          }
        } finally {
          a.stop();
        }
      });
    }

    test('cleanup', async () => {
      await env.get().kubectl(member().name, ['delete', 'namespace', ns, '--wait=false']);
    });
  });

  describe('exec and port-forward: upgraded connections spliced through the tunnel', () => {
    const member = () => env.get().members[0]!;
    let ns = '';
    let pod = '';

    test('setup: one ready pod', async () => {
      const e = env.get();
      ns = uniqueName('tunnel-upgrade');
      await e.kubectl(member().name, ['create', 'namespace', ns]);
      await e.kubectl(member().name, ['apply', '-f', '-'], { input: deployment(ns) });
      await e.kubectl(member().name, [
        'wait', '-n', ns, 'deployment/web', '--for=jsonpath={.status.readyReplicas}=1', '--timeout=120s',
      ]); // prettier-ignore
      pod = (
        await e.kubectl(member().name, ['get', 'pods', '-n', ns, '-o', 'jsonpath={.items[0].metadata.name}'])
      ).stdout;
      assert.match(pod, /^web-/);
    });

    const families = [
      { name: 'WebSocket (kubectl’s default)', env: {}, upgrade: /^websocket$/i },
      {
        name: 'SPDY/3.1',
        env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false', KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' },
        upgrade: /^SPDY\/3\.1$/i,
      },
    ] as const;

    /** The upgraded requests audited since `from` for `subresource`, as "upgrade status". */
    const upgrades = (from: number, subresource: string) =>
      audits
        .slice(from)
        .filter((r) => r.path.includes(`/pods/${pod}/${subresource}`))
        .map((r) => ({ upgrade: r.upgrade ?? '', status: r.status }));

    for (const f of families) {
      test(`exec over ${f.name}: stdout, stderr and the member-specific environment`, async () => {
        const from = audits.length;
        const kc = await viaGateway('tunnel-admin', admin, member().name);
        const out = await kubectlEnv(kc, f.env, [
          'exec', '-n', ns, pod, '--', 'sh', '-c', 'echo "cluster=$MERIDIAN_CLUSTER"; echo err >&2',
        ]); // prettier-ignore
        assert.equal(out.stdout, `cluster=${member().name}\n`);
        assert.equal(out.stderr, 'err\n');
        await eventually(
          async () => {
            const seen = upgrades(from, 'exec');
            assert.ok(
              seen.some((u) => f.upgrade.test(u.upgrade) && u.status === 101),
              `an exec upgraded with ${f.upgrade} was audited: ${JSON.stringify(seen)}`,
            );
          },
          { timeoutMs: 10_000 },
        );
      });

      test(`exec -i over ${f.name} passes stdin through`, async () => {
        const kc = await viaGateway('tunnel-admin', admin, member().name);
        // `head -1` ends by itself: kwok's exec does not forward end-of-stdin.
        const out = await kubectlEnv(kc, f.env, ['exec', '-i', '-n', ns, pod, '--', 'head', '-1'], {
          input: 'hello through the tunnel\nnot read\n',
        });
        assert.equal(out.stdout, 'hello through the tunnel\n');
      });

      test(`port-forward over ${f.name} carries bytes both ways`, async () => {
        const from = audits.length;
        const kc = await viaGateway('tunnel-admin', admin, member().name);
        const pf = spawn(
          join(env.get().info.binDir, 'kubectl'),
          ['--kubeconfig', kc, 'port-forward', '-n', ns, `pod/${pod}`, ':8080'],
          {
            stdio: ['ignore', 'pipe', 'pipe'],
            env: { ...process.env, ...f.env },
          },
        );
        try {
          const port = await new Promise<number>((resolve, reject) => {
            let out = '';
            pf.stdout.setEncoding('utf8').on('data', (c: string) => {
              out += c;
              const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(out);
              if (m) resolve(Number(m[1]));
            });
            pf.once('exit', (code) => reject(new Error(`kubectl port-forward exited (${code}): ${out}`)));
          });
          const payload = `ping through the tunnel ${randomBytes(8).toString('hex')}\n`.repeat(2000);
          const echoed = await new Promise<string>((resolve, reject) => {
            const sock = connect(port, '127.0.0.1', () => sock.write(payload));
            let got = '';
            sock.setEncoding('utf8').on('data', (c: string) => {
              got += c;
              if (got.length >= payload.length) {
                sock.end();
                resolve(got);
              }
            });
            sock.once('error', reject);
            sock.setTimeout(60_000, () =>
              reject(new Error(`port-forward echo: ${got.length} of ${payload.length} bytes`)),
            );
          });
          assert.equal(echoed, payload);
        } finally {
          pf.kill();
        }
        // Audited when the upgraded connection ends, i.e. now that kubectl is gone.
        await eventually(
          async () => {
            const seen = upgrades(from, 'portforward');
            assert.ok(
              seen.some((u) => f.upgrade.test(u.upgrade) && u.status === 101),
              `a port-forward upgraded with ${f.upgrade} was audited: ${JSON.stringify(seen)}`,
            );
          },
          { timeoutMs: 30_000 },
        );
      });
    }

    test('a port-forward whose reader stalls holds back only itself: other requests and pings go on', async () => {
      const m = member();
      const kc = await viaGateway('tunnel-admin', admin, m.name);
      const agentSession = agents.get(m.name)!.session!;
      const pf = spawn(
        join(env.get().info.binDir, 'kubectl'),
        ['--kubeconfig', kc, 'port-forward', '-n', ns, `pod/${pod}`, ':8080'],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      const sock = await (async () => {
        const port = await new Promise<number>((resolve, reject) => {
          let out = '';
          pf.stdout.setEncoding('utf8').on('data', (c: string) => {
            out += c;
            const found = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(out);
            if (found) resolve(Number(found[1]));
          });
          pf.once('exit', (code) => reject(new Error(`kubectl port-forward exited (${code}): ${out}`)));
        });
        const c = connect(port, '127.0.0.1');
        await once(c, 'connect');
        return c;
      })();
      let writing = true;
      try {
        // Send to the echo forever and never read the echo: every buffer on the way back fills
        // until the agent's tunnel stream has no credit left.
        sock.pause();
        const chunk = randomBytes(64 * 1024);
        void (async () => {
          while (writing && !sock.destroyed)
            if (!sock.write(chunk)) await once(sock, 'drain').catch(() => {});
        })();
        await eventually(
          async () => assert.ok(agentSession.stats().creditBlocked >= 1, 'a stream waits for credit'),
          {
            timeoutMs: 120_000,
            intervalMs: 200,
          },
        );
        // The same tunnel still serves other requests, and its pings are still answered.
        const pongs = agentSession.pongs;
        for (let i = 0; i < 3; i++) {
          const out = await kubectlVia(kc, ['get', 'pods', '-n', ns, '-o', 'name']);
          assert.equal(out.stdout, `pod/${pod}\n`);
        }
        await eventually(async () => assert.ok(agentSession.pongs >= pongs + 2), { timeoutMs: 60_000 });
        assert.ok(agentSession.stats().creditBlocked >= 1, 'the port-forward was stalled throughout');
        assert.equal(agentSession, agents.get(m.name)!.session, 'on the same tunnel');
        // Reading again lets the stalled stream move.
        let got = 0;
        sock.on('data', (c: Buffer) => (got += c.length));
        sock.resume();
        await eventually(async () => assert.ok(got > 4 * 1024 * 1024), { timeoutMs: 120_000 });
      } finally {
        writing = false;
        sock.destroy();
        pf.kill();
      }
    });

    test('cleanup', async () => {
      await env.get().kubectl(member().name, ['delete', 'namespace', ns, '--wait=false']);
    });
  });

  describe('identity: the member’s own RBAC decides, for the caller the gateway authenticated', () => {
    const ns = uniqueName('tunnel-rbac');
    const [a, b] = [() => env.get().members[0]!.name, () => env.get().members[1]!.name];

    test('setup: the user may view namespace objects on member A only', async () => {
      const e = env.get();
      for (const m of [a(), b()]) await e.kubectl(m, ['create', 'namespace', ns]);
      await e.kubectl(a(), [
        'create',
        'rolebinding',
        'alice-view',
        '-n',
        ns,
        '--clusterrole=view',
        `--user=${aliceName}`,
      ]);
    });

    test('allowed on A, refused on B by B’s API server', async () => {
      const onA = await kubectlVia(await viaGateway('alice', alice, a()), [
        'get',
        'configmaps',
        '-n',
        ns,
        '-o',
        'name',
      ]);
      assert.match(onA.stdout, /configmap\/kube-root-ca\.crt/);
      await assert.rejects(
        kubectlVia(await viaGateway('alice', alice, b()), ['get', 'configmaps', '-n', ns]),
        new RegExp(`User "${aliceName}" cannot list resource "configmaps".*namespace "${ns}"`),
      );
      await eventually(
        async () => {
          const r = audits.find((x) => x.user === aliceName && x.cluster === b() && x.status === 403);
          assert.ok(r, 'the refused request is audited');
          assert.deepEqual(r.groups, [devGroup]);
        },
        { timeoutMs: 10_000 },
      );
    });

    test('exec, which view does not allow, is refused by A’s API server through the upgrade path', async () => {
      const e = env.get();
      await e.kubectl(a(), ['apply', '-f', '-'], { input: deployment(ns) });
      await e.kubectl(a(), [
        'wait', '-n', ns, 'deployment/web', '--for=jsonpath={.status.readyReplicas}=1', '--timeout=120s',
      ]); // prettier-ignore
      const pod = (
        await e.kubectl(a(), ['get', 'pods', '-n', ns, '-o', 'jsonpath={.items[0].metadata.name}'])
      ).stdout;
      const kc = await viaGateway('alice', alice, a());
      const families: Record<string, string>[] = [{}, { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' }];
      for (const extra of families) {
        await assert.rejects(
          kubectlEnv(kc, extra, ['exec', '-n', ns, pod, '--', 'true']),
          new RegExp(`User "${aliceName}" cannot create resource "pods/exec"`),
        );
      }
    });

    test('client-supplied impersonation headers are ignored', async () => {
      // kubectl --as / --as-group send Impersonate-User / Impersonate-Group. Were they passed
      // on, the agent (system:masters on the member) would make them effective.
      const asAdmin = ['--as=tunnel-admin', '--as-group=system:masters'];
      await assert.rejects(
        kubectlVia(await viaGateway('alice', alice, b()), [...asAdmin, 'get', 'configmaps', '-n', ns]),
        new RegExp(`User "${aliceName}" cannot list resource "configmaps"`),
      );
      await assert.rejects(
        kubectlVia(await viaGateway('alice', alice, a()), [...asAdmin, 'get', 'secrets', '-n', ns]),
        new RegExp(`User "${aliceName}" cannot list resource "secrets"`),
      );
    });

    test('cleanup', async () => {
      const e = env.get();
      for (const m of [a(), b()]) await e.kubectl(m, ['delete', 'namespace', ns, '--wait=false']);
    });
  });

  describe('refusals', () => {
    test('a caller without a hub-signed client certificate gets 401', async () => {
      const r = await gatewayGet(`/clusters/${env.get().members[0]!.name}/api`);
      assert.equal(r.status, 401);
      assert.equal(r.body.reason, 'Unauthorized');
    });

    test('a hub-signed certificate not meant for clients (serving only) gets 401', async () => {
      const ca = { certPath: env.get().hub.caPath, keyPath: join(env.get().hub.dir, 'pki', 'ca.key') };
      const serverOnly = await issueCertificate(ca, dir, 'server-only', {
        commonName: 'tunnel-admin',
        organizations: ['system:masters'],
        usage: 'server',
      });
      const r = await gatewayGet(`/clusters/${env.get().members[0]!.name}/api`, serverOnly);
      assert.equal(r.status, 401);
    });

    test('a cluster without a connected agent gets 503, and kubectl sees ServiceUnavailable', async () => {
      const r = await gatewayGet('/clusters/no-such-cluster/api', admin);
      assert.equal(r.status, 503);
      assert.match(r.body.message, /no-such-cluster has no connected agent/);
      const kc = await viaGateway('tunnel-admin', admin, 'no-such-cluster');
      await assert.rejects(kubectlVia(kc, ['get', 'namespaces']), /ServiceUnavailable/);
    });

    test('an agent with another cluster’s token is refused', async () => {
      const [m0, m1] = [env.get().members[0]!.name, env.get().members[1]!.name];
      await assert.rejects(
        dialGateway({ gatewayUrl: gateway!.url, cluster: m0, token: tokens.get(m1)!, ca: hubCa }),
        /HTTP 401/,
      );
    });
  });

  test('a tunnel that dies mid-watch ends the watch (no hang); the agent reconnects and serves again', async () => {
    const m = env.get().members[0]!;
    const agent = agents.get(m.name)!;
    const kc = await viaGateway('tunnel-admin', admin, m.name);
    const w = spawnKubectl(kc, ['get', 'namespaces', '-w', '-o', 'name']);
    const exited = new Promise<number | null>((resolve) => w.child.once('exit', resolve));
    try {
      await w.until((s) => s.includes('namespace/default'));
      const old = agent.session!;
      // Cut the agent's side hard, as a crash would (nothing is sent to the gateway).
      old.destroy(new TunnelError('SessionClosed', 'test cut the tunnel'));
      // The gateway finds out (its WebSocket closes) and cuts the watch's connection: kubectl's
      // watch ends instead of waiting forever on a stream that will never deliver again.
      const code = await Promise.race([
        exited,
        new Promise<'hung'>((r) => setTimeout(() => r('hung'), 60_000)),
      ]);
      assert.notEqual(code, 'hung', 'kubectl get -w ended after its tunnel died');
      const fresh = await eventually(
        async () => {
          const s = await agent.connected(AbortSignal.timeout(30_000));
          assert.notEqual(s, old);
          return s;
        },
        { timeoutMs: 60_000 },
      );
      assert.equal(fresh.isClosed, false);
      await eventually(() => kubectlVia(kc, ['get', 'namespace', 'default', '-o', 'name']), {
        timeoutMs: 60_000,
      });
    } finally {
      w.stop();
    }
  });

  describe('faults', () => {
    test('two agents share a cluster; killing one fails only the streams it carried', async () => {
      const e = env.get();
      const m = e.members[1]!;
      const first = agents.get(m.name)!;
      const second = await newAgent(m.name);
      await eventually(async () => assert.equal(gateway!.agents.connections(m.name).length, 2), {
        timeoutMs: 60_000,
      });
      const ns = uniqueName('tunnel-two');
      await e.kubectl(m.name, ['create', 'namespace', ns]);
      const kc = await viaGateway('tunnel-admin', admin, m.name);
      // New streams go to the agent with the fewest open: two watches land on different agents.
      // kubectl prints the initial list before it sends the watch: wait for the watch's stream.
      const open = () => gateway!.agents.connections(m.name).reduce((n, c) => n + c.session.streamCount, 0);
      const w1 = spawnKubectl(kc, ['get', 'configmaps', '-n', ns, '-w', '-o', 'name']);
      await w1.until((s) => s.includes('kube-root-ca.crt'));
      await eventually(async () => assert.equal(open(), 1), { timeoutMs: 60_000 });
      const w2 = spawnKubectl(kc, ['get', 'configmaps', '-n', ns, '-w', '-o', 'name']);
      await w2.until((s) => s.includes('kube-root-ca.crt'));
      await eventually(async () => assert.equal(open(), 2), { timeoutMs: 60_000 });
      try {
        assert.deepEqual([first.session!.streamCount, second.session!.streamCount].sort(), [1, 1]);
        // Each agent carries one watch; stop the first.
        const [victim, survivor] = [first, second];
        const exited = (w: ReturnType<typeof spawnKubectl>) =>
          new Promise<boolean>((resolve) => {
            if (w.child.exitCode !== null) resolve(true);
            else w.child.once('exit', () => resolve(true));
          });
        await victim.stop();
        // Exactly one of the two watches ends (the one the stopped agent carried)…
        const ended = await Promise.race([
          exited(w1).then(() => 'w1'),
          exited(w2).then(() => 'w2'),
          new Promise<'none'>((r) => setTimeout(() => r('none'), 60_000)),
        ]);
        assert.notEqual(ended, 'none', 'the watch on the stopped agent ended');
        const alive = ended === 'w1' ? w2 : w1;
        assert.equal(alive.child.exitCode, null);
        // …the other keeps streaming, and new requests succeed at once, on the survivor.
        await e.kubectl(m.name, ['create', 'configmap', 'after-kill', '-n', ns]);
        await alive.until((s) => s.includes('configmap/after-kill\n'));
        await kubectlVia(kc, ['get', 'configmap', 'after-kill', '-n', ns, '-o', 'name']);
        assert.equal(gateway!.agents.connections(m.name).length, 1);
        agents.set(m.name, survivor);
      } finally {
        w1.stop();
        w2.stop();
        await e.kubectl(m.name, ['delete', 'namespace', ns, '--wait=false']);
      }
    });

    test('an agent reaches the gateway through an HTTP CONNECT proxy', async () => {
      // A minimal CONNECT proxy written for this test (no proxy server ships with the
      // environment): it only splices TCP after CONNECT, as any forward proxy does.
      const seen: string[] = [];
      const proxy = createHttpServer();
      proxy.on('connect', (req: IncomingMessage, client: Duplex, head: Buffer) => {
        seen.push(req.url ?? '');
        const [host, port] = (req.url ?? '').split(':');
        const upstream = connect(Number(port), host, () => {
          client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
          if (head.length > 0) upstream.write(head);
          upstream.pipe(client);
          client.pipe(upstream);
        });
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
      });
      proxy.listen(0, '127.0.0.1');
      await once(proxy, 'listening');
      const m = env.get().members[2]!;
      const direct = agents.get(m.name)!;
      const proxied = await newAgent(m.name, {
        proxy: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
      });
      try {
        await proxied.connected(AbortSignal.timeout(60_000));
        assert.deepEqual(seen, [`127.0.0.1:${gateway!.port}`]);
        await direct.stop();
        agents.set(m.name, proxied);
        const kc = await viaGateway('tunnel-admin', admin, m.name);
        const out = await kubectlVia(kc, ['get', 'namespace', 'default', '-o', 'name']);
        assert.equal(out.stdout, 'namespace/default\n');
      } finally {
        // Back to a direct agent before the proxy goes away.
        const again = await newAgent(m.name);
        await again.connected(AbortSignal.timeout(60_000));
        agents.set(m.name, again);
        await proxied.stop();
        proxy.closeAllConnections();
        proxy.close();
      }
    });

    test('a restarted gateway gets its agents back', async () => {
      const port = gateway!.port;
      await gateway!.close();
      gateway = await startGatewayOn(port);
      await Promise.all(
        env.get().members.map((m) => gateway!.agents.connected(m.name, AbortSignal.timeout(60_000))),
      );
      for (const m of env.get().members) {
        const kc = await viaGateway('tunnel-admin', admin, m.name);
        await kubectlVia(kc, ['get', 'namespace', 'default', '-o', 'name']);
      }
    });
  });

  test('gateway and agent started from files (the CLI entry points) serve a member', async () => {
    const e = env.get();
    const m = e.members[0]!;
    const tokenDir = join(dir, 'tokens');
    await mkdir(tokenDir);
    const token = randomBytes(24).toString('base64url');
    await writeFile(join(tokenDir, m.name), `${token}\n`);
    await writeFile(join(dir, 'agent.token'), token);
    const gw = await gatewayFromFiles({
      certFile: join(dir, 'gateway.crt'),
      keyFile: join(dir, 'gateway.key'),
      clientCaFile: e.hub.caPath,
      tokenDir,
      host: '127.0.0.1',
      port: 0,
    });
    const agent = await agentFromFiles({
      cluster: m.name,
      gatewayUrl: gw.url,
      tokenFile: join(dir, 'agent.token'),
      gatewayCaFile: e.hub.caPath,
      kubeconfig: m.kubeconfig,
    });
    try {
      await gw.agents.connected(m.name, AbortSignal.timeout(60_000));
      const kc = join(dir, 'from-files.kubeconfig');
      await writeKubeconfig(kc, {
        cluster: m.name,
        server: `${gw.url}/clusters/${m.name}`,
        caPath: e.hub.caPath,
        user: 'tunnel-admin',
        credentials: admin,
      });
      assert.equal(
        (await kubectlVia(kc, ['get', 'namespace', 'default', '-o', 'name'])).stdout,
        'namespace/default\n',
      );
    } finally {
      await agent.stop();
      await gw.close();
    }
  });
});
