import { KubeConfig } from '@kubernetes/client-node';
import { ApiClient } from '../kube/api-client.ts';
import { frontProxyFromHub, registerApiService, type ApiServiceRegistration } from './apiservice.ts';
import type { FrontProxyOptions } from './front-proxy.ts';
import { subjectAccessReviewAuthorizer, type ClusterAuthorizer } from './hub-authorizer.ts';

export interface HubProxy {
  readonly frontProxy: FrontProxyOptions;
  readonly authorizer: ClusterAuthorizer;
  /** Registers (or updates) the APIService for this gateway. */
  register(r: ApiServiceRegistration): Promise<void>;
  close(): Promise<void>;
}

/**
 * What the gateway needs from the hub to serve the cluster proxy as an aggregated API, from
 * the gateway's own hub kubeconfig: the front-proxy settings (read once, from
 * `kube-system/extension-apiserver-authentication`) and SubjectAccessReviews. The identity
 * needs `system:auth-delegator` on the hub (and, to register, rights on Namespaces, Services
 * and APIServices).
 */
export async function hubProxyFromKubeconfig(path: string): Promise<HubProxy> {
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(path);
  } catch (err) {
    throw new Error(`cannot read the hub kubeconfig ${path}: ${(err as Error).message}`, { cause: err });
  }
  const hub = await ApiClient.fromKubeConfig(kc, { userAgent: 'meridian-gateway', requestTimeoutMs: 30_000 });
  try {
    const frontProxy = await frontProxyFromHub(hub);
    return {
      frontProxy,
      authorizer: subjectAccessReviewAuthorizer(hub),
      register: (r) => registerApiService(hub, r),
      close: () => hub.close(),
    };
  } catch (err) {
    await hub.close();
    throw err;
  }
}
