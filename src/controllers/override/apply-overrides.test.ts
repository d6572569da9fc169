import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterAffinity, ImageOverrider, Overriders } from '../../api/index.ts';
import { makeCluster } from '../scheduler/fixtures.ts';
import {
  applyOverrides,
  orderPolicies,
  overrideImage,
  OverrideError,
  type AnyOverridePolicy,
} from './apply-overrides.ts';

const deployment = () => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'default', labels: { app: 'web' } },
  spec: {
    replicas: 2,
    template: {
      spec: {
        initContainers: [{ name: 'init', image: 'busybox:1.36' }],
        containers: [
          { name: 'web', image: 'docker.io/org/web:1.0', args: ['--port=80', '--debug'] },
          { name: 'sidecar', image: 'envoy:v1', command: ['envoy'] },
        ],
      },
    },
  },
});

const eu = makeCluster('eu-1', { region: 'eu' });

function policy(
  kind: 'OverridePolicy' | 'ClusterOverridePolicy',
  name: string,
  rules: Array<{ targetCluster?: ClusterAffinity; overriders: Overriders }>,
): AnyOverridePolicy {
  return {
    apiVersion: 'meridian.dev/v1alpha1',
    kind,
    metadata: kind === 'OverridePolicy' ? { name, namespace: 'default' } : { name },
    spec: { overrideRules: rules },
  };
}
const op = (overriders: Overriders, targetCluster?: ClusterAffinity) =>
  policy('OverridePolicy', 'p', [{ ...(targetCluster ? { targetCluster } : {}), overriders }]);

test('overrideImage: each component and operator', () => {
  const table: Array<[string, ImageOverrider, string]> = [
    [
      'docker.io/org/web:1.0',
      { component: 'Registry', operator: 'replace', value: 'mirror.eu' },
      'mirror.eu/org/web:1.0',
    ],
    ['org/web:1.0', { component: 'Registry', operator: 'add', value: 'mirror.eu' }, 'mirror.eu/org/web:1.0'],
    ['registry.io/web', { component: 'Registry', operator: 'add', value: '.cn' }, 'registry.io.cn/web'],
    ['docker.io/org/web:1.0', { component: 'Registry', operator: 'remove' }, 'org/web:1.0'],
    [
      'docker.io/org/web:1.0',
      { component: 'Repository', operator: 'replace', value: 'team/web' },
      'docker.io/team/web:1.0',
    ],
    [
      'docker.io/org/web:1.0',
      { component: 'Repository', operator: 'add', value: '-eu' },
      'docker.io/org/web-eu:1.0',
    ],
    ['web:1.0', { component: 'Tag', operator: 'replace', value: '1.1' }, 'web:1.1'],
    ['web', { component: 'Tag', operator: 'add', value: 'stable' }, 'web:stable'],
    ['web:1.0', { component: 'Tag', operator: 'remove' }, 'web'],
    ['web:1.0@sha256:abc', { component: 'Tag', operator: 'replace', value: '2.0' }, 'web:2.0'],
    ['web:1.0@sha256:abc', { component: 'Tag', operator: 'remove' }, 'web@sha256:abc'],
    [
      'localhost:5000/web:1',
      { component: 'Registry', operator: 'replace', value: 'reg.local:443' },
      'reg.local:443/web:1',
    ],
  ];
  for (const [image, o, want] of table)
    assert.equal(overrideImage(image, o), want, `${image} ${JSON.stringify(o)}`);
  assert.throws(() => overrideImage('web:1', { component: 'Repository', operator: 'remove' }), OverrideError);
});

