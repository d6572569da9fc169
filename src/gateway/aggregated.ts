/**
 * The cluster proxy as an aggregated API of the hub: `proxy.meridian.dev/v1alpha1`, with one
 * subresource, `clusters/<name>/proxy/<member path>` (as Karmada's
 * `cluster.karmada.io/v1alpha1/clusters/<name>/proxy/…`). The hub kube-apiserver authenticates
 * the user, authorises `<verb>` on `clusters/proxy` named `<name>` in `proxy.meridian.dev`,
 * audits, and forwards the request unchanged to the gateway.
 */
export const PROXY_GROUP = 'proxy.meridian.dev';
export const PROXY_VERSION = 'v1alpha1';
export const PROXY_GROUP_VERSION = `${PROXY_GROUP}/${PROXY_VERSION}`;
/** The APIService's name (`<version>.<group>`). */
export const PROXY_API_SERVICE = `${PROXY_VERSION}.${PROXY_GROUP}`;
const GV_PATH = `/apis/${PROXY_GROUP}/${PROXY_VERSION}`;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** The path prefix through the hub for `cluster`; a kubeconfig's server is the hub URL plus this. */
export function proxyPathPrefix(cluster: string): string {
  return `${GV_PATH}/clusters/${cluster}/proxy`;
}

export type AggregatedRoute =
  | { readonly kind: 'discovery'; readonly body: unknown }
  | { readonly kind: 'cluster'; readonly cluster: string; readonly path: string }
  | { readonly kind: 'not-found'; readonly message: string };

/**
 * Routes a request under `/apis` (the group's discovery documents, or a member path) — or
 * undefined when `url` is not under `/apis/proxy.meridian.dev` nor `/apis` itself.
 */
export function aggregatedRoute(url: string): AggregatedRoute | undefined {
  const q = url.indexOf('?');
  const pathname = q < 0 ? url : url.slice(0, q);
  const trimmed = pathname.replace(/\/+$/, '');
  if (trimmed === '/apis') return { kind: 'discovery', body: groupList() };
  if (trimmed === `/apis/${PROXY_GROUP}`) return { kind: 'discovery', body: group() };
  if (trimmed === GV_PATH) return { kind: 'discovery', body: resourceList() };
  if (!pathname.startsWith(`${GV_PATH}/`)) return undefined;
  const m = /^\/clusters\/([^/]+)\/proxy(\/.*)?$/.exec(pathname.slice(GV_PATH.length));
  if (m === null || !DNS_LABEL.test(m[1] as string)) {
    return {
      kind: 'not-found',
      message: `${pathname}: ${PROXY_GROUP_VERSION} serves only clusters/<name>/proxy/<member path>`,
    };
  }
  return { kind: 'cluster', cluster: m[1] as string, path: `${m[2] ?? '/'}${q < 0 ? '' : url.slice(q)}` };
}

/**
 * The verb kube-apiserver's request-info resolver gives a request to `clusters/<name>/proxy`
 * (a named resource, so never `list`/`watch`), for the same authorisation check here.
 */
export function proxyVerb(method: string): string {
  switch (method.toUpperCase()) {
    case 'GET':
    case 'HEAD':
      return 'get';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return 'delete';
    default:
      return method.toLowerCase();
  }
}

const groupVersion = { groupVersion: PROXY_GROUP_VERSION, version: PROXY_VERSION };

function group() {
  return {
    kind: 'APIGroup',
    apiVersion: 'v1',
    name: PROXY_GROUP,
    versions: [groupVersion],
    preferredVersion: groupVersion,
  };
}

function groupList() {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: [group()] };
}

function resourceList() {
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: PROXY_GROUP_VERSION,
    resources: [
      {
        name: 'clusters/proxy',
        singularName: '',
        namespaced: false,
        kind: 'ClusterProxyOptions',
        verbs: ['create', 'delete', 'get', 'patch', 'update'],
      },
    ],
  };
}
