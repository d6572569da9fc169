// Topology: a member API server (its own etcd and kube-apiserver) and its agent in a network
// namespace of their own, joined to the hub's namespace only by a veth link with no default
// route. The member listens only on the namespace's loopback, so nothing outside can reach it;
// the agent can dial nothing but the host end of the link, where the gateway listens. kubectl
// through the hub still reaches the member: nothing depends on inbound reachability.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { createClusterPki } from '../../src/testenv/cluster-pki.ts';
import { apiServerArgs } from '../../src/testenv/components.ts';
import type { ClusterInfo } from '../../src/testenv/environment.ts';
import { writeKubeconfig } from '../../src/testenv/kubeconfig.ts';
import { eventually } from '../support/eventually.ts';
import { useEnvironment } from '../support/environment.ts';
import { createSite, netnsUnavailable, type Site } from '../support/netns.ts';
import { spawnKubectl, startProxyFixture, type ProxyFixture } from '../support/proxy-fixture.ts';

const run = promisify(execFile);
const env = useEnvironment();
const unavailable = await netnsUnavailable();
const cli = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const tag = randomBytes(3).toString('hex');
const CLUSTER = `private-${tag}`;
const API_PORT = 6443;

const steps: (() => Promise<void> | void)[] = [];
let site: Site;
let dir = '';
let fx: ProxyFixture;
let memberKubeconfig = '';
let viaHub = '';

/** Starts `argv` inside the site's namespace (`ip netns exec` execs it: the pid is the program's). */
function inSite(name: string, argv: readonly string[]): ChildProcess {
  const log = createWriteStream(join(dir, `${name}.log`));
  const child = spawn('ip', ['netns', 'exec', site.ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  steps.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  });
  return child;
}

/** Whether a TCP connection to host:port opens, tried from inside the site. */
async function dialsFromSite(host: string, port: number): Promise<boolean> {
  try {
    await run('ip', [
      'netns',
      'exec',
      site.ns,
      'timeout',
      '5',
      'bash',
      '-c',
      `exec 3<>/dev/tcp/${host}/${port}`,
    ]);
    return true;
  } catch {
    return false;
  }
}

/** Whether a TCP connection to host:port opens from the hub's namespace. */
function dialsFromHub(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: 5000 });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

