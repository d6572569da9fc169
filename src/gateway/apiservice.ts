import type { ApiClient, ResourceType } from '../kube/api-client.ts';
import { NotFoundError } from '../kube/errors.ts';
import type { KubeObject } from '../kube/wire.ts';
import { PROXY_API_SERVICE, PROXY_GROUP, PROXY_VERSION } from './aggregated.ts';
import type { FrontProxyOptions } from './front-proxy.ts';

const NAMESPACES: ResourceType = { group: '', version: 'v1', resource: 'namespaces', scope: 'Cluster' };
const SERVICES: ResourceType = { group: '', version: 'v1', resource: 'services', scope: 'Namespaced' };
const CONFIGMAPS: ResourceType = { group: '', version: 'v1', resource: 'configmaps', scope: 'Namespaced' };
const API_SERVICES: ResourceType = {
  group: 'apiregistration.k8s.io',
  version: 'v1',
  resource: 'apiservices',
  scope: 'Cluster',
};
const FIELD_MANAGER = 'meridian-gateway';

export interface ApiServiceRegistration {
  /** Namespace of the Service the APIService points at. Default `meridian-system`. */
  readonly namespace?: string;
  /** Service name; the gateway's serving certificate must name `<service>.<namespace>.svc`. Default `meridian-gateway`. */
  readonly service?: string;
  /**
   * Host the hub kube-apiserver dials (an `ExternalName` Service: DNS name or IPv4 address).
   * Omit to leave the Service alone (e.g. a ClusterIP Service of gateway Pods in the hub).
   */
  readonly externalName?: string;
  /** Port of the gateway. */
  readonly port: number;
  /** PEM CA that signed the gateway's serving certificate. */
  readonly caBundle: string | Buffer;
}

/** The Service DNS name the hub verifies the gateway's serving certificate against. */
export function serviceDnsName(r: Pick<ApiServiceRegistration, 'namespace' | 'service'>): string {
  return `${r.service ?? 'meridian-gateway'}.${r.namespace ?? 'meridian-system'}.svc`;
}

/**
 * The objects that register the gateway with the hub kube-apiserver as the aggregated API
 * `v1alpha1.proxy.meridian.dev`: a Namespace, an `ExternalName` Service (when `externalName`
 * is given) and the `APIService`.
 *
 * Why ExternalName: the aggregator reaches a Service by its cluster IP (no node or kube-proxy
 * on a hub to route it), or, with `--enable-aggregator-routing`, by its EndpointSlices (whose
 * addresses may not be loopback, and need something keeping them current). For an
 * `ExternalName` Service, without `--enable-aggregator-routing`, it dials
 * `https://<externalName>:<APIService port>` directly — so a hub with no nodes reaches a
 * gateway outside the cluster, as Karmada registers its aggregated API server. TLS is verified
 * against `caBundle` with server name `<service>.<namespace>.svc`.
 */
export function apiServiceObjects(r: ApiServiceRegistration): KubeObject[] {
  const namespace = r.namespace ?? 'meridian-system';
  const service = r.service ?? 'meridian-gateway';
  const out: KubeObject[] = [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }];
  if (r.externalName !== undefined) {
    out.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: service, namespace },
      spec: { type: 'ExternalName', externalName: r.externalName },
    } as KubeObject);
  }
  out.push({
    apiVersion: 'apiregistration.k8s.io/v1',
    kind: 'APIService',
    metadata: { name: PROXY_API_SERVICE },
    spec: {
      group: PROXY_GROUP,
      version: PROXY_VERSION,
      service: { namespace, name: service, port: r.port },
      caBundle: Buffer.from(r.caBundle).toString('base64'),
      groupPriorityMinimum: 1000,
      versionPriority: 15,
    },
  } as KubeObject);
  return out;
}

/** Applies `apiServiceObjects(r)` to the hub (server-side apply, forced: the gateway owns them). */
export async function registerApiService(hub: ApiClient, r: ApiServiceRegistration): Promise<void> {
  const rts: Record<string, ResourceType> = {
    Namespace: NAMESPACES,
    Service: SERVICES,
    APIService: API_SERVICES,
  };
  for (const obj of apiServiceObjects(r)) {
    await hub.apply(rts[obj.kind ?? ''] as ResourceType, obj, { fieldManager: FIELD_MANAGER, force: true });
  }
}

/**
 * Removes the APIService (and the Service, when it is the ExternalName one registered here).
 * A registered APIService whose gateway is gone leaves the hub's discovery incomplete — kubectl
 * warns about the group, and namespace deletion on the hub waits for it — so take it away
 * when the proxy is retired (not when one replica of several stops).
 */
export async function unregisterApiService(
  hub: ApiClient,
  r: Pick<ApiServiceRegistration, 'namespace' | 'service'> = {},
): Promise<void> {
  const gone = (err: unknown): void => {
    if (!(err instanceof NotFoundError)) throw err;
  };
  await hub.delete(API_SERVICES, { name: PROXY_API_SERVICE }).catch(gone);
  await hub
    .delete(SERVICES, { namespace: r.namespace ?? 'meridian-system', name: r.service ?? 'meridian-gateway' })
    .catch(gone);
}

/**
 * The hub's front-proxy settings as kube-apiserver publishes them for aggregated API servers
 * (ConfigMap `kube-system/extension-apiserver-authentication`). Throws when the hub runs
 * without `--requestheader-client-ca-file` (no front proxy to trust).
 */
export async function frontProxyFromHub(hub: ApiClient): Promise<FrontProxyOptions> {
  const cm = (await hub.get(CONFIGMAPS, {
    namespace: 'kube-system',
    name: 'extension-apiserver-authentication',
  })) as {
    data?: Record<string, string>;
  };
  const d = cm.data ?? {};
  const ca = d['requestheader-client-ca-file'];
  if (ca === undefined || ca === '') {
    throw new Error(
      'the hub publishes no requestheader-client-ca-file in kube-system/extension-apiserver-authentication: ' +
        'start its kube-apiserver with --requestheader-client-ca-file and --proxy-client-cert-file/--proxy-client-key-file',
    );
  }
  const list = (k: string): string[] | undefined => {
    const v = d[k];
    if (v === undefined || v === '') return undefined;
    return JSON.parse(v) as string[];
  };
  const allowedNames = list('requestheader-allowed-names');
  const usernameHeaders = list('requestheader-username-headers');
  const groupHeaders = list('requestheader-group-headers');
  const extraHeaderPrefixes = list('requestheader-extra-headers-prefix');
  const uidHeaders = list('requestheader-uid-headers');
  return {
    clientCa: ca,
    ...(allowedNames === undefined ? {} : { allowedNames }),
    ...(usernameHeaders === undefined ? {} : { usernameHeaders }),
    ...(groupHeaders === undefined ? {} : { groupHeaders }),
    ...(extraHeaderPrefixes === undefined ? {} : { extraHeaderPrefixes }),
    ...(uidHeaders === undefined ? {} : { uidHeaders }),
  };
}
