import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Lease } from '../../kube/leader-election.ts';
import { leaseReadiness } from './lease-health.ts';

const lease = (renewTime: string | undefined, leaseDurationSeconds?: number): Lease => ({
  apiVersion: 'coordination.k8s.io/v1',
  kind: 'Lease',
  metadata: { name: 'meridian-agent', namespace: 'meridian-cluster-a' },
  spec: {
    ...(renewTime === undefined ? {} : { renewTime }),
    ...(leaseDurationSeconds === undefined ? {} : { leaseDurationSeconds }),
  },
});
const t = (iso: string): number => Date.parse(iso);

test('lease readiness: fresh, stale, absent', () => {
  const cases: {
    name: string;
    lease: Lease | undefined;
    now: string;
    status: string;
    reason: string;
    recheck?: number;
  }[] = [
    {
      name: 'no Lease',
      lease: undefined,
      now: '2026-01-01T00:00:00Z',
      status: 'Unknown',
      reason: 'AgentNotConnected',
    },
    {
      name: 'no renewTime',
      lease: lease(undefined),
      now: '2026-01-01T00:00:00Z',
      status: 'Unknown',
      reason: 'AgentNotConnected',
    },
    {
      name: 'renewed 5 s ago, 40 s Lease',
      lease: lease('2026-01-01T00:00:00.000000Z', 40),
      now: '2026-01-01T00:00:05Z',
      status: 'True',
      reason: 'AgentHeartbeat',
      recheck: 35_000,
    },
    {
      name: 'default duration is 40 s',
      lease: lease('2026-01-01T00:00:00.000000Z'),
      now: '2026-01-01T00:00:39Z',
      status: 'True',
      reason: 'AgentHeartbeat',
      recheck: 1_000,
    },
    {
      name: 'expired exactly at renew + duration',
      lease: lease('2026-01-01T00:00:00.000000Z', 8),
      now: '2026-01-01T00:00:08Z',
      status: 'False',
      reason: 'AgentHeartbeatLost',
    },
  ];
  for (const c of cases) {
    const v = leaseReadiness(c.lease, t(c.now));
    assert.equal(v.condition.status, c.status, c.name);
    assert.equal(v.condition.reason, c.reason, c.name);
    assert.equal(v.recheckAfterMs, c.recheck, c.name);
  }
});
