// Proves the test environment is made of real, working clusters: workloads schedule onto
// kwok nodes and become Ready; logs, exec and port-forward reach kwok's simulated kubelet;
// the hub serves CRDs and runs no workloads.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { stringify } from 'yaml';
import { uniqueName, useEnvironment } from '../support/environment.ts';

const env = useEnvironment();

function deployment(namespace: string, replicas: number): string {
  return stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          containers: [
            { name: 'web', image: 'nginx:1.27', resources: { requests: { cpu: '100m', memory: '64Mi' } } },
          ],
        },
      },
    },
  });
}

interface PodList {
  items: { metadata: { name: string }; spec: { nodeName?: string }; status: { phase?: string } }[];
}

describe('member clusters', () => {
  test('a Deployment of 3 replicas becomes ready on kwok nodes in every member', async () => {
    const e = env.get();
    assert.equal(e.members.length, 3);
    await Promise.all(
      e.members.map(async (m) => {
        const ns = uniqueName('env');
        await e.kubectl(m.name, ['create', 'namespace', ns]);
        await e.kubectl(m.name, ['apply', '-f', '-'], { input: deployment(ns, 3) });
        await e.kubectl(m.name, [
          'wait', '-n', ns, 'deployment/web', '--for=jsonpath={.status.readyReplicas}=3', '--timeout=120s',
        ]); // prettier-ignore
        const pods = JSON.parse(
          (await e.kubectl(m.name, ['get', 'pods', '-n', ns, '-o', 'json'])).stdout,
        ) as PodList;
        assert.equal(pods.items.length, 3);
        const nodes = JSON.parse((await e.kubectl(m.name, ['get', 'nodes', '-o', 'json'])).stdout) as {
          items: { metadata: { name: string; annotations?: Record<string, string> } }[];
        };
        const kwokNodes = new Set(
          nodes.items
            .filter((n) => n.metadata.annotations?.['kwok.x-k8s.io/node'] === 'fake')
            .map((n) => n.metadata.name),
        );
        for (const pod of pods.items) {
          assert.ok(
            pod.spec.nodeName && kwokNodes.has(pod.spec.nodeName),
            `${pod.metadata.name} bound to a kwok node`,
          );
          assert.equal(pod.status.phase, 'Running');
        }
        await e.kubectl(m.name, ['delete', 'namespace', ns, '--wait=false']);
      }),
    );
  });

  test('members carry their region, zone and provider on their nodes', async () => {
    const e = env.get();
    for (const m of e.members) {
      const region = m.labels['topology.kubernetes.io/region'];
      assert.ok(region);
      const out = await e.kubectl(m.name, [
        'get',
        'nodes',
        '-l',
        `topology.kubernetes.io/region=${region}`,
        '-o',
        'name',
      ]);
      assert.ok(out.stdout.trim().split('\n').length >= 2, `${m.name} has nodes labelled ${region}`);
    }
  });

  describe('kubectl logs, exec and port-forward against a kwok pod', () => {
    let ns = '';
    let pod = '';
    const member = () => env.get().members[0]!.name;

    test('setup: one ready pod', async () => {
      const e = env.get();
      ns = uniqueName('streams');
      await e.kubectl(member(), ['create', 'namespace', ns]);
      await e.kubectl(member(), ['apply', '-f', '-'], { input: deployment(ns, 1) });
      await e.kubectl(member(), [
        'wait',
        '-n',
        ns,
        'deployment/web',
        '--for=jsonpath={.status.readyReplicas}=1',
        '--timeout=120s',
      ]);
      pod = (await e.kubectl(member(), ['get', 'pods', '-n', ns, '-o', 'jsonpath={.items[0].metadata.name}']))
        .stdout;
      assert.match(pod, /^web-/);
    });

    test('logs return the configured log file', async () => {
      const out = await env.get().kubectl(member(), ['logs', '-n', ns, pod]);
      assert.equal(out.stdout, `meridian: log of a pod in member ${member()}\nline 2\n`);
      const stamped = await env.get().kubectl(member(), ['logs', '--timestamps', '-n', ns, pod]);
      assert.match(stamped.stdout, /^2026-01-01T00:00:00\.000000000Z meridian: log of a pod/);
    });

    test('exec runs the command with the member-specific environment', async () => {
      const out = await env
        .get()
        .kubectl(member(), [
          'exec',
          '-n',
          ns,
          pod,
          '--',
          'sh',
          '-c',
          'echo "cluster=$MERIDIAN_CLUSTER"; echo err >&2',
        ]);
      assert.equal(out.stdout, `cluster=${member()}\n`);
      assert.equal(out.stderr, 'err\n');
    });

    test('exec passes stdin through', async () => {
      // `head -1` ends by itself: kwok's exec does not forward end-of-stdin.
      const out = await env.get().kubectl(member(), ['exec', '-i', '-n', ns, pod, '--', 'head', '-1'], {
        input: 'hello stdin\nnot read\n',
        timeoutMs: 30_000,
      });
      assert.equal(out.stdout, 'hello stdin\n');
    });

    test('port-forward carries bytes both ways', async () => {
      const e = env.get();
      const cluster = e.members[0]!;
      const pf = spawn(
        join(e.info.binDir, 'kubectl'),
        ['--kubeconfig', cluster.kubeconfig, 'port-forward', '-n', ns, `pod/${pod}`, ':8080'],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
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
        const echoed = await new Promise<string>((resolve, reject) => {
          const sock = connect(port, '127.0.0.1', () => sock.write('ping through the kubelet\n'));
          let got = '';
          sock.setEncoding('utf8').on('data', (c: string) => {
            got += c;
            if (got.endsWith('\n')) {
              sock.end();
              resolve(got);
            }
          });
          sock.once('error', reject);
        });
        assert.equal(echoed, 'ping through the kubelet\n');
      } finally {
        pf.kill();
      }
    });

    test('cleanup', async () => {
      await env.get().kubectl(member(), ['delete', 'namespace', ns, '--wait=false']);
    });
  });
});

