/**
 * A read-only dashboard identity on the hub: ServiceAccount `meridian-system/meridian-dashboard-viewer`
 * bound to ClusterRole `meridian-dashboard-viewer` (get/list/watch of Meridian's kinds and of
 * events — nothing else), and short-lived tokens for it through the TokenRequest API, as
 * `kubectl create token` issues them. `meridian demo` uses it to hand out a dashboard token.
 */
import { FIELD_MANAGER, GROUP, Plurals } from '../api/constants.ts';
import type { ApiClient, ResourceType } from '../kube/api-client.ts';
import type { KubeObject } from '../kube/wire.ts';

export const VIEWER = { namespace: 'meridian-system', name: 'meridian-dashboard-viewer' } as const;

const rt = (group: string, resource: string, kind: string, scope: ResourceType['scope']): ResourceType => ({
  group,
  version: 'v1',
  resource,
  kind,
  scope,
});
const NAMESPACES = rt('', 'namespaces', 'Namespace', 'Cluster');
const SERVICE_ACCOUNTS = rt('', 'serviceaccounts', 'ServiceAccount', 'Namespaced');
const CLUSTER_ROLES = rt('rbac.authorization.k8s.io', 'clusterroles', 'ClusterRole', 'Cluster');
const CLUSTER_ROLE_BINDINGS = rt(
  'rbac.authorization.k8s.io',
  'clusterrolebindings',
  'ClusterRoleBinding',
  'Cluster',
);

const READ = ['get', 'list', 'watch'];

/** Creates or updates the viewer ServiceAccount and its read-only RBAC (server-side apply). */
export async function ensureViewer(hub: ApiClient, signal?: AbortSignal): Promise<void> {
  const o = { fieldManager: FIELD_MANAGER, force: true, ...(signal && { signal }) };
  await hub.apply(
    NAMESPACES,
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: VIEWER.namespace } },
    o,
  );
  await hub.apply(
    SERVICE_ACCOUNTS,
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: VIEWER.name, namespace: VIEWER.namespace },
    },
    o,
  );
  await hub.apply(
    CLUSTER_ROLES,
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: VIEWER.name },
      rules: [
        { apiGroups: [GROUP], resources: Object.values(Plurals), verbs: READ },
        { apiGroups: ['events.k8s.io', ''], resources: ['events'], verbs: READ },
      ],
    } as KubeObject,
    o,
  );
  await hub.apply(
    CLUSTER_ROLE_BINDINGS,
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: VIEWER.name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: VIEWER.name },
      subjects: [{ kind: 'ServiceAccount', name: VIEWER.name, namespace: VIEWER.namespace }],
    } as KubeObject,
    o,
  );
}

/** A token for `serviceAccount` (default: the viewer), valid for `seconds`. */
export async function requestToken(
  hub: ApiClient,
  seconds: number,
  serviceAccount: { namespace: string; name: string } = VIEWER,
  signal?: AbortSignal,
): Promise<string> {
  const path = `/api/v1/namespaces/${encodeURIComponent(serviceAccount.namespace)}/serviceaccounts/${encodeURIComponent(serviceAccount.name)}/token`;
  const res = (await hub.request('POST', path, {
    body: {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds: seconds },
    },
    ...(signal && { signal }),
  })) as { status?: { token?: string } };
  const token = res.status?.token;
  if (token === undefined || token === '')
    throw new Error(`the hub issued no token for ${serviceAccount.name}`);
  return token;
}
