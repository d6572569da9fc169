/**
 * Test fixtures: compact builders for Cluster snapshots and scheduling units. Used by the
 * scheduler's and the override renderer's table tests only.
 */
import type { Cluster, Placement, Taint } from '../../api/index.ts';
import type { SchedulingUnit } from './plugin.ts';

export interface ClusterFixture {
  region?: string;
  zone?: string;
  provider?: string;
  labels?: Record<string, string>;
  /** Ready condition status; default True. `undefined` in `{ ready: undefined }` still means True. */
  ready?: 'True' | 'False' | 'Unknown' | 'Missing';
  taints?: Taint[];
  /** `status.resourceSummary.available`; default none. */
  available?: Record<string, string | number>;
  /** Served group/versions → kinds; default apps/v1 Deployment and v1 ConfigMap. */
  apis?: Record<string, string[]> | 'none';
  deleting?: boolean;
}

export function makeCluster(name: string, f: ClusterFixture = {}): Cluster {
  const labels: Record<string, string> = { ...f.labels };
  if (f.region) labels['topology.kubernetes.io/region'] = f.region;
  if (f.zone) labels['topology.kubernetes.io/zone'] = f.zone;
  if (f.provider) labels['meridian.dev/provider'] = f.provider;
  const apis = f.apis ?? { 'apps/v1': ['Deployment'], v1: ['ConfigMap'] };
  const ready = f.ready ?? 'True';
  return {
    apiVersion: 'meridian.dev/v1alpha1',
    kind: 'Cluster',
    metadata: { name, labels, ...(f.deleting ? { deletionTimestamp: '2025-01-01T00:00:00Z' } : {}) },
    spec: { syncMode: 'Pull', ...(f.taints ? { taints: f.taints } : {}) },
    status: {
      ...(ready === 'Missing'
        ? {}
        : {
            conditions: [
              {
                type: 'Ready',
                status: ready,
                reason: ready === 'True' ? 'Healthy' : 'Offline',
                message: '',
                lastTransitionTime: '2025-01-01T00:00:00Z',
              },
            ],
          }),
      ...(apis === 'none'
        ? {}
        : {
            apiEnablements: Object.entries(apis).map(([groupVersion, kinds]) => ({
              groupVersion,
              resources: kinds.map((kind) => ({ name: `${kind.toLowerCase()}s`, kind })),
            })),
          }),
      ...(f.available ? { resourceSummary: { available: f.available } } : {}),
    },
  };
}

export function deployment(replicas: number, placement: Placement = {}, cpu?: string): SchedulingUnit {
  return {
    resource: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'default', name: 'web' },
    replicas,
    placement,
    ...(cpu ? { replicaRequirements: { resourceRequest: { cpu } } } : {}),
  };
}
