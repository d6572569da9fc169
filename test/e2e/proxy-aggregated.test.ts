// The cluster proxy as an aggregated API of the hub: the real kubectl talks only to the hub
// kube-apiserver (`meridian kubeconfig <cluster> --proxy`); the hub authenticates, checks its
// RBAC for clusters/proxy, and forwards to the gateway (registered as
// v1alpha1.proxy.meridian.dev), whose agents reach the members; the members' RBAC decides.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { installCrds } from '../../src/controllers/bootstrap/install-crds.ts';
import { ApiClient } from '../../src/kube/api-client.ts';
import { KubeConfig } from '@kubernetes/client-node';
import type { ClusterInfo } from '../../src/testenv/environment.ts';
import { eventually } from '../support/eventually.ts';
import { useEnvironment } from '../support/environment.ts';
import { meridian } from '../support/meridian.ts';
import {
  pullCluster,
  spawnCollected,
  spawnKubectl,
  startProxyFixture,
  type ProxyFixture,
} from '../support/proxy-fixture.ts';

const env = useEnvironment();
const run = randomBytes(3).toString('hex');
/** Proxied cluster names (unique per run) → members: A and B allowed on the hub, C not. */
const [A, B, C] = [`px-${run}-a`, `px-${run}-b`, `px-${run}-c`];
const alice = `alice-${run}`;
const group = `proxy-e2e-${run}`;
let fx: ProxyFixture;
let aliceA = '';
let aliceB = '';
let aliceC = '';
const member = (c: string): ClusterInfo => {
  const m = env.get().members;
  return (c === A ? m[0] : c === B ? m[1] : m[2]) as ClusterInfo;
};
const memberKubectl = (c: string, args: readonly string[], input?: string) =>
  env.get().kubectl(member(c).name, args, input === undefined ? {} : { input });

/** `meridian kubeconfig <cluster> --proxy` for `user`, written to a file. */
async function kubeconfigFor(user: string, cluster: string): Promise<string> {
  const creds = await fx.user(user, [group]);
  const hubKc = await fx.hubKubeconfig(user, creds);
  const r = await meridian(['kubeconfig', cluster, '--proxy', '--kubeconfig', hubKc]);
  assert.equal(r.code, 0, r.stderr);
  const path = join(fx.dir, `${user}@${cluster}.kubeconfig`);
  await writeFile(path, r.stdout);
  return path;
}

const ns = `proxy-${run}`;