test('applyOverrides: one overrider of each kind', () => {
  const table: Array<[string, Overriders, (d: ReturnType<typeof deployment>) => void]> = [
    [
      'image without predicate: every container and init container',
      { imageOverrider: [{ component: 'Registry', operator: 'replace', value: 'mirror.eu' }] },
      (d) => {
        d.spec.template.spec.initContainers[0]!.image = 'mirror.eu/busybox:1.36';
        d.spec.template.spec.containers[0]!.image = 'mirror.eu/org/web:1.0';
        d.spec.template.spec.containers[1]!.image = 'mirror.eu/envoy:v1';
      },
    ],
    [
      'image with predicate: only that path',
      {
        imageOverrider: [
          {
            predicate: { path: '/spec/template/spec/containers/1/image' },
            component: 'Tag',
            operator: 'replace',
            value: 'v2',
          },
        ],
      },
      (d) => {
        d.spec.template.spec.containers[1]!.image = 'envoy:v2';
      },
    ],
    [
      'command add',
      { commandOverrider: [{ containerName: 'sidecar', operator: 'add', value: ['--log=debug'] }] },
      (d) => {
        d.spec.template.spec.containers[1]!.command = ['envoy', '--log=debug'];
      },
    ],
    [
      'args remove; unknown container untouched',
      {
        argsOverrider: [
          { containerName: 'web', operator: 'remove', value: ['--debug'] },
          { containerName: 'nope', operator: 'add', value: ['x'] },
        ],
      },
      (d) => {
        d.spec.template.spec.containers[0]!.args = ['--port=80'];
      },
    ],
    [
      'args add to a container without args',
      { argsOverrider: [{ containerName: 'sidecar', operator: 'add', value: ['-c', 'cfg'] }] },
      (d) => {
        Object.assign(d.spec.template.spec.containers[1]!, { args: ['-c', 'cfg'] });
      },
    ],
    [
      'labels: add sets, replace only existing, remove deletes',
      {
        labelsOverrider: [
          { operator: 'add', value: { region: 'eu' } },
          { operator: 'replace', value: { app: 'web-eu', absent: 'x' } },
          { operator: 'remove', value: { region: '' } },
        ],
      },
      (d) => {
        d.metadata.labels = { app: 'web-eu' };
      },
    ],
    [
      'annotations created when absent',
      { annotationsOverrider: [{ operator: 'add', value: { 'meridian.dev/cluster': 'eu-1' } }] },
      (d) => {
        Object.assign(d.metadata, { annotations: { 'meridian.dev/cluster': 'eu-1' } });
      },
    ],
    [
      'plaintext JSON patch',
      {
        plaintext: [
          { path: '/spec/replicas', operator: 'replace', value: 5 },
          { path: '/spec/paused', operator: 'add', value: true },
        ],
      },
      (d) => {
        d.spec.replicas = 5;
        Object.assign(d.spec, { paused: true });
      },
    ],
  ];
  for (const [name, overriders, edit] of table) {
    const input = deployment();
    const want = deployment();
    edit(want);
    const got = applyOverrides(input, eu, [op(overriders)]);
    assert.deepEqual(got.manifest, want, name);
    assert.deepEqual(input, deployment(), `${name}: input not modified`);
  }
});

test('applyOverrides: within a rule, image → command → args → labels → annotations → plaintext', () => {
  const got = applyOverrides(deployment(), eu, [
    op({
      // Listed in reverse; plaintext still runs last, so it sees (and overwrites) the image override.
      plaintext: [{ path: '/spec/template/spec/containers/0/image', operator: 'replace', value: 'final:1' }],
      labelsOverrider: [{ operator: 'add', value: { a: '1' } }],
      imageOverrider: [{ component: 'Tag', operator: 'replace', value: 'x' }],
    }),
  ]);
  assert.equal(
    (got.manifest as ReturnType<typeof deployment>).spec.template.spec.containers[0]?.image,
    'final:1',
  );
  assert.deepEqual(
    got.applied.map((a) => a.overrider),
    ['imageOverrider', 'labelsOverrider', 'plaintext'],
  );
});

