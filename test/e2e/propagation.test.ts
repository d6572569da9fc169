// The propagation core end to end, through kubectl against the hub and the real
// `meridian join` / `meridian controllers` commands, on the real hub + 3 member clusters.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import { stringify } from 'yaml';
import { eventually } from '../support/eventually.ts';
import { uniqueName, useEnvironment } from '../support/environment.ts';
import { joinAll, startControllers, type ControllersProcess } from '../support/meridian.ts';

const env = useEnvironment();
const run = randomBytes(3).toString('hex');
/** Every policy here selects only this run's clusters, whatever else shares the hub. */
const runSelector = { labelSelector: { matchLabels: { 'meridian.dev/test-run': run } } };
let controllers: ControllersProcess;

const yaml = (...docs: object[]) => docs.map((d) => stringify(d)).join('---\n');
const hub = (args: string[], input?: string) =>
  env.get().kubectl('hub', args, input === undefined ? {} : { input });
const member = (name: string, args: string[], input?: string) =>
  env.get().kubectl(name, args, input === undefined ? {} : { input });
const json = async <T>(p: Promise<{ stdout: string }>): Promise<T> => JSON.parse((await p).stdout) as T;

function deployment(
  ns: string,
  name: string,
  replicas: number,
  extra: { cpu?: string; env?: object[]; volumes?: object[] } = {},
) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns, labels: { app: name } },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: 'app',
              image: 'nginx:1.27',
              resources: { requests: { cpu: extra.cpu ?? '100m', memory: '64Mi' } },
              ...(extra.env && { env: extra.env }),
            },
          ],
          ...(extra.volumes && { volumes: extra.volumes }),
        },
      },
    },
  };
}

function policy(ns: string, name: string, selectors: object[], placement: object = {}, extra: object = {}) {
  return {
    apiVersion: 'meridian.dev/v1alpha1',
    kind: 'PropagationPolicy',
    metadata: { name, namespace: ns },
    spec: {
      resourceSelectors: selectors,
      placement: { clusterAffinity: runSelector, ...placement },
      ...extra,
    },
  };
}

async function newNamespace(prefix: string): Promise<string> {
  const ns = uniqueName(prefix);
  await hub(['create', 'namespace', ns]);
  return ns;
}

/** Replicas of a Deployment per member (absent ⇒ undefined). */
async function replicasIn(ns: string, name: string): Promise<Record<string, number | undefined>> {
  const out: Record<string, number | undefined> = {};
  for (const m of env.get().members) {
    try {
      const d = await json<{ spec: { replicas: number } }>(
        member(m.name, ['get', 'deployment', name, '-n', ns, '-o', 'json']),
      );
      out[m.name] = d.spec.replicas;
    } catch {
      out[m.name] = undefined;
    }
  }
  return out;
}

before(async () => {
  const e = env.get();
  await joinAll(e.hub, e.members, `meridian.dev/test-run=${run}`);
  controllers = startControllers(e.hub);
  await eventually(async () => {
    const out = await hub([
      'get',
      'clusters',
      '-l',
      `meridian.dev/test-run=${run}`,
      '-o',
      'jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}',
    ]);
    assert.equal(out.stdout.split(' ').filter((s) => s === 'True').length, e.members.length);
  });
});

after(async () => {
  await controllers?.stop();
  for (const m of env.get().members)
    await hub(['delete', 'cluster', m.name, '--wait=false', '--ignore-not-found']);
});

