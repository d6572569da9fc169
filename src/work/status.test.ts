import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ManifestIdentifier, WorkStatus } from '../api/index.ts';
import { driftDetail } from './applier.ts';
import { canonicalJson } from '../kube/canonical-json.ts';
import { buildWorkStatus, statusChanged, type ManifestOutcome } from './status.ts';

const id = (name: string, ordinal = 0): ManifestIdentifier => ({
  ordinal,
  group: 'apps',
  version: 'v1',
  kind: 'Deployment',
  resource: 'deployments',
  namespace: 'shop',
  name,
});
const applied = (
  name: string,
  health: 'Healthy' | 'Unhealthy' | 'Unknown',
  ordinal = 0,
): ManifestOutcome => ({
  type: 'applied',
  identifier: id(name, ordinal),
  live: { metadata: { name, generation: 2 }, status: { readyReplicas: 2 } } as never,
  health,
  appliedGeneration: 2,
  observedGeneration: 5,
});

const T0 = '2026-01-01T00:00:00Z';
const T1 = '2026-01-01T00:01:00Z';

test('all applied and healthy ⇒ Applied=True, Available=True, manifest status carries the member status', () => {
  const s = buildWorkStatus(undefined, [applied('web', 'Healthy')], 'c1', 5, T0);
  const byType = Object.fromEntries((s.conditions ?? []).map((c) => [c.type, c]));
  assert.equal(byType['Applied']?.status, 'True');
  assert.equal(byType['Available']?.status, 'True');
  assert.equal(byType['Applied']?.observedGeneration, 5);
  assert.deepEqual(s.manifestStatuses, [
    {
      identifier: id('web'),
      applied: true,
      health: 'Healthy',
      status: { readyReplicas: 2 },
      appliedGeneration: 2,
      observedGeneration: 5,
    },
  ]);
});

test('a conflict ⇒ Applied=False reason Conflict with its message; Available Unknown', () => {
  const s = buildWorkStatus(
    undefined,
    [
      applied('web', 'Healthy'),
      { type: 'conflict', identifier: id('db', 1), message: 'Deployment shop/db already exists' },
    ],
    'c1',
    5,
    T0,
  );
  const applied_ = s.conditions?.find((c) => c.type === 'Applied');
  assert.equal(applied_?.status, 'False');
  assert.equal(applied_?.reason, 'Conflict');
  assert.match(applied_?.message ?? '', /shop\/db already exists/);
  assert.equal(s.conditions?.find((c) => c.type === 'Available')?.status, 'Unknown');
  assert.deepEqual(s.manifestStatuses?.[1], {
    identifier: id('db', 1),
    applied: false,
    health: 'Unknown',
    message: 'Deployment shop/db already exists',
  });
});

test('a rejection ⇒ Applied=False reason ApplyFailed; an unhealthy manifest ⇒ Available=False naming it', () => {
  const failed = buildWorkStatus(
    undefined,
    [{ type: 'failed', identifier: id('web'), message: 'spec.replicas: Invalid value' }],
    'c1',
    1,
    T0,
  );
  assert.equal(failed.conditions?.find((c) => c.type === 'Applied')?.reason, 'ApplyFailed');
  const sick = buildWorkStatus(
    undefined,
    [applied('web', 'Unhealthy'), applied('api', 'Unknown', 1)],
    'c1',
    1,
    T0,
  );
  const available = sick.conditions?.find((c) => c.type === 'Available');
  assert.equal(available?.status, 'False');
  assert.match(available?.message ?? '', /Deployment shop\/web/);
  assert.doesNotMatch(available?.message ?? '', /api/);
});

test('lastTransitionTime moves only when a condition status changes; unchanged status is not rewritten', () => {
  const first = buildWorkStatus(undefined, [applied('web', 'Unknown')], 'c1', 1, T0);
  const same = buildWorkStatus(first, [applied('web', 'Unknown')], 'c1', 1, T1);
  assert.equal(statusChanged(first, same), false);
  assert.equal(same.conditions?.[0]?.lastTransitionTime, T0);
  const healthy = buildWorkStatus(first, [applied('web', 'Healthy')], 'c1', 1, T1);
  assert.equal(statusChanged(first, healthy), true);
  assert.equal(healthy.conditions?.find((c) => c.type === 'Applied')?.lastTransitionTime, T0);
  assert.equal(healthy.conditions?.find((c) => c.type === 'Available')?.lastTransitionTime, T1);
});

test('statusChanged ignores key order (the API server sorts keys) and conditions owned by others', () => {
  const ours = buildWorkStatus(undefined, [applied('web', 'Healthy')], 'c1', 1, T0);
  const fromServer = JSON.parse(canonicalJson(ours)) as WorkStatus;
  const withOther: WorkStatus = {
    ...fromServer,
    conditions: [
      ...(fromServer.conditions ?? []),
      { type: 'Other', status: 'True', reason: 'X', message: '', lastTransitionTime: T1 },
    ],
  };
  assert.equal(statusChanged(withOther, ours), false);
  assert.equal(statusChanged(undefined, ours), true);
});

test('driftDetail reports only what the revert actually changed', () => {
  const obj = (generation: number, rv: string) => ({ metadata: { generation, resourceVersion: rv } });
  assert.match(driftDetail('spec-drift', obj(3, '10'), obj(4, '11')) ?? '', /generation 3 → 4/);
  assert.equal(driftDetail('spec-drift', obj(3, '10'), obj(3, '10')), undefined);
  assert.match(driftDetail('recreate', undefined, obj(1, '1')) ?? '', /re-created/);
  assert.match(driftDetail('metadata-drift', obj(3, '10'), obj(3, '11')) ?? '', /restored/);
  assert.equal(driftDetail('metadata-drift', obj(3, '10'), obj(3, '10')), undefined);
  assert.equal(driftDetail('fields-drift', obj(0, '10'), obj(0, '10')), undefined);
});
