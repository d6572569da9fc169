import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClusterEviction, Failover, TargetCluster, Work } from '../../api/index.ts';
import { makeCluster } from '../scheduler/fixtures.ts';
import { decide, type DecisionInput } from './decide.ts';

const NOW = Date.parse('2026-01-01T00:10:00Z');
const app: Failover['application'] = {
  decisionConditions: { tolerationSeconds: 60 },
  purgeMode: 'Graciously',
};

function work(cluster: string, status: 'True' | 'False' | 'Unknown', since: string, message = ''): Work {
  return {
    apiVersion: 'meridian.dev/v1alpha1',
    kind: 'Work',
    metadata: { name: 'rb.ns.web', namespace: `meridian-cluster-${cluster}` },
    spec: { workload: { manifests: [] } },
    status: {
      conditions: [{ type: 'Available', status, reason: 'Unhealthy', message, lastTransitionTime: since }],
    },
  };
}

const t = (name: string, replicas = 2): TargetCluster => ({ name, replicas });
const clusters = (...names: string[]) => new Map(names.map((n) => [n, makeCluster(n)]));

function input(over: Partial<DecisionInput>): DecisionInput {
  return {
    targets: [t('a'), t('b'), t('c')],
    evicted: [],
    application: app,
    works: new Map([
      ['a', work('a', 'True', '2026-01-01T00:00:00Z')],
      ['b', work('b', 'True', '2026-01-01T00:00:00Z')],
      ['c', work('c', 'True', '2026-01-01T00:00:00Z')],
    ]),
    clusters: clusters('a', 'b', 'c'),
    templateGeneration: 4,
    nowMs: NOW,
    ...over,
  };
}

const eviction = (name: string, over: Partial<ClusterEviction> = {}): ClusterEviction => ({
  name,
  reason: 'ApplicationFailure',
  message: 'unhealthy',
  evictionTime: '2026-01-01T00:05:00Z',
  templateGeneration: 4,
  ...over,
});

test('healthy everywhere: nothing to do, nothing to recheck', () => {
  const d = decide(input({}));
  assert.deepEqual(d, { evicted: [], added: [], lifted: [], tolerated: [], held: [] });
});

test('unhealthy for less than tolerationSeconds: tolerated, recheck at the deadline', () => {
  const works = new Map(input({}).works);
  works.set('b', work('b', 'False', '2026-01-01T00:09:30Z'));
  const d = decide(input({ works }));
  assert.deepEqual(d.added, []);
  assert.deepEqual(d.tolerated, [
    {
      cluster: 'b',
      sinceMs: Date.parse('2026-01-01T00:09:30Z'),
      deadlineMs: Date.parse('2026-01-01T00:10:31Z'),
    },
  ]);
  assert.equal(d.recheckAfterMs, 31_000, 'the toleration, plus the second the timestamp may have lost');
});

test('never early: a second-precision timestamp exactly tolerationSeconds ago is not due yet', () => {
  const works = new Map(input({}).works);
  works.set('b', work('b', 'False', '2026-01-01T00:09:00Z'));
  const d = decide(input({ works }));
  assert.deepEqual(d.added, []);
  assert.equal(d.recheckAfterMs, 1_000);
});

test('unhealthy past tolerationSeconds while others are healthy: evicted, with why and the template generation', () => {
  const works = new Map(input({}).works);
  works.set('b', work('b', 'False', '2026-01-01T00:08:00Z', 'not healthy in cluster b: Deployment ns/web'));
  const d = decide(input({ works }));
  assert.deepEqual(d.added, [
    {
      name: 'b',
      reason: 'ApplicationFailure',
      message: 'unhealthy for 120s (tolerationSeconds 60): not healthy in cluster b: Deployment ns/web',
      evictionTime: '2026-01-01T00:10:00Z',
      templateGeneration: 4,
    },
  ]);
  assert.deepEqual(d.evicted, d.added);
  assert.equal(d.recheckAfterMs, undefined);
});

test('unhealthy in every target: held, not moved', () => {
  const since = '2026-01-01T00:00:00Z';
  const works = new Map(['a', 'b', 'c'].map((n) => [n, work(n, 'False', since)] as const));
  const d = decide(input({ works }));
  assert.deepEqual(d.added, []);
  assert.deepEqual(
    d.held.map((h) => h.cluster),
    ['a', 'b', 'c'],
  );
});

test('a single target unhealthy past its toleration is evicted (the scheduler looks for another cluster)', () => {
  const d = decide(
    input({ targets: [t('a', 1)], works: new Map([['a', work('a', 'False', '2026-01-01T00:00:00Z')]]) }),
  );
  assert.deepEqual(
    d.added.map((e) => e.name),
    ['a'],
  );
});

test('a cluster that is not Ready is left to cluster failover', () => {
  const works = new Map(input({}).works);
  works.set('b', work('b', 'False', '2026-01-01T00:00:00Z'));
  const cs = clusters('a', 'c');
  cs.set('b', makeCluster('b', { ready: 'False' }));
  const d = decide(input({ works, clusters: cs }));
  assert.deepEqual(d.added, []);
  assert.deepEqual(d.tolerated, []);
});

test('Unknown health (not applied, member silent) never counts as unhealthy', () => {
  const works = new Map(input({}).works);
  works.set('b', work('b', 'Unknown', '2026-01-01T00:00:00Z'));
  assert.deepEqual(decide(input({ works })).added, []);
});

test('evictions are kept, and lifted when the cluster is gone, the template changed or failover is off', () => {
  const kept = decide(input({ evicted: [eviction('b')], targets: [t('a', 3), t('c', 3)] }));
  assert.deepEqual(kept.evicted, [eviction('b')]);
  assert.deepEqual(kept.lifted, []);

  const gone = decide(input({ evicted: [eviction('b')], clusters: clusters('a', 'c') }));
  assert.deepEqual(gone.lifted, [{ eviction: eviction('b'), why: 'ClusterGone' }]);
  assert.deepEqual(gone.evicted, []);

  const changed = decide(input({ evicted: [eviction('b')], templateGeneration: 5 }));
  assert.deepEqual(changed.lifted, [{ eviction: eviction('b'), why: 'TemplateChanged' }]);

  const off = decide(input({ evicted: [eviction('b')], application: undefined }));
  assert.deepEqual(off.lifted, [{ eviction: eviction('b'), why: 'FailoverDisabled' }]);
  assert.deepEqual(off.evicted, []);
});

test('an evicted cluster still listed as a target (no other cluster fits) is not evicted twice', () => {
  const works = new Map(input({}).works);
  works.set('b', work('b', 'False', '2026-01-01T00:00:00Z'));
  const d = decide(input({ works, evicted: [eviction('b')] }));
  assert.deepEqual(d.added, []);
  assert.deepEqual(d.evicted, [eviction('b')]);
});
