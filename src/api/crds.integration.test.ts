// Against a REAL kube-apiserver (the hub of src/testenv): the generated CRDs are accepted
// (structural, CEL rules compile and fit the cost budget), valid objects pass, and invalid
// ones are rejected with messages naming the field. Uses the run's shared environment when
// MERIDIAN_TEST_ENV names one, else starts a hub-only environment for this file.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
// Tests may drive the test environment; src/api code itself never imports it.
// eslint-disable-next-line no-restricted-imports
import { startEnvironment, type EnvironmentInfo } from '../testenv/environment.ts';
// eslint-disable-next-line no-restricted-imports
import { kubectl } from '../testenv/kubectl.ts';
import { buildCrds } from './crds.ts';

let info: EnvironmentInfo;
let stopEnv: (() => Promise<void>) | undefined;
const ns = `api-it-${randomBytes(3).toString('hex')}`;
const run = (args: readonly string[], input?: string) =>
  kubectl(info.binDir, info.hub.kubeconfig, args, input === undefined ? {} : { input });

before(async () => {
  const shared = process.env['MERIDIAN_TEST_ENV'];
  if (shared) info = JSON.parse(readFileSync(shared, 'utf8')) as EnvironmentInfo;
  else {
    const env = await startEnvironment({ members: [] });
    stopEnv = () => env.stop();
    info = env.info();
  }
  const crds = buildCrds();
  await run(
    ['apply', '--server-side', '--force-conflicts', '--field-manager=meridian', '-f', '-'],
    crds.map((c) => stringify(c)).join('---\n'),
  );
  await run([
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    ...crds.map((c) => `crd/${c.metadata.name}`),
  ]);
  await run(['create', 'namespace', ns]);
});

after(async () => {
  await run(['delete', 'namespace', ns, '--wait=false']).catch(() => {});
  await stopEnv?.();
});

/** Server-side dry-run create: full validation (schema + CEL), nothing stored. */
async function create(obj: Record<string, unknown>): Promise<void> {
  await run(['create', '--dry-run=server', '-f', '-'], JSON.stringify(obj));
}

async function rejects(obj: Record<string, unknown>, ...fragments: string[]): Promise<void> {
  await assert.rejects(create(obj), (err: Error) => {
    for (const f of fragments) assert.ok(err.message.includes(f), `expected "${f}" in: ${err.message}`);
    return true;
  });
}

const A = 'meridian.dev/v1alpha1';
const cluster = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: A,
  kind: 'Cluster',
  metadata: { name },
  spec,
});
const pp = (placement: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  apiVersion: A,
  kind: 'PropagationPolicy',
  metadata: { name: 'p', namespace: ns },
  spec: {
    resourceSelectors: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }],
    placement,
    ...extra,
  },
});
const op = (overriders: Record<string, unknown>) => ({
  apiVersion: A,
  kind: 'OverridePolicy',
  metadata: { name: 'o', namespace: ns },
  spec: { overrideRules: [{ targetCluster: { clusterNames: ['a'] }, overriders }] },
});

test('the API server accepts the CRDs with short names and categories', async () => {
  const { stdout } = await run(['api-resources', '--api-group=meridian.dev', '-o', 'wide']);
  for (const short of ['pp', 'cpp', 'op', 'cop', 'rb', 'crb', 'mcl', 'wk'])
    assert.match(stdout, new RegExp(`\\b${short}\\b`));
  assert.match(stdout, /meridian/);
});

test('valid objects are accepted', async () => {
  await create(cluster('eu-1', { syncMode: 'Pull', taints: [{ key: 'k', effect: 'NoSchedule' }] }));
  await create(cluster('eu-2', { syncMode: 'Push', apiEndpoint: 'https://10.0.0.1:6443' }));
  await create(
    pp({
      clusterAffinities: [
        { affinityName: 'primary', clusterNames: ['a'], exclude: ['b'] },
        {
          affinityName: 'backup',
          fieldSelector: { matchExpressions: [{ key: 'region', operator: 'In', values: ['eu'] }] },
        },
      ],
      spreadConstraints: [{ spreadByField: 'region', minGroups: 1, maxGroups: 2 }],
      replicaScheduling: {
        replicaSchedulingType: 'Divided',
        replicaDivisionPreference: 'Weighted',
        weightPreference: { staticWeightList: [{ targetCluster: { clusterNames: ['a'] }, weight: 2 }] },
      },
    }),
  );
  await create(
    op({
      imageOverrider: [{ component: 'Registry', operator: 'replace', value: 'mirror.local' }],
      plaintext: [{ path: '/spec/replicas', operator: 'replace', value: 3 }],
    }),
  );
  await create({
    apiVersion: A,
    kind: 'Work',
    metadata: { name: 'w', namespace: ns },
    spec: {
      workload: {
        manifests: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { a: 'b' } }],
      },
    },
  });
});

