import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ResourceBinding } from '../../api/resource-binding.ts';
import type { Work } from '../../api/work.ts';
import { createStore } from '../../kube/store.ts';
import { bindingLabelValue, TemplateIndex, WorkIndex } from './indexes.ts';
import { clusterReport, fullyApplied, sameStatus, TEMPLATE_GENERATION_ANNOTATION } from './reconcile.ts';

function work(
  cluster: string,
  opts: {
    applied?: 'True' | 'False';
    message?: string;
    generation?: number;
    observedGeneration?: number;
    memberObserved?: number;
    binding?: { namespace?: string; name: string };
    annotations?: Record<string, string>;
  } = {},
): Work {
  const binding = opts.binding ?? { namespace: 'ns', name: 'web-deployment' };
  return {
    apiVersion: 'meridian.dev/v1alpha1',
    kind: 'Work',
    metadata: {
      name: `rb.${binding.namespace}.${binding.name}`,
      namespace: `meridian-cluster-${cluster}`,
      generation: opts.generation ?? 1,
      labels: {
        'meridian.dev/binding-name': bindingLabelValue(binding.name),
        ...(binding.namespace && { 'meridian.dev/binding-namespace': binding.namespace }),
        'meridian.dev/cluster': cluster,
      },
      ...(opts.annotations && { annotations: opts.annotations }),
    },
    spec: { workload: { manifests: [] } },
    ...(opts.applied && {
      status: {
        conditions: [
          {
            type: 'Applied',
            status: opts.applied,
            reason: opts.applied === 'True' ? 'Applied' : 'ApplyFailed',
            message: opts.message ?? '',
            lastTransitionTime: '2030-01-01T00:00:00Z',
          },
        ],
        manifestStatuses: [
          {
            identifier: {
              ordinal: 0,
              group: 'apps',
              version: 'v1',
              kind: 'Deployment',
              name: 'web',
              namespace: 'ns',
            },
            status: { readyReplicas: 2, observedGeneration: opts.memberObserved ?? 1 },
            health: 'Healthy',
            applied: opts.applied === 'True',
            ...(opts.message !== undefined && { message: opts.message }),
            appliedGeneration: 1,
            observedGeneration: opts.observedGeneration ?? opts.generation ?? 1,
          },
        ],
      },
    }),
  } as Work;
}

describe('clusterReport', () => {
  test('an applied Work reports the member status and health, and is current', () => {
    const r = clusterReport('a', work('a', { applied: 'True' }));
    assert.deepEqual(r.item, {
      clusterName: 'a',
      applied: true,
      health: 'Healthy',
      status: { readyReplicas: 2, observedGeneration: 1 },
    });
    assert.equal(r.current, true);
  });

  test('no Work yet: not applied, Unknown', () => {
    const r = clusterReport('a', undefined);
    assert.equal(r.item.applied, false);
    assert.equal(r.item.health, 'Unknown');
    assert.match(r.item.appliedMessage!, /no Work/);
  });

  test("Applied=False carries the member's message", () => {
    const r = clusterReport('a', work('a', { applied: 'False', message: 'admission webhook denied' }));
    assert.equal(r.item.applied, false);
    assert.equal(r.item.appliedMessage, 'admission webhook denied');
    assert.equal(r.current, false);
  });

  test('a Work whose latest generation is not applied yet is not applied', () => {
    const r = clusterReport('a', work('a', { applied: 'True', generation: 2, observedGeneration: 1 }));
    assert.equal(r.item.applied, false);
    assert.match(r.item.appliedMessage!, /generation 2/);
  });

  test('applied but the member controller has not observed it: applied, not current', () => {
    const r = clusterReport('a', work('a', { applied: 'True', memberObserved: 0 }));
    assert.equal(r.item.applied, true);
    assert.equal(r.current, false);
  });

  test('reads the template generation annotation', () => {
    const r = clusterReport(
      'a',
      work('a', { applied: 'True', annotations: { [TEMPLATE_GENERATION_ANNOTATION]: '4' } }),
    );
    assert.equal(r.templateGeneration, 4);
  });
});