test('applyOverrides: ClusterOverridePolicy first, then OverridePolicy; by name; rules in order; later wins', () => {
  const set = (value: string): Overriders => ({
    labelsOverrider: [{ operator: 'add', value: { who: value } }],
  });
  const policies = [
    policy('OverridePolicy', 'b', [{ overriders: set('op-b') }]),
    policy('OverridePolicy', 'a', [{ overriders: set('op-a-1') }, { overriders: set('op-a-2') }]),
    policy('ClusterOverridePolicy', 'z', [{ overriders: set('cop-z') }]),
    policy('ClusterOverridePolicy', 'c', [{ overriders: set('cop-c') }]),
  ];
  assert.deepEqual(
    orderPolicies(policies).map((p) => `${p.kind}/${p.metadata.name}`),
    ['ClusterOverridePolicy/c', 'ClusterOverridePolicy/z', 'OverridePolicy/a', 'OverridePolicy/b'],
  );
  const got = applyOverrides(deployment(), eu, policies);
  assert.deepEqual((got.manifest as ReturnType<typeof deployment>).metadata.labels, {
    app: 'web',
    who: 'op-b',
  });
  assert.deepEqual(
    got.applied.map((a) => `${a.policy}#${a.rule}`),
    [
      'ClusterOverridePolicy/c#0',
      'ClusterOverridePolicy/z#0',
      'OverridePolicy/default/a#0',
      'OverridePolicy/default/a#1',
      'OverridePolicy/default/b#0',
    ],
  );
});

test('applyOverrides: rules apply only to the clusters their targetCluster selects', () => {
  const us = makeCluster('us-1', { region: 'us' });
  const euOnly: ClusterAffinity = {
    fieldSelector: { matchExpressions: [{ key: 'region', operator: 'In', values: ['eu'] }] },
  };
  const p = op(
    { imageOverrider: [{ component: 'Registry', operator: 'replace', value: 'mirror.eu' }] },
    euOnly,
  );
  assert.equal(applyOverrides(deployment(), eu, [p]).applied.length, 1);
  const onUs = applyOverrides(deployment(), us, [p]);
  assert.deepEqual(onUs, { manifest: deployment(), applied: [] });
});

test('applyOverrides reports unchanged overriders and fails with the overrider named', () => {
  const noop = applyOverrides(deployment(), eu, [
    op({ labelsOverrider: [{ operator: 'remove', value: { absent: '' } }] }),
  ]);
  assert.deepEqual(noop.applied, [
    { policy: 'OverridePolicy/default/p', rule: 0, overrider: 'labelsOverrider', index: 0, changed: false },
  ]);
  assert.throws(
    () =>
      applyOverrides(deployment(), eu, [
        op({ plaintext: [{ path: '/spec/missing/x', operator: 'replace', value: 1 }] }),
      ]),
    (e: unknown) =>
      e instanceof OverrideError &&
      e.message ===
        'OverridePolicy/default/p: overrideRules[0].overriders.plaintext[0]: /spec/missing/x: parent missing does not exist',
  );
  assert.throws(
    () =>
      applyOverrides(deployment(), eu, [op({ plaintext: [{ path: '/spec/replicas', operator: 'add' }] })]),
    /plaintext\[0\]\.value: required for operator add/,
  );
  assert.throws(
    () =>
      applyOverrides(deployment(), eu, [
        op({
          imageOverrider: [
            { predicate: { path: '/spec/replicas' }, component: 'Tag', operator: 'replace', value: 'x' },
          ],
        }),
      ]),
    /imageOverrider\[0\]\.predicate\.path: \/spec\/replicas is not an image string/,
  );
});

test('applyOverrides: Pod and CronJob pod specs', () => {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p' },
    spec: { containers: [{ name: 'c', image: 'a:1' }] },
  };
  const cron = {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: 'c' },
    spec: { jobTemplate: { spec: { template: { spec: { containers: [{ name: 'c', image: 'a:1' }] } } } } },
  };
  const p = op({ imageOverrider: [{ component: 'Tag', operator: 'replace', value: '2' }] });
  assert.equal((applyOverrides(pod, eu, [p]).manifest as typeof pod).spec.containers[0]?.image, 'a:2');
  assert.equal(
    (applyOverrides(cron, eu, [p]).manifest as typeof cron).spec.jobTemplate.spec.template.spec.containers[0]
      ?.image,
    'a:2',
  );
});