test('Cluster: apiEndpoint required in Push mode, secretRef forbidden in Pull mode, name fits a namespace', async () => {
  await rejects(
    cluster('c', { syncMode: 'Push' }),
    'spec.apiEndpoint',
    'spec.apiEndpoint is required when spec.syncMode is Push',
  );
  await rejects(
    cluster('c', { syncMode: 'Pull', secretRef: { namespace: 'a', name: 'b' } }),
    'spec.secretRef is only allowed',
  );
  await rejects(cluster('c', { syncMode: 'Sideways' }), 'spec.syncMode', 'Unsupported value');
  await rejects(
    cluster('a'.repeat(50), { syncMode: 'Pull' }),
    'metadata.name must be a DNS label of at most 46',
  );
});

test('PropagationPolicy: CEL rules reject inconsistent placements, naming the field', async () => {
  await rejects(
    pp({
      replicaScheduling: {
        replicaSchedulingType: 'Duplicated',
        weightPreference: { staticWeightList: [{ targetCluster: { clusterNames: ['a'] }, weight: 1 }] },
      },
    }),
    'spec.placement.replicaScheduling.weightPreference',
    'requires replicaSchedulingType Divided and replicaDivisionPreference Weighted',
  );
  await rejects(
    pp({ spreadConstraints: [{ spreadByField: 'zone', minGroups: 3, maxGroups: 2 }] }),
    'spec.placement.spreadConstraints[0].maxGroups',
    'must be greater than or equal to',
  );
  await rejects(
    pp({ clusterAffinity: { clusterNames: ['a', 'b'], exclude: ['b'] } }),
    'spec.placement.clusterAffinity.exclude',
    'clusterNames and exclude must be disjoint',
  );
  await rejects(
    pp({ clusterAffinity: {}, clusterAffinities: [{ affinityName: 'x' }] }),
    'spec.placement.clusterAffinities',
    'mutually exclusive',
  );
  await rejects(
    pp({ clusterTolerations: [{ key: 'k', operator: 'Exists', value: 'v' }] }),
    'spec.placement.clusterTolerations[0].value',
  );
  await rejects(
    pp({ spreadConstraints: [{ spreadByField: 'continent', minGroups: 1 }] }),
    'spec.placement.spreadConstraints[0].spreadByField',
  );
  await rejects(pp({}, { conflictResolution: 'Ignore' }), 'spec.conflictResolution');
  await rejects(
    pp({
      clusterAffinity: {
        labelSelector: { matchExpressions: [{ key: 'k', operator: 'In' }] },
      },
    }),
    'spec.placement.clusterAffinity.labelSelector.matchExpressions[0].values',
  );
});

test('OverridePolicy: JSON-patch paths start with /, image values match operators', async () => {
  await rejects(
    op({ plaintext: [{ path: 'spec/replicas', operator: 'replace', value: 1 }] }),
    'spec.overrideRules[0].overriders.plaintext[0].path',
    "must be a JSON pointer starting with '/'",
  );
  await rejects(
    op({ imageOverrider: [{ component: 'Tag', operator: 'add' }] }),
    'spec.overrideRules[0].overriders.imageOverrider[0].value',
    'is required for operator add/replace',
  );
  await rejects(
    op({ imageOverrider: [{ component: 'Tag', operator: 'remove', value: 'v1' }] }),
    'spec.overrideRules[0].overriders.imageOverrider[0].value',
  );
  await rejects(op({}), 'spec.overrideRules[0].overriders', 'must set at least one overrider');
});

test('Work: manifests must be Kubernetes objects', async () => {
  await rejects(
    {
      apiVersion: A,
      kind: 'Work',
      metadata: { name: 'w', namespace: ns },
      spec: { workload: { manifests: [{ data: { a: 'b' } }] } },
    },
    'spec.workload.manifests[0]',
  );
});

test('status subresource and printer columns', async () => {
  await run(
    ['apply', '--server-side', '--field-manager=meridian', '-f', '-'],
    JSON.stringify(cluster('api-it-c', { syncMode: 'Pull' })),
  );
  try {
    // Status is written through the /status subresource and shows in the printer columns.
    const status = {
      status: {
        kubernetesVersion: 'v1.37.2',
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'Healthy',
            message: '',
            lastTransitionTime: '2026-01-01T00:00:00Z',
          },
        ],
      },
    };
    await run([
      'patch',
      'cluster.meridian.dev/api-it-c',
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify(status),
    ]);
    const { stdout } = await run(['get', 'cluster.meridian.dev/api-it-c']);
    assert.match(stdout, /MODE\s+READY\s+TUNNEL\s+VERSION\s+REGION\s+AGE/);
    assert.match(stdout, /api-it-c\s+Pull\s+True\s+v1\.37\.2\s/, stdout);
  } finally {
    await run(['delete', 'cluster.meridian.dev/api-it-c', '--wait=false']).catch(() => {});
  }
});