describe('fullyApplied', () => {
  test('True when every target applied; False naming the others and why', () => {
    const ok = [
      clusterReport('a', work('a', { applied: 'True' })),
      clusterReport('b', work('b', { applied: 'True' })),
    ];
    assert.equal(fullyApplied(ok, 5).status, 'True');
    assert.equal(fullyApplied(ok, 5).observedGeneration, 5);
    const bad = fullyApplied(
      [ok[0]!, clusterReport('b', work('b', { applied: 'False', message: 'quota exceeded' }))],
      5,
    );
    assert.equal(bad.status, 'False');
    assert.match(bad.message, /b: quota exceeded/);
    assert.doesNotMatch(bad.message, /\ba:/);
  });

  test('False with no targets', () => {
    assert.equal(fullyApplied([], 1).reason, 'NoTargetClusters');
  });
});

describe('sameStatus', () => {
  test('zero equals absent, key order does not matter; real changes do', () => {
    assert.ok(sameStatus({ replicas: 0, readyReplicas: 2 }, { readyReplicas: 2 }));
    assert.ok(sameStatus({ a: 1, b: { c: 2, d: 3 } }, { b: { d: 3, c: 2 }, a: 1 }));
    assert.ok(!sameStatus({ readyReplicas: 0 }, { readyReplicas: 1 }));
    assert.ok(!sameStatus([{ applied: false }], [{ applied: true }]));
  });
});

describe('indexes', () => {
  test('WorkIndex files Works by their binding labels, follows changes, maps long names', () => {
    const { reader, writer } = createStore<Work>();
    const ac = new AbortController();
    writer.apply({ type: 'init' });
    writer.apply({ type: 'initApply', object: work('a') });
    writer.apply({ type: 'initDone' });
    const index = new WorkIndex(reader, ac.signal);
    const binding = { metadata: { namespace: 'ns', name: 'web-deployment' } };
    assert.deepEqual(
      index.worksOf(binding).map((w) => w.metadata.namespace),
      ['meridian-cluster-a'],
    );
    writer.apply({ type: 'apply', object: work('b') });
    assert.equal(index.worksOf(binding).length, 2);
    writer.apply({ type: 'delete', object: work('a') });
    assert.deepEqual(
      index.worksOf(binding).map((w) => w.metadata.namespace),
      ['meridian-cluster-b'],
    );

    const long = 'x'.repeat(80);
    const lw = work('a', { binding: { namespace: 'ns', name: long } });
    writer.apply({ type: 'apply', object: lw });
    assert.equal(index.worksOf({ metadata: { namespace: 'ns', name: long } }).length, 1);
    const bindings = createStore<ResourceBinding>();
    bindings.writer.apply({ type: 'init' });
    bindings.writer.apply({
      type: 'initApply',
      object: { metadata: { namespace: 'ns', name: long }, spec: {} } as unknown as ResourceBinding,
    });
    bindings.writer.apply({ type: 'initDone' });
    assert.deepEqual(WorkIndex.bindingKeys(lw, 'Namespaced', bindings.reader), [`ns/${long}`]);
    assert.deepEqual(WorkIndex.bindingKeys(work('a'), 'Namespaced', bindings.reader), ['ns/web-deployment']);
    assert.deepEqual(WorkIndex.bindingKeys(work('a'), 'Cluster', bindings.reader), []);
    ac.abort();
  });

  test('TemplateIndex maps a template to the bindings about it', () => {
    const { reader, writer } = createStore<ResourceBinding>();
    const ac = new AbortController();
    const index = new TemplateIndex(reader, ac.signal);
    const rb = (name: string, resource: string) =>
      ({
        metadata: { namespace: 'ns', name },
        spec: { resource: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'ns', name: resource } },
      }) as unknown as ResourceBinding;
    writer.apply({ type: 'init' });
    writer.apply({ type: 'initApply', object: rb('web-deployment', 'web') });
    writer.apply({ type: 'initDone' });
    assert.deepEqual(index.bindingsOf('apps', 'Deployment', 'ns', 'web'), ['ns/web-deployment']);
    assert.deepEqual(index.bindingsOf('apps', 'StatefulSet', 'ns', 'web'), []);
    writer.apply({ type: 'apply', object: rb('web-deployment', 'other') });
    assert.deepEqual(index.bindingsOf('apps', 'Deployment', 'ns', 'web'), []);
    assert.deepEqual(index.bindingsOf('apps', 'Deployment', 'ns', 'other'), ['ns/web-deployment']);
    ac.abort();
  });
});