describe(
  'topology: agent and member API server in their own network namespace',
  { skip: unavailable },
  () => {
    before(async () => {
      const e = env.get();
      dir = await mkdtemp(join(tmpdir(), 'meridian-netns-'));
      steps.push(() => rm(dir, { recursive: true, force: true }));
      site = await createSite({ add: (s) => steps.push(s) }, 'agent');
      // The private member: etcd and kube-apiserver on the namespace's loopback only.
      const pki = await createClusterPki(join(dir, 'pki'), CLUSTER);
      await mkdir(join(dir, 'etcd'), { recursive: true });
      const bin = e.info.binDir;
      inSite('etcd', [
      join(bin, 'etcd'), '--name=m', `--data-dir=${join(dir, 'etcd')}`,
      '--listen-client-urls=http://127.0.0.1:2379', '--advertise-client-urls=http://127.0.0.1:2379',
      '--listen-peer-urls=http://127.0.0.1:2380', '--initial-advertise-peer-urls=http://127.0.0.1:2380',
      '--initial-cluster=m=http://127.0.0.1:2380', '--unsafe-no-fsync', '--log-level=warn',
    ]); // prettier-ignore
      inSite('kube-apiserver', [
        join(bin, 'kube-apiserver'),
        ...apiServerArgs({
          name: CLUSTER,
          pki,
          port: API_PORT,
          etcdUrl: 'http://127.0.0.1:2379',
          etcdPrefix: '/m',
        }),
      ]);
      memberKubeconfig = join(dir, 'member-admin.kubeconfig');
      await writeKubeconfig(memberKubeconfig, {
        cluster: CLUSTER,
        server: `https://127.0.0.1:${API_PORT}`,
        caPath: pki.ca.certPath,
        user: 'admin',
        credentials: pki.admin,
      });
      const siteKubectl = (args: readonly string[]) =>
        run('ip', [
          'netns',
          'exec',
          site.ns,
          join(bin, 'kubectl'),
          '--kubeconfig',
          memberKubeconfig,
          ...args,
        ]);
      await eventually(() => siteKubectl(['get', '--raw', '/readyz']), {
        timeoutMs: 240_000,
        intervalMs: 1000,
      });

      // The gateway listens on every address of the hub's namespace, including the link's end.
      fx = await startProxyFixture(e.info, {
        clusters: new Map([[CLUSTER, { name: CLUSTER } as ClusterInfo]]),
        startAgents: false,
        host: '0.0.0.0',
        extraIps: [site.hostAddress],
      });
      const gw = fx.gateways[0]!;
      inSite('agent', [
      process.execPath, cli, 'agent', '--cluster', CLUSTER,
      '--gateway', `https://${site.hostAddress}:${gw.port}`,
      '--gateway-ca-file', e.hub.caPath,
      '--token-file', await fx.tokenFile(CLUSTER),
      '--kubeconfig', memberKubeconfig,
    ]); // prettier-ignore
      await gw.agents.connected(CLUSTER, AbortSignal.timeout(120_000));
      const admin = await fx.user(`netns-admin-${tag}`, ['system:masters']);
      viaHub = join(dir, 'via-hub.kubeconfig');
      await writeKubeconfig(viaHub, {
        cluster: CLUSTER,
        server: `${e.hub.server}/apis/proxy.meridian.dev/v1alpha1/clusters/${CLUSTER}/proxy`,
        caPath: e.hub.caPath,
        user: 'netns-admin',
        credentials: admin,
      });
    });
    after(async () => {
      await fx?.stop();
      for (const s of steps.reverse()) await Promise.resolve(s()).catch(() => undefined);
    });

    test('the namespace is closed: the member is unreachable from the hub, the site reaches only the gateway', async () => {
      const hubPort = Number(new URL(env.get().hub.server).port);
      assert.equal(await dialsFromHub(site.address, API_PORT), false, 'member API server from the hub side');
      assert.equal(await dialsFromSite(site.hostAddress, hubPort), false, 'hub API server from the site');
      assert.equal(
        await dialsFromSite(site.hostAddress, fx.gateways[0]!.port),
        true,
        'the gateway from the site',
      );
      const routes = (await run('ip', ['netns', 'exec', site.ns, 'ip', 'route'])).stdout;
      assert.doesNotMatch(routes, /^default/m, `no default route in the site: ${routes}`);
    });

    test('kubectl through the hub reaches the private member: get, apply, get -w', async () => {
      const ns = (await fx.kubectl(viaHub, ['get', 'namespace', 'kube-system', '-o', 'name'])).stdout;
      assert.equal(ns, 'namespace/kube-system\n');
      const who = JSON.parse((await fx.kubectl(viaHub, ['auth', 'whoami', '-o', 'json'])).stdout) as {
        status: { userInfo: { username: string } };
      };
      assert.equal(who.status.userInfo.username, `netns-admin-${tag}`);
      const cm = (v: string) =>
        stringify({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'private', namespace: 'default' },
          data: { v },
        });
      await fx.kubectl(viaHub, ['apply', '-f', '-'], { input: cm('one') });
      const w = spawnKubectl(env.get().info.binDir, viaHub, [
      'get', 'configmap', 'private', '-n', 'default', '-w', '-o', 'jsonpath={.data.v}{"\\n"}',
    ]); // prettier-ignore
      try {
        await w.until((s) => s.includes('one\n'));
        await fx.kubectl(viaHub, ['apply', '-f', '-'], { input: cm('two') });
        await w.until((s) => s.includes('two\n'));
      } finally {
        w.stop();
      }
    });
  },
);