describe('placement', () => {
  test('duplicated: every selected cluster gets the whole Deployment and the hub shows the summed status', async () => {
    const ns = await newNamespace('dup');
    await hub(
      ['apply', '-f', '-'],
      yaml(
        deployment(ns, 'web', 2),
        policy(ns, 'web', [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }]),
      ),
    );
    await eventually(async () => assert.deepEqual(Object.values(await replicasIn(ns, 'web')), [2, 2, 2]));
    await hub([
      'wait',
      '-n',
      ns,
      'deployment/web',
      '--for=jsonpath={.status.readyReplicas}=6',
      '--timeout=120s',
    ]);
  });

  test('divided by static weights, then re-divided on scale', async () => {
    const ns = await newNamespace('weights');
    const placement = {
      replicaScheduling: {
        replicaSchedulingType: 'Divided',
        replicaDivisionPreference: 'Weighted',
        weightPreference: {
          staticWeightList: [
            { targetCluster: { clusterNames: ['us-east'] }, weight: 2 },
            { targetCluster: { clusterNames: ['eu-west'] }, weight: 1 },
          ],
        },
      },
    };
    await hub(
      ['apply', '-f', '-'],
      yaml(
        deployment(ns, 'web', 6),
        policy(ns, 'web', [{ apiVersion: 'apps/v1', kind: 'Deployment' }], placement),
      ),
    );
    await eventually(async () =>
      assert.deepEqual(await replicasIn(ns, 'web'), { 'us-east': 4, 'eu-west': 2, 'onprem-dc1': undefined }),
    );
    await hub([
      'wait',
      '-n',
      ns,
      'deployment/web',
      '--for=jsonpath={.status.readyReplicas}=6',
      '--timeout=120s',
    ]);
    await hub(['scale', '-n', ns, 'deployment/web', '--replicas=9']);
    await eventually(async () =>
      assert.deepEqual(await replicasIn(ns, 'web'), { 'us-east': 6, 'eu-west': 3, 'onprem-dc1': undefined }),
    );
    await hub([
      'wait',
      '-n',
      ns,
      'deployment/web',
      '--for=jsonpath={.status.readyReplicas}=9',
      '--timeout=120s',
    ]);
  });

  test('divided by available capacity: the roomiest cluster gets the most', async () => {
    const ns = await newNamespace('capacity');
    const placement = {
      replicaScheduling: {
        replicaSchedulingType: 'Divided',
        replicaDivisionPreference: 'Weighted',
        weightPreference: { dynamicWeight: 'AvailableReplicas' },
      },
    };
    await hub(
      ['apply', '-f', '-'],
      yaml(
        deployment(ns, 'big', 12, { cpu: '2' }),
        policy(ns, 'big', [{ apiVersion: 'apps/v1', kind: 'Deployment' }], placement),
      ),
    );
    const r = await eventually(async () => {
      const got = await replicasIn(ns, 'big');
      assert.equal(
        Object.values(got).reduce((a = 0, b = 0) => a + b, 0),
        12,
      );
      return got;
    });
    // Allocatable CPU: onprem-dc1 64, us-east 48, eu-west 16.
    assert.ok((r['onprem-dc1'] ?? 0) > (r['us-east'] ?? 0), JSON.stringify(r));
    assert.ok((r['us-east'] ?? 0) > (r['eu-west'] ?? 0), JSON.stringify(r));
  });

  test('spread across regions: exactly two regions', async () => {
    const ns = await newNamespace('spread');
    const placement = { spreadConstraints: [{ spreadByField: 'region', minGroups: 2, maxGroups: 2 }] };
    await hub(
      ['apply', '-f', '-'],
      yaml(
        deployment(ns, 'web', 1),
        policy(ns, 'web', [{ apiVersion: 'apps/v1', kind: 'Deployment' }], placement),
      ),
    );
    await eventually(async () =>
      assert.equal(Object.values(await replicasIn(ns, 'web')).filter((v) => v !== undefined).length, 2),
    );
    const b = await json<{ status: { schedulingDecisions: { outcome: string }[] } }>(
      hub(['get', 'rb', '-n', ns, 'web-deployment', '-o', 'json']),
    );
    assert.equal(b.status.schedulingDecisions.filter((d) => d.outcome === 'Selected').length, 2);
  });

  test('taints keep workloads off a cluster unless tolerated', async () => {
    const ns = await newNamespace('taint');
    await hub([
      'patch',
      'cluster',
      'eu-west',
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { taints: [{ key: 'maintenance', value: 'true', effect: 'NoSchedule' }] } }),
    ]);
    try {
      await hub(
        ['apply', '-f', '-'],
        yaml(
          deployment(ns, 'plain', 1),
          deployment(ns, 'tolerant', 1),
          policy(ns, 'plain', [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'plain' }]),
          policy(ns, 'tolerant', [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'tolerant' }], {
            clusterTolerations: [
              { key: 'maintenance', operator: 'Equal', value: 'true', effect: 'NoSchedule' },
            ],
          }),
        ),
      );
      await eventually(async () =>
        assert.deepEqual(await replicasIn(ns, 'tolerant'), { 'us-east': 1, 'eu-west': 1, 'onprem-dc1': 1 }),
      );
      assert.deepEqual(await replicasIn(ns, 'plain'), {
        'us-east': 1,
        'eu-west': undefined,
        'onprem-dc1': 1,
      });
      const b = await json<{
        status: { schedulingDecisions: { clusterName: string; outcome: string; reasons?: string[] }[] };
      }>(hub(['get', 'rb', '-n', ns, 'plain-deployment', '-o', 'json']));
      const eu = b.status.schedulingDecisions.find((d) => d.clusterName === 'eu-west');
      assert.equal(eu?.outcome, 'Filtered');
      assert.match((eu?.reasons ?? []).join(' '), /maintenance/);
    } finally {
      await hub([
        'patch',
        'cluster',
        'eu-west',
        '--type=json',
        '-p',
        '[{"op":"remove","path":"/spec/taints"}]',
      ]);
    }
  });
});

