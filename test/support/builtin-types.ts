import type { ResourceType } from '../../src/kube/api-client.ts';

/** Built-in resource types the end-to-end suites read and write on hub and members. */
export const BuiltinTypes = {
  Deployment: {
    group: 'apps',
    version: 'v1',
    resource: 'deployments',
    scope: 'Namespaced',
    kind: 'Deployment',
  },
  Job: { group: 'batch', version: 'v1', resource: 'jobs', scope: 'Namespaced', kind: 'Job' },
  ConfigMap: { group: '', version: 'v1', resource: 'configmaps', scope: 'Namespaced', kind: 'ConfigMap' },
  Namespace: { group: '', version: 'v1', resource: 'namespaces', scope: 'Cluster', kind: 'Namespace' },
  Pod: { group: '', version: 'v1', resource: 'pods', scope: 'Namespaced', kind: 'Pod' },
  Node: { group: '', version: 'v1', resource: 'nodes', scope: 'Cluster', kind: 'Node' },
} as const satisfies Record<string, ResourceType>;
