import { CLUSTER_NAMESPACE_PREFIX, GROUP } from '../../api/constants.ts';
import type { KubeObject } from '../../kube/wire.ts';

/** Namespaces whose objects are the hub's own and never propagate. */
const systemNamespaces = new Set(['kube-system', 'kube-public', 'kube-node-lease', 'meridian-system']);

/**
 * Types that never propagate: Meridian's own, objects the API server or controllers make
 * (events, leases, endpoints, tokens…), node-level and hub-infrastructure types. Keyed by
 * `group/resource` (core group is '').
 */
const excludedTypes = new Set([
  '/events',
  'events.k8s.io/events',
  'coordination.k8s.io/leases',
  '/endpoints',
  'discovery.k8s.io/endpointslices',
  '/nodes',
  '/namespaces',
  '/componentstatuses',
  '/bindings',
  '/pods',
  'apps/replicasets',
  'apps/controllerrevisions',
  'apiregistration.k8s.io/apiservices',
  'certificates.k8s.io/certificatesigningrequests',
  'flowcontrol.apiserver.k8s.io/flowschemas',
  'flowcontrol.apiserver.k8s.io/prioritylevelconfigurations',
  'internal.apiserver.k8s.io/storageversions',
  'networking.k8s.io/ipaddresses',
  'networking.k8s.io/servicecidrs',
  'resource.k8s.io/resourceslices',
  'storagemigration.k8s.io/storageversionmigrations',
]);

/** Whether objects of this API type may ever be propagated (discovery filter). */
export function propagatableType(group: string, resource: string, verbs: readonly string[]): boolean {
  if (group === GROUP || resource.includes('/')) return false;
  if (!['list', 'watch', 'get'].every((v) => verbs.includes(v))) return false;
  return !excludedTypes.has(`${group}/${resource}`);
}

/**
 * Why one object must not propagate even though its type may, or `undefined` when it may.
 * Covers objects every namespace or cluster gets on its own (the default ServiceAccount, the
 * root CA ConfigMap, service-account token Secrets, system: RBAC), Meridian's own CRDs, and
 * anything in a system or execution namespace.
 */
export function excludedObject(group: string, kind: string, obj: KubeObject): string | undefined {
  const meta = obj.metadata ?? {};
  const ns = meta.namespace;
  if (ns !== undefined && (systemNamespaces.has(ns) || ns.startsWith(CLUSTER_NAMESPACE_PREFIX))) {
    return `namespace ${ns} belongs to the hub`;
  }
  const name = meta.name ?? '';
  if (group === '' && kind === 'ServiceAccount' && name === 'default')
    return 'every namespace has its own default ServiceAccount';
  if (group === '' && kind === 'ConfigMap' && name === 'kube-root-ca.crt')
    return 'each cluster publishes its own root CA';
  if (
    group === '' &&
    kind === 'Secret' &&
    (obj as { type?: string }).type === 'kubernetes.io/service-account-token'
  ) {
    return 'service-account tokens are cluster-specific';
  }
  if (group === 'rbac.authorization.k8s.io' && name.startsWith('system:'))
    return 'system RBAC is managed by each cluster';
  if (group === 'apiextensions.k8s.io' && name.endsWith(`.${GROUP}`))
    return "Meridian's own CRDs stay on the hub";
  if (group === 'scheduling.k8s.io' && name.startsWith('system-')) return 'built-in priority classes';
  return undefined;
}