describe('rendering', () => {
  test('an override changes the image in one cluster only', async () => {
    const ns = await newNamespace('override');
    const op = {
      apiVersion: 'meridian.dev/v1alpha1',
      kind: 'OverridePolicy',
      metadata: { name: 'eu-mirror', namespace: ns },
      spec: {
        resourceSelectors: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }],
        overrideRules: [
          {
            targetCluster: { clusterNames: ['eu-west'] },
            overriders: {
              imageOverrider: [{ component: 'Registry', operator: 'replace', value: 'mirror.eu.example' }],
            },
          },
        ],
      },
    };
    await hub(
      ['apply', '-f', '-'],
      yaml(
        op,
        deployment(ns, 'web', 1),
        policy(ns, 'web', [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }]),
      ),
    );
    const image = (c: string) =>
      member(c, [
        'get',
        'deployment',
        'web',
        '-n',
        ns,
        '-o',
        'jsonpath={.spec.template.spec.containers[0].image}',
      ]);
    await eventually(async () =>
      assert.equal((await image('eu-west')).stdout, 'mirror.eu.example/nginx:1.27'),
    );
    assert.equal((await image('us-east')).stdout, 'nginx:1.27');
  });

  test('a CRD and its custom resources propagate', async () => {
    const group = `${run}.e2e.example.com`;
    const ns = await newNamespace('crd');
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `gadgets.${group}` },
      spec: {
        group,
        scope: 'Namespaced',
        names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
          },
        ],
      },
    };
    const cpp = {
      apiVersion: 'meridian.dev/v1alpha1',
      kind: 'ClusterPropagationPolicy',
      metadata: { name: `crd-${run}` },
      spec: {
        resourceSelectors: [
          {
            apiVersion: 'apiextensions.k8s.io/v1',
            kind: 'CustomResourceDefinition',
            name: `gadgets.${group}`,
          },
        ],
        placement: { clusterAffinity: runSelector },
      },
    };
    await hub(['apply', '-f', '-'], yaml(crd, cpp));
    await hub(['wait', '--for=condition=Established', `crd/gadgets.${group}`, '--timeout=60s']);
    await hub(
      ['apply', '-f', '-'],
      yaml(
        {
          apiVersion: `${group}/v1`,
          kind: 'Gadget',
          metadata: { name: 'g1', namespace: ns },
          spec: { size: 3 },
        },
        policy(ns, 'gadgets', [{ apiVersion: `${group}/v1`, kind: 'Gadget' }]),
      ),
    );
    for (const m of env.get().members) {
      await eventually(async () => {
        const g = await json<{ spec: { size: number } }>(
          member(m.name, ['get', `gadgets.${group}`, 'g1', '-n', ns, '-o', 'json']),
        );
        assert.equal(g.spec.size, 3);
      });
    }
    await hub(['delete', 'clusterpropagationpolicy', `crd-${run}`]);
  });

  test('dependencies follow a Deployment to exactly its clusters', async () => {
    const ns = await newNamespace('deps');
    const cm = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'settings', namespace: ns },
      data: { mode: 'fast' },
    };
    const secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'creds', namespace: ns },
      stringData: { token: 't' },
    };
    const d = deployment(ns, 'web', 2, {
      env: [{ name: 'MODE', valueFrom: { configMapKeyRef: { name: 'settings', key: 'mode' } } }],
      volumes: [{ name: 'c', secret: { secretName: 'creds' } }],
    });
    const placement = { clusterAffinity: { ...runSelector, clusterNames: ['us-east', 'onprem-dc1'] } };
    const pol = policy(ns, 'web', [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }], placement, {
      propagateDeps: true,
    });
    await hub(['apply', '-f', '-'], yaml(cm, secret, d, pol));
    for (const c of ['us-east', 'onprem-dc1']) {
      await eventually(async () => {
        await member(c, ['get', 'configmap', 'settings', '-n', ns]);
        await member(c, ['get', 'secret', 'creds', '-n', ns]);
      });
    }
    await assert.rejects(member('eu-west', ['get', 'configmap', 'settings', '-n', ns]), /NotFound|not found/);

    // A dependency the workload stops referencing leaves the members; the others stay.
    const withoutSecret = deployment(ns, 'web', 2, {
      env: [{ name: 'MODE', valueFrom: { configMapKeyRef: { name: 'settings', key: 'mode' } } }],
    });
    await hub(['apply', '-f', '-'], yaml(withoutSecret));
    for (const c of ['us-east', 'onprem-dc1']) {
      await eventually(() =>
        assert.rejects(member(c, ['get', 'secret', 'creds', '-n', ns]), /NotFound|not found/),
      );
      await member(c, ['get', 'configmap', 'settings', '-n', ns]);
    }
    // The workload deleted: its last dependency goes too; the hub keeps its own copies.
    await hub(['delete', 'deployment', 'web', '-n', ns]);
    for (const c of ['us-east', 'onprem-dc1']) {
      await eventually(() =>
        assert.rejects(member(c, ['get', 'configmap', 'settings', '-n', ns]), /NotFound|not found/),
      );
    }
    await hub(['get', 'configmap', 'settings', '-n', ns]);
    await hub(['get', 'secret', 'creds', '-n', ns]);
  });
});

