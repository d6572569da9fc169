import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeCluster, type ClusterFixture } from '../../fixtures.ts';
import type { SchedulingUnit } from '../../plugin.ts';
import { apiEnablement } from './index.ts';

const unit = (apiVersion: string, kind: string): SchedulingUnit => ({
  resource: { apiVersion, kind },
  replicas: 0,
  placement: {},
});

test('api-enablement filter', () => {
  const table: Array<[string, SchedulingUnit, ClusterFixture['apis'], string | undefined]> = [
    ['served', unit('apps/v1', 'Deployment'), { 'apps/v1': ['Deployment'] }, undefined],
    ['core group', unit('v1', 'ConfigMap'), { v1: ['ConfigMap'] }, undefined],
    [
      'group/version missing',
      unit('batch/v1', 'Job'),
      { 'apps/v1': ['Deployment'] },
      'cluster does not serve batch/v1',
    ],
    [
      'kind missing',
      unit('apps/v1', 'StatefulSet'),
      { 'apps/v1': ['Deployment'] },
      'cluster does not serve StatefulSet in apps/v1',
    ],
    [
      'other version only',
      unit('apps/v1beta1', 'Deployment'),
      { 'apps/v1': ['Deployment'] },
      'cluster does not serve apps/v1beta1',
    ],
    ['nothing reported', unit('v1', 'ConfigMap'), 'none', 'cluster has not reported its API enablements'],
  ];
  for (const [name, u, apis, reason] of table) {
    const got = apiEnablement.filter(
      { unit: u, affinity: undefined, previous: new Map() },
      makeCluster('c', { apis }),
    );
    assert.deepEqual(
      got,
      reason ? { ok: false, code: 'Unschedulable', reasons: [reason] } : { ok: true },
      name,
    );
  }
});