describe('hub', () => {
  test('accepts a CRD and serves its custom resources', async () => {
    const e = env.get();
    const group = `${uniqueName('e2e')}.example.com`;
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `widgets.${group}` },
      spec: {
        group,
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: {
                  spec: { type: 'object', properties: { size: { type: 'integer', minimum: 1 } } },
                },
              },
            },
          },
        ],
      },
    };
    await e.kubectl('hub', ['apply', '-f', '-'], { input: stringify(crd) });
    await e.kubectl('hub', ['wait', '--for=condition=Established', `crd/widgets.${group}`, '--timeout=60s']);
    const ns = uniqueName('crd');
    await e.kubectl('hub', ['create', 'namespace', ns]);
    const widget = {
      apiVersion: `${group}/v1`,
      kind: 'Widget',
      metadata: { name: 'w1', namespace: ns },
      spec: { size: 3 },
    };
    await e.kubectl('hub', ['apply', '-f', '-'], { input: stringify(widget) });
    const got = JSON.parse(
      (await e.kubectl('hub', ['get', `widgets.${group}`, 'w1', '-n', ns, '-o', 'json'])).stdout,
    ) as {
      spec: { size: number };
    };
    assert.equal(got.spec.size, 3);
    // The schema is enforced: an invalid object is rejected with a message naming the field.
    await assert.rejects(
      e.kubectl('hub', ['apply', '-f', '-'], {
        input: stringify({ ...widget, metadata: { name: 'w2', namespace: ns }, spec: { size: 0 } }),
      }),
      /spec\.size/,
    );
    await e.kubectl('hub', ['delete', 'namespace', ns, '--wait=false']);
    await e.kubectl('hub', ['delete', `crd/widgets.${group}`, '--wait=false']);
  });

  test('stores Deployments as templates: no nodes, no ReplicaSets', async () => {
    const e = env.get();
    const ns = uniqueName('tmpl');
    await e.kubectl('hub', ['create', 'namespace', ns]);
    await e.kubectl('hub', ['apply', '-f', '-'], { input: deployment(ns, 2) });
    const nodes = await e.kubectl('hub', ['get', 'nodes', '-o', 'name']);
    assert.equal(nodes.stdout.trim(), '');
    // No deployment controller runs on the hub; give one a moment to (wrongly) act.
    await new Promise((r) => setTimeout(r, 2000));
    const rs = await e.kubectl('hub', ['get', 'replicasets', '-n', ns, '-o', 'name']);
    assert.equal(rs.stdout.trim(), '');
    await e.kubectl('hub', ['delete', 'namespace', ns, '--wait=false']);
  });
});