describe('lifecycle', () => {
  test('a cluster removed from the placement loses the object; deleting the hub object removes it everywhere', async () => {
    const ns = await newNamespace('life');
    const pol = (names: string[]) =>
      policy(ns, 'web', [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }], {
        clusterAffinity: { ...runSelector, clusterNames: names },
      });
    await hub(
      ['apply', '-f', '-'],
      yaml(deployment(ns, 'web', 1), pol(['us-east', 'eu-west', 'onprem-dc1'])),
    );
    await eventually(async () =>
      assert.deepEqual(await replicasIn(ns, 'web'), { 'us-east': 1, 'eu-west': 1, 'onprem-dc1': 1 }),
    );
    await hub(['apply', '-f', '-'], yaml(pol(['us-east', 'onprem-dc1'])));
    await eventually(async () =>
      assert.deepEqual(await replicasIn(ns, 'web'), { 'us-east': 1, 'eu-west': undefined, 'onprem-dc1': 1 }),
    );
    await hub(['delete', 'deployment', 'web', '-n', ns]);
    await eventually(async () =>
      assert.deepEqual(await replicasIn(ns, 'web'), {
        'us-east': undefined,
        'eu-west': undefined,
        'onprem-dc1': undefined,
      }),
    );
    await eventually(async () =>
      assert.equal((await hub(['get', 'rb', '-n', ns, '-o', 'name'])).stdout.trim(), ''),
    );
  });

  test('a pre-existing object Meridian did not create is a conflict, never overwritten or deleted by default', async () => {
    const ns = await newNamespace('conflict');
    await member('us-east', ['create', 'namespace', ns]);
    await member(
      'us-east',
      ['apply', '-f', '-'],
      yaml({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'shared', namespace: ns },
        data: { owner: 'local-team' },
      }),
    );
    await hub(
      ['apply', '-f', '-'],
      yaml(
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'shared', namespace: ns },
          data: { owner: 'meridian' },
        },
        policy(ns, 'cm', [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'shared' }], {
          clusterAffinity: { ...runSelector, clusterNames: ['us-east'] },
        }),
      ),
    );
    await eventually(async () => {
      const b = await json<{
        status?: {
          conditions?: { type: string; status: string; message: string }[];
          aggregatedStatus?: { appliedMessage?: string }[];
        };
      }>(hub(['get', 'rb', '-n', ns, 'shared-configmap', '-o', 'json']));
      const fully = b.status?.conditions?.find((c) => c.type === 'FullyApplied');
      assert.equal(fully?.status, 'False');
      assert.match(JSON.stringify(b.status), /onflict|not managed by Meridian|already exists/);
    });
    assert.equal(
      (await member('us-east', ['get', 'configmap', 'shared', '-n', ns, '-o', 'jsonpath={.data.owner}']))
        .stdout,
      'local-team',
    );
    await hub([
      'patch',
      'pp',
      'cm',
      '-n',
      ns,
      '--type=merge',
      '-p',
      '{"spec":{"conflictResolution":"Overwrite"}}',
    ]);
    await eventually(async () =>
      assert.equal(
        (await member('us-east', ['get', 'configmap', 'shared', '-n', ns, '-o', 'jsonpath={.data.owner}']))
          .stdout,
        'meridian',
      ),
    );
  });

  test('drift in a member is reverted and recorded as an Event on the hub object', async () => {
    const ns = await newNamespace('drift');
    await hub(
      ['apply', '-f', '-'],
      yaml(
        deployment(ns, 'web', 2),
        policy(ns, 'web', [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }], {
          clusterAffinity: { ...runSelector, clusterNames: ['us-east'] },
        }),
      ),
    );
    await eventually(async () => assert.equal((await replicasIn(ns, 'web'))['us-east'], 2));
    await member('us-east', ['scale', 'deployment', 'web', '-n', ns, '--replicas=5']);
    await eventually(async () => assert.equal((await replicasIn(ns, 'web'))['us-east'], 2));
    await eventually(async () => {
      const events = await hub(['get', 'events', '-n', ns, '-o', 'jsonpath={.items[*].reason}']);
      assert.match(events.stdout, /DriftReverted/);
    });
  });

  test('controllers restarted mid-way: nothing lost, nothing duplicated', async () => {
    const ns = await newNamespace('restart');
    const docs: object[] = [policy(ns, 'all', [{ apiVersion: 'v1', kind: 'ConfigMap' }])];
    for (let i = 0; i < 40; i++)
      docs.push({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: `cm-${i}`, namespace: ns },
        data: { i: String(i) },
      });
    await hub(['apply', '-f', '-'], yaml(...docs));
    // Kill without a graceful stop while the batch is in flight, then start a fresh process.
    await eventually(
      async () =>
        assert.ok(
          Number(
            (
              await hub(['get', 'works', '-A', '-l', `meridian.dev/binding-namespace=${ns}`, '-o', 'name'])
            ).stdout
              .split('\n')
              .filter(Boolean).length,
          ) > 0,
        ),
      { intervalMs: 50 },
    );
    await controllers.stop('SIGKILL');
    controllers = startControllers(env.get().hub);
    for (const m of env.get().members) {
      await eventually(
        async () => {
          const names = (
            await member(m.name, [
              'get',
              'configmaps',
              '-n',
              ns,
              '-l',
              'app.kubernetes.io/managed-by=meridian',
              '-o',
              'name',
            ])
          ).stdout
            .split('\n')
            .filter(Boolean);
          assert.equal(names.length, 40);
        },
        { timeoutMs: 120_000 },
      );
    }
    const works = (
      await hub(['get', 'works', '-A', '-l', `meridian.dev/binding-namespace=${ns}`, '-o', 'name'])
    ).stdout
      .split('\n')
      .filter(Boolean);
    assert.equal(works.length, 40 * env.get().members.length);
    const bindings = (await hub(['get', 'rb', '-n', ns, '-o', 'name'])).stdout.split('\n').filter(Boolean);
    assert.equal(bindings.length, 40);
  });
});

