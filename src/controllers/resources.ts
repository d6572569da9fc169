import { GROUP, Kinds, Plurals, VERSION } from '../api/constants.ts';
import type { ResourceType } from '../kube/api-client.ts';

const meridian = (kind: keyof typeof Plurals, scope: ResourceType['scope']): ResourceType => ({
  group: GROUP,
  version: VERSION,
  resource: Plurals[kind],
  scope,
  kind: Kinds[kind],
});

/** Resource types of Meridian's own kinds and the built-ins its controllers use on the hub. */
export const Resources = {
  Cluster: meridian('Cluster', 'Cluster'),
  PropagationPolicy: meridian('PropagationPolicy', 'Namespaced'),
  ClusterPropagationPolicy: meridian('ClusterPropagationPolicy', 'Cluster'),
  OverridePolicy: meridian('OverridePolicy', 'Namespaced'),
  ClusterOverridePolicy: meridian('ClusterOverridePolicy', 'Cluster'),
  ResourceBinding: meridian('ResourceBinding', 'Namespaced'),
  ClusterResourceBinding: meridian('ClusterResourceBinding', 'Cluster'),
  Work: meridian('Work', 'Namespaced'),
  CustomResourceDefinition: {
    group: 'apiextensions.k8s.io',
    version: 'v1',
    resource: 'customresourcedefinitions',
    scope: 'Cluster',
    kind: 'CustomResourceDefinition',
  },
} as const satisfies Record<string, ResourceType>;

/** Field managers of the hub-side controllers: one per writer, so one's apply never drops another's fields. */
export const HubFieldManagers = {
  detector: 'meridian-detector',
  scheduler: 'meridian-scheduler',
  binding: 'meridian-binding',
  status: 'meridian-status',
} as const;