describe('cluster proxy through the hub (aggregated API)', () => {
  before(async () => {
    const e = env.get();
    const kc = new KubeConfig();
    kc.loadFromFile(e.hub.kubeconfig);
    const hub = await ApiClient.fromKubeConfig(kc);
    try {
      await installCrds(hub, AbortSignal.timeout(120_000));
    } finally {
      await hub.close();
    }
    fx = await startProxyFixture(e.info, {
      clusters: new Map([
        [A, e.members[0] as ClusterInfo],
        [B, e.members[1] as ClusterInfo],
        [C, e.members[2] as ClusterInfo],
      ]),
    });
    for (const c of [A, B, C]) await fx.hub(['apply', '-f', '-'], pullCluster(c));
    // Hub RBAC: alice's group may use the proxy of A and B, not C.
    await fx.hub(['apply', '-f', '-'], stringify({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: `proxy-e2e-${run}` },
      rules: [{ apiGroups: ['proxy.meridian.dev'], resources: ['clusters/proxy'], resourceNames: [A, B], verbs: ['*'] }],
    }) + '---\n' + stringify({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: `proxy-e2e-${run}` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `proxy-e2e-${run}` },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: group }],
    })); // prettier-ignore
    // Member RBAC: alice may edit namespace ns on A (and C); nothing on B.
    for (const c of [A, C]) {
      await memberKubectl(c, ['create', 'namespace', ns]);
      await memberKubectl(c, [
        'create',
        'rolebinding',
        'alice-edit',
        '-n',
        ns,
        '--clusterrole=edit',
        `--user=${alice}`,
      ]);
    }
    aliceA = await kubeconfigFor(alice, A);
    aliceB = await kubeconfigFor(alice, B);
    aliceC = await kubeconfigFor(alice, C);
  });
  after(async () => {
    for (const c of [A, C])
      await memberKubectl(c, ['delete', 'namespace', ns, '--wait=false']).catch(() => {});
    await fx?.hub(['delete', 'clusterrole,clusterrolebinding', `proxy-e2e-${run}`]).catch(() => {});
    await fx?.hub(['delete', 'clusters.meridian.dev', A, B, C]).catch(() => {});
    await fx?.stop();
  });

  test('the hub serves proxy.meridian.dev (APIService Available, in discovery)', async () => {
    const out = await fx.hub(['api-versions']);
    assert.match(out.stdout, /^proxy\.meridian\.dev\/v1alpha1$/m);
    const res = await fx.hub(['api-resources', '--api-group=proxy.meridian.dev', '-o', 'name']);
    assert.equal(res.stderr.trim(), '', 'discovery of the group works');
  });

  test('meridian kubeconfig --proxy: hub URL + proxy prefix, the user’s own hub credentials', async () => {
    const config = parse(await readFile(aliceA, 'utf8')) as {
      clusters: { cluster: { server: string; 'certificate-authority-data': string } }[];
      users: { user: Record<string, string> }[];
    };
    assert.equal(
      config.clusters[0]?.cluster.server,
      `${env.get().hub.server}/apis/proxy.meridian.dev/v1alpha1/clusters/${A}/proxy`,
    );
    const cert = Buffer.from(config.users[0]?.user['client-certificate-data'] ?? '', 'base64').toString();
    assert.equal(cert, await readFile((await fx.user(alice)).certPath, 'utf8'), 'alice’s hub certificate');
  });

  test('get: nodes of the member, as the member sees alice (kubectl auth whoami through the hub)', async () => {
    const through = await fx.kubectl(aliceA, ['get', 'pods', '-n', ns, '-o', 'name']);
    assert.equal(through.stdout, '');
    const who = JSON.parse((await fx.kubectl(aliceA, ['auth', 'whoami', '-o', 'json'])).stdout) as {
      status: { userInfo: { username: string; groups: string[] } };
    };
    assert.equal(who.status.userInfo.username, alice);
    assert.ok(who.status.userInfo.groups.includes(group), JSON.stringify(who.status.userInfo));
    const region = await fx.kubectl(aliceA, ['auth', 'can-i', 'create', 'deployments', '-n', ns]);
    assert.equal(region.stdout.trim(), 'yes');
  });

  test('apply, then get -w sees a change made while it watches', async () => {
    const cm = (v: string) =>
      stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'conf', namespace: ns },
        data: { v },
      });
    await fx.kubectl(aliceA, ['apply', '-f', '-'], { input: cm('one') });
    assert.equal(
      (await memberKubectl(A, ['get', 'configmap', 'conf', '-n', ns, '-o', 'jsonpath={.data.v}'])).stdout,
      'one',
    );
    const w = spawnKubectl(env.get().info.binDir, aliceA, [
      'get',
      'configmap',
      'conf',
      '-n',
      ns,
      '-w',
      '-o',
      'jsonpath={.data.v}{"\\n"}',
    ]);
    try {
      await w.until((s) => s.includes('one\n'));
      await fx.kubectl(aliceA, ['apply', '-f', '-'], { input: cm('two') });
      await w.until((s) => s.includes('two\n'));
    } finally {
      w.stop();
    }
  });

  describe('pods: logs -f, exec -it, port-forward', () => {
    let pod = '';
    test('setup: a ready pod on A', async () => {
      await fx.kubectl(aliceA, ['create', 'deployment', 'web', '-n', ns, '--image=nginx:1.27']);
      await fx.kubectl(aliceA, ['wait', '-n', ns, 'deployment/web', '--for=jsonpath={.status.readyReplicas}=1', '--timeout=180s']); // prettier-ignore
      pod = (await fx.kubectl(aliceA, ['get', 'pods', '-n', ns, '-o', 'jsonpath={.items[0].metadata.name}']))
        .stdout;
      assert.match(pod, /^web-/);
    });

    test('logs -f streams a line appended while it runs', async () => {
      const f = spawnKubectl(env.get().info.binDir, aliceA, ['logs', '-f', '-n', ns, pod]);
      try {
        await f.until((s) => s.includes('line 2\n'));
        const marker = `through the hub ${randomBytes(4).toString('hex')}`;
        await appendFile(member(A).podLogFile as string, `${new Date().toISOString()} stdout F ${marker}\n`);
        await f.until((s) => s.includes(`${marker}\n`));
      } finally {
        f.stop();
      }
    });

    const families: { name: string; env: Record<string, string> }[] = [
      { name: 'WebSocket', env: {} },
      {
        name: 'SPDY/3.1',
        env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false', KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' },
      },
    ];
    for (const family of families) {
      test(`exec -it over ${family.name}: stdin, the terminal's size and a resize reach the command`, async () => {
        // `script` gives kubectl a real terminal of a known size; a FIFO lets the test resize
        // it mid-session (stty on the same terminal sends kubectl SIGWINCH). The remote shell
        // waits for each size to arrive, then reads a line typed into the terminal.
        const fifo = join(fx.dir, `resize-${randomBytes(3).toString('hex')}`);
        await run_('mkfifo', [fifo]);
        const inner =
          'read a; while [ "$(stty size)" != "17 91" ]; do sleep 0.2; done; echo size1=$(stty size); ' +
          'while [ "$(stty size)" = "17 91" ]; do sleep 0.2; done; echo size2=$(stty size); ' +
          'read x; echo got=$x; sleep 1';
        const kubectlBin = join(env.get().info.binDir, 'kubectl');
        const cmd =
          `stty cols 91 rows 17; (read _ < ${fifo}; stty cols 120 rows 30 </dev/tty) & ` +
          `${kubectlBin} --kubeconfig ${aliceA} exec -it -n ${ns} ${pod} -- sh -c '${inner}'`;
        const x = spawnCollected('script', ['-qec', cmd, '/dev/null'], family.env);
        try {
          x.child.stdin.write('go\r');
          await x.until((s) => s.includes('size1=17 91'), 60_000);
          await writeFile(fifo, 'resize\n');
          await x.until((s) => s.includes('size2=30 120'), 60_000);
          x.child.stdin.write('typed through the hub\r');
          await x.until((s) => s.includes('got=typed through the hub'), 60_000);
          assert.equal(await x.exited, 0, x.out());
        } finally {
          x.stop();
        }
      });

      test(`port-forward over ${family.name} carries an HTTP request`, async () => {
        const pf = spawnKubectl(
          env.get().info.binDir,
          aliceA,
          ['port-forward', '-n', ns, `pod/${pod}`, ':8080'],
          family.env,
        );
        try {
          const port = Number(
            /Forwarding from 127\.0\.0\.1:(\d+)/.exec(
              await pf.until((s) => /Forwarding from 127\.0\.0\.1:\d+/.test(s)),
            )?.[1],
          );
          // kwok's port-forward is an echo: an HTTP request comes back as sent.
          const req = `GET /through-the-hub HTTP/1.1\r\nHost: x\r\n\r\n`;
          const got = await new Promise<string>((resolve, reject) => {
            const s = connect(port, '127.0.0.1', () => s.write(req));
            let b = '';
            s.setEncoding('utf8').on('data', (c: string) => {
              b += c;
              if (b.length >= req.length) {
                s.end();
                resolve(b);
              }
            });
            s.once('error', reject);
          });
          assert.equal(got, req);
        } finally {
          pf.stop();
        }
      });
    }
  });

  describe('who decides', () => {
    test('B: the hub allows, B’s own RBAC refuses alice', async () => {
      await assert.rejects(fx.kubectl(aliceB, ['get', 'pods', '-n', 'default']), (err: Error) => {
        assert.match(err.message, new RegExp(`User "${alice}" cannot list resource "pods"`));
        return true;
      });
    });

    test('C: the hub’s RBAC refuses alice before the gateway is reached', async () => {
      const before = fx.audits.length;
      await assert.rejects(fx.kubectl(aliceC, ['get', 'pods', '-n', ns]), /Forbidden/);
      // What the hub says, asked directly:
      const r = await hubRequest(`/apis/proxy.meridian.dev/v1alpha1/clusters/${C}/proxy/api/v1/namespaces`);
      assert.equal(r.status, 403, r.body);
      assert.match(
        r.body,
        new RegExp(`cannot get resource \\\\"clusters/proxy\\\\" in API group \\\\"proxy.meridian.dev\\\\"`),
      );
      assert.equal(
        fx.audits.slice(before).filter((r) => r.cluster === C).length,
        0,
        'the gateway saw nothing',
      );
    });

    test('the gateway checks hub RBAC itself (a front-proxy request for a user the hub does not allow)', async () => {
      const before = fx.audits.length;
      const r = await gatewayRequest(
        `/apis/proxy.meridian.dev/v1alpha1/clusters/${C}/proxy/api/v1/namespaces`,
        {
          'X-Remote-User': alice,
          'X-Remote-Group': group,
        },
      );
      assert.equal(r.status, 403, r.body);
      assert.match(
        r.body,
        new RegExp(`User \\\\"${alice}\\\\" cannot get resource \\\\"clusters/proxy\\\\"`),
      );
      const rec = fx.audits.slice(before).find((x) => x.cluster === C);
      assert.equal(rec?.status, 403);
    });

    test('client-supplied Impersonate-* headers are ignored (the member still sees alice)', async () => {
      const r = await gatewayRequest(
        `/apis/proxy.meridian.dev/v1alpha1/clusters/${A}/proxy/apis/authentication.k8s.io/v1/selfsubjectreviews`,
        {
          'X-Remote-User': alice,
          'X-Remote-Group': group,
          'Impersonate-User': 'system:admin',
          'Impersonate-Group': 'system:masters',
          'Content-Type': 'application/json',
        },
        'POST',
        JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }),
      );
      assert.equal(r.status, 201, r.body);
      const who = JSON.parse(r.body) as { status: { userInfo: { username: string; groups: string[] } } };
      assert.equal(who.status.userInfo.username, alice);
      assert.ok(!who.status.userInfo.groups.includes('system:masters'));
    });

    test('the aggregated path refuses callers that are not the hub’s front proxy', async () => {
      const r = await gatewayRequest(
        `/apis/proxy.meridian.dev/v1alpha1/clusters/${A}/proxy/api/v1/namespaces`,
        { 'X-Remote-User': 'system:admin', 'X-Remote-Group': 'system:masters' },
        'GET',
        undefined,
        await fx.user(alice, [group]),
      );
      assert.equal(r.status, 401, r.body);
    });
  });

  test('every request through the hub is audited as a JSON line: who, cluster, verb, path, status, duration', async () => {
    const marker = `audited-${randomBytes(3).toString('hex')}`;
    await assert.rejects(fx.kubectl(aliceA, ['get', 'configmap', marker, '-n', ns]), /NotFound|not found/);
    const t0 = Date.now();
    const line = await eventually(
      async () => {
        const lines = (await readFile(fx.auditLogPath, 'utf8')).split('\n').filter((l) => l !== '');
        const recs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
        const rec = recs.find((r) =>
          String(r['path']).startsWith(`/api/v1/namespaces/${ns}/configmaps/${marker}`),
        );
        assert.ok(rec, `no audit line for ${marker} among ${lines.length}`);
        return rec;
      },
      { timeoutMs: 30_000 },
    );
    assert.equal(line['kind'], 'meridian.proxy.audit');
    assert.equal(line['user'], alice);
    assert.ok((line['groups'] as string[]).includes(group));
    assert.equal(line['cluster'], A);
    assert.equal(line['verb'], 'get');
    assert.equal(line['method'], 'GET');
    assert.equal(line['via'], 'hub');
    assert.equal(line['status'], 404, "the member's answer");
    assert.equal(typeof line['durationMs'], 'number');
    assert.ok(Math.abs(Date.parse(String(line['time'])) - t0) < 120_000, 'a current timestamp');
    // A refusal by the gateway is audited too.
    const refused = await gatewayRequest(
      `/apis/proxy.meridian.dev/v1alpha1/clusters/${C}/proxy/api/${marker}`,
      {
        'X-Remote-User': alice,
      },
    );
    assert.equal(refused.status, 403);
    await eventually(
      async () => {
        const recs = (await readFile(fx.auditLogPath, 'utf8'))
          .split('\n')
          .filter((l) => l.includes(marker) && l.includes(C))
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        assert.equal(recs[0]?.['status'], 403);
        assert.match(String(recs[0]?.['error']), /cannot get resource "clusters\/proxy"/);
      },
      { timeoutMs: 30_000 },
    );
  });
});

/** A GET to the hub as alice. */
async function hubRequest(path: string): Promise<{ status: number; body: string }> {
  const creds = await fx.user(alice, [group]);
  const [cert, key] = await Promise.all([readFile(creds.certPath), readFile(creds.keyPath)]);
  return new Promise((resolve, reject) => {
    httpsRequest(`${env.get().hub.server}${path}`, { ca: fx.hubCa, cert, key }, (res) => {
      let b = '';
      res.setEncoding('utf8').on('data', (c: string) => (b += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
    })
      .on('error', reject)
      .end();
  });
}

const run_ = promisify(execFile);

/** A request straight to the gateway, presenting the hub's front-proxy certificate (or `as`). */
async function gatewayRequest(
  path: string,
  headers: Record<string, string>,
  method = 'GET',
  body?: string,
  as = fx.frontProxyClient,
): Promise<{ status: number; body: string }> {
  const [cert, key] = await Promise.all([readFile(as.certPath), readFile(as.keyPath)]);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `${fx.gateways[0]!.url}${path}`,
      { method, headers, ca: fx.hubCa, cert, key },
      (res) => {
        let b = '';
        res.setEncoding('utf8').on('data', (c: string) => (b += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