describe('validation', () => {
  test('an invalid policy is rejected by the hub with a message naming the field', async () => {
    const ns = await newNamespace('invalid');
    const bad = policy(ns, 'bad', [{ apiVersion: 'apps/v1', kind: 'Deployment' }], {
      spreadConstraints: [{ spreadByField: 'region', minGroups: 3, maxGroups: 1 }],
    });
    await assert.rejects(hub(['apply', '-f', '-'], yaml(bad)), /maxGroups/);
  });

  test("a manifest one member rejects shows that member's message on the binding; the others apply", async () => {
    const ns = await newNamespace('rejected');
    // Valid on the hub; an override makes the container name invalid for eu-west only.
    const op = {
      apiVersion: 'meridian.dev/v1alpha1',
      kind: 'OverridePolicy',
      metadata: { name: 'break-eu', namespace: ns },
      spec: {
        resourceSelectors: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }],
        overrideRules: [
          {
            targetCluster: { clusterNames: ['eu-west'] },
            overriders: {
              plaintext: [
                {
                  operator: 'replace',
                  path: '/spec/template/spec/containers/0/name',
                  value: 'Not_A_DNS_Label',
                },
              ],
            },
          },
        ],
      },
    };
    await hub(
      ['apply', '-f', '-'],
      yaml(op, deployment(ns, 'web', 1), policy(ns, 'web', [{ apiVersion: 'apps/v1', kind: 'Deployment' }])),
    );
    await eventually(async () => {
      const b = await json<{
        status?: {
          conditions?: { type: string; status: string }[];
          aggregatedStatus?: { clusterName: string; applied?: boolean; appliedMessage?: string }[];
        };
      }>(hub(['get', 'rb', '-n', ns, 'web-deployment', '-o', 'json']));
      const eu = b.status?.aggregatedStatus?.find((s) => s.clusterName === 'eu-west');
      assert.equal(eu?.applied, false);
      // The member API server's own validation message, naming the field.
      assert.match(eu?.appliedMessage ?? '', /spec\.template\.spec\.containers\[0\]\.name.*Not_A_DNS_Label/);
      assert.equal(b.status?.conditions?.find((c) => c.type === 'FullyApplied')?.status, 'False');
      for (const c of ['us-east', 'onprem-dc1'])
        assert.equal(b.status?.aggregatedStatus?.find((s) => s.clusterName === c)?.applied, true);
    });
    assert.deepEqual(await replicasIn(ns, 'web'), { 'us-east': 1, 'eu-west': undefined, 'onprem-dc1': 1 });
  });
});
