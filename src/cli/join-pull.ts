/**
 * `meridian join <name> --mode Pull` and `meridian unjoin <name>`.
 *
 * Pull join: installs the CRDs, creates the execution namespace, applies the Cluster (Pull:
 * no endpoint, no credentials; a member Secret left by an earlier push join is deleted),
 * grants the agent's future identity `system:meridian:agent:<name>` a Role in that namespace
 * (its Works and their status, its heartbeat Lease, Events) and the status of its own Cluster
 * (API enablements, version: owned by the Cluster, so they go with it), and every agent the right to
 * submit certificate requests, and creates a **bootstrap token** — a Kubernetes
 * bootstrap-token Secret in kube-system (the hub API server runs with
 * `--enable-bootstrap-token-auth`), labelled with the cluster, in the group
 * `system:bootstrappers:meridian`, expiring after `--token-ttl` (default 1 h). It prints the
 * token and the agent command. The token is good for one certificate request: Meridian's
 * signer marks it used when it approves a request and deletes it once the certificate is
 * issued (see src/controllers/agent-identity). The hub never sees a member credential: the
 * member kubeconfig, if given, is only read for node topology labels.
 *
 * Unjoin: deletes the Cluster (its controller removes its Works and namespace, with the
 * agent's Role binding) and any bootstrap tokens left for it. The gateway drops the agent's
 * tunnels as soon as it sees the Cluster go, and refuses its certificate from then on.
 */
import { randomInt } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';
import {
  AGENT_GROUP,
  AGENT_LEASE_NAME,
  BOOTSTRAP_GROUP,
  BOOTSTRAP_TOKEN_NAMESPACE,
  BOOTSTRAP_TOKEN_TYPE,
  agentUser,
  bootstrapTokenSecretName,
} from '../api/agent-identity.ts';
import {
  API_VERSION,
  FIELD_MANAGER,
  GROUP,
  Kinds,
  Labels,
  Plurals,
  clusterNamespace,
  type Cluster,
} from '../api/index.ts';
import { ApiClient, type ResourceType } from '../kube/api-client.ts';
import { NotFoundError } from '../kube/errors.ts';
import type { KubeObject } from '../kube/wire.ts';
import { ensureNamespace, installCrds } from '../controllers/bootstrap/install-crds.ts';
import { CLUSTERS, SECRETS } from '../controllers/members/registry.ts';
import {
  JoinError,
  MEMBER_SECRET_NAME,
  NODES,
  loadHubKubeconfig,
  messageOf,
  minifiedKubeconfig,
  topologyFromNodes,
  validateClusterName,
  type NodeLike,
  type PullJoinOptions,
} from './join.ts';

const rbac = (resource: string, scope: 'Cluster' | 'Namespaced', kind: string): ResourceType => ({
  group: 'rbac.authorization.k8s.io',
  version: 'v1',
  resource,
  scope,
  kind,
});
const CLUSTER_ROLES = rbac('clusterroles', 'Cluster', 'ClusterRole');
const CLUSTER_ROLE_BINDINGS = rbac('clusterrolebindings', 'Cluster', 'ClusterRoleBinding');
const ROLES = rbac('roles', 'Namespaced', 'Role');
const ROLE_BINDINGS = rbac('rolebindings', 'Namespaced', 'RoleBinding');

/** Shared by every agent: submit certificate requests (bootstrap and renewal) and watch them. */
export const AGENT_CSR_ROLE = 'meridian:agent-certificates';
/** In each pull cluster's namespace: what its agent may do on the hub. */
export const AGENT_ROLE = 'meridian:agent';

const TOKEN_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789';
const randomToken = (n: number): string =>
  Array.from({ length: n }, () => TOKEN_CHARS[randomInt(TOKEN_CHARS.length)]).join('');
const REQUEST_TIMEOUT_MS = 15_000;

/**
 * The hub objects granting a pull cluster's agent its permissions (idempotent, server-side
 * apply). The cluster-scoped ones of this cluster are owned by its Cluster (`uid`), so the
 * garbage collector removes them with it.
 */
export function agentRbac(
  name: string,
  uid: string,
): { readonly rt: ResourceType; readonly obj: KubeObject }[] {
  const ns = clusterNamespace(name);
  const owner = [{ apiVersion: API_VERSION, kind: Kinds.Cluster, name, uid }];
  const rule = (apiGroups: string[], resources: string[], verbs: string[]) => ({
    apiGroups,
    resources,
    verbs,
  });
  return [
    {
      rt: CLUSTER_ROLES,
      obj: {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: AGENT_CSR_ROLE },
        rules: [
          rule(['certificates.k8s.io'], ['certificatesigningrequests'], ['create', 'get', 'list', 'watch']),
        ],
      } as KubeObject,
    },
    {
      rt: CLUSTER_ROLE_BINDINGS,
      obj: {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: AGENT_CSR_ROLE },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: AGENT_CSR_ROLE },
        subjects: [
          { kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: BOOTSTRAP_GROUP },
          { kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: AGENT_GROUP },
        ],
      } as KubeObject,
    },
    {
      rt: CLUSTER_ROLES,
      obj: {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: { name: `${AGENT_ROLE}:${name}`, ownerReferences: owner },
        rules: [{ ...rule([GROUP], [`${Plurals.Cluster}/status`], ['get', 'patch']), resourceNames: [name] }],
      } as KubeObject,
    },
    {
      rt: CLUSTER_ROLE_BINDINGS,
      obj: {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: `${AGENT_ROLE}:${name}`, ownerReferences: owner },
        roleRef: {
          apiGroup: 'rbac.authorization.k8s.io',
          kind: 'ClusterRole',
          name: `${AGENT_ROLE}:${name}`,
        },
        subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: agentUser(name) }],
      } as KubeObject,
    },
    {
      rt: ROLES,
      obj: {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: AGENT_ROLE, namespace: ns, labels: { [Labels.cluster]: name } },
        rules: [
          rule([GROUP], [Plurals.Work], ['get', 'list', 'watch', 'patch', 'update']),
          rule([GROUP], [`${Plurals.Work}/status`], ['get', 'patch', 'update']),
          // `create` cannot be limited by name; get/update are, to the heartbeat Lease.
          rule(['coordination.k8s.io'], ['leases'], ['create']),
          {
            ...rule(['coordination.k8s.io'], ['leases'], ['get', 'update', 'patch']),
            resourceNames: [AGENT_LEASE_NAME],
          },
          rule(['', 'events.k8s.io'], ['events'], ['create', 'patch']),
        ],
      } as KubeObject,
    },
    {
      rt: ROLE_BINDINGS,
      obj: {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: AGENT_ROLE, namespace: ns, labels: { [Labels.cluster]: name } },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: AGENT_ROLE },
        subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: agentUser(name) }],
      } as KubeObject,
    },
  ];
}

/** Node topology labels of the member, read once through `kubeconfig` (never stored). */
async function memberTopology(o: PullJoinOptions): Promise<Record<string, string>> {
  if (o.kubeconfig === undefined) return {};
  const { yaml, server } = minifiedKubeconfig(o.kubeconfig, o.context);
  const kc = new KubeConfig();
  kc.loadFromString(yaml);
  const member = await ApiClient.fromKubeConfig(kc, { requestTimeoutMs: REQUEST_TIMEOUT_MS });
  try {
    const nodes = (await member.list<NodeLike>(NODES, { limit: 500 }, AbortSignal.timeout(60_000))).items;
    return topologyFromNodes(nodes);
  } catch (err) {
    throw new JoinError(2, `cannot read the member's nodes at ${server}: ${messageOf(err)}`, { cause: err });
  } finally {
    await member.close();
  }
}

/** Joins a member in pull mode; `print` receives one line per step. See the module doc. */
export async function runPullJoin(opts: PullJoinOptions, print: (line: string) => void): Promise<void> {
  validateClusterName(opts.name);
  const ttlMs = opts.tokenTtlMs ?? 3_600_000;
  if (ttlMs < 1000) throw new JoinError(1, `--token-ttl must be at least 1s, got ${ttlMs} ms`);
  const hubConfig = loadHubKubeconfig(opts.hubKubeconfig);
  const inferred = await memberTopology(opts);
  const hub = await ApiClient.fromKubeConfig(hubConfig.kc, { requestTimeoutMs: REQUEST_TIMEOUT_MS });
  const hubServer = hubConfig.kc.getCurrentCluster()?.server ?? hubConfig.from;
  const signal = AbortSignal.timeout(120_000);
  const apply = (rt: ResourceType, obj: KubeObject) =>
    hub.apply(rt, obj, { fieldManager: FIELD_MANAGER, force: true, signal });
  try {
    const crds = await installCrds(hub, signal);
    print(`hub ${hubServer}: ${crds.length} Meridian CRDs installed and established`);
    const ns = clusterNamespace(opts.name);
    await ensureNamespace(hub, ns, { labels: { [Labels.cluster]: opts.name }, signal });
    print(`namespace ${ns} ready`);
    try {
      await hub.delete(SECRETS, { namespace: ns, name: MEMBER_SECRET_NAME }, { signal });
      print(`secret ${ns}/${MEMBER_SECRET_NAME} (member credentials from a push join) deleted`);
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
    const given = opts.labels ?? {};
    const labels: Record<string, string> = { ...inferred, ...given };
    const cluster: Cluster = {
      apiVersion: API_VERSION,
      kind: Kinds.Cluster,
      metadata: { name: opts.name, labels },
      spec: { syncMode: 'Pull' },
    };
    const applied = await hub.apply<Cluster>(CLUSTERS, cluster, {
      fieldManager: FIELD_MANAGER,
      force: true,
      signal,
    });
    if (applied.metadata.deletionTimestamp !== undefined) {
      throw new JoinError(2, `cluster ${opts.name} is being deleted; join it again once it is gone`);
    }
    print(`cluster ${opts.name} joined (Pull: the hub holds no credential for it)`);
    for (const { rt, obj } of agentRbac(opts.name, applied.metadata.uid ?? '')) await apply(rt, obj);
    print(
      `agent identity ${agentUser(opts.name)}: Role ${AGENT_ROLE} in ${ns} (Works, their status, Lease ${AGENT_LEASE_NAME})`,
    );

    const id = randomToken(6);
    const secret = randomToken(16);
    const expires = new Date(Date.now() + ttlMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
    await hub.create(
      SECRETS,
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: {
          name: bootstrapTokenSecretName(id),
          namespace: BOOTSTRAP_TOKEN_NAMESPACE,
          labels: { [Labels.cluster]: opts.name },
        },
        type: BOOTSTRAP_TOKEN_TYPE,
        stringData: {
          description: `meridian join ${opts.name} --mode Pull: one agent certificate request`,
          'token-id': id,
          'token-secret': secret,
          expiration: expires,
          'usage-bootstrap-authentication': 'true',
          'auth-extra-groups': BOOTSTRAP_GROUP,
        },
      } as KubeObject,
      { signal },
    );
    print(`bootstrap token: ${id}.${secret} (single use, expires ${expires})`);
    print('start the agent in the member cluster with:');
    print(
      `  meridian agent --cluster ${opts.name} --gateway ${opts.gateway ?? 'https://<gateway>:8443'} ` +
        `--hub-server ${hubServer} --hub-ca-file <hub-ca.crt> --bootstrap-token ${id}.${secret} ` +
        '--cert-dir /var/lib/meridian-agent',
    );
  } catch (err) {
    if (err instanceof JoinError) throw err;
    throw new JoinError(2, `hub ${hubServer}: ${messageOf(err)}`, { cause: err });
  } finally {
    await hub.close();
  }
}

/** Deletes a Cluster and the bootstrap tokens left for it. */
export async function runUnjoin(
  name: string,
  hubKubeconfig: string | undefined,
  print: (line: string) => void,
): Promise<void> {
  validateClusterName(name);
  const hubConfig = loadHubKubeconfig(hubKubeconfig);
  const hub = await ApiClient.fromKubeConfig(hubConfig.kc, { requestTimeoutMs: REQUEST_TIMEOUT_MS });
  const hubServer = hubConfig.kc.getCurrentCluster()?.server ?? hubConfig.from;
  const signal = AbortSignal.timeout(60_000);
  try {
    try {
      await hub.delete(CLUSTERS, { name }, { signal });
    } catch (err) {
      if (err instanceof NotFoundError)
        throw new JoinError(2, `cluster ${name} is not joined`, { cause: err });
      throw err;
    }
    print(`cluster ${name} is being removed (its Works and namespace go with it)`);
    const tokens = await hub.list(
      SECRETS,
      { namespace: BOOTSTRAP_TOKEN_NAMESPACE, labelSelector: `${Labels.cluster}=${name}` },
      signal,
    );
    for (const t of tokens.items) {
      await hub.delete(
        SECRETS,
        { namespace: BOOTSTRAP_TOKEN_NAMESPACE, name: t.metadata?.name ?? '' },
        { signal },
      );
      print(`unused bootstrap token ${t.metadata?.name ?? ''} deleted`);
    }
  } catch (err) {
    if (err instanceof JoinError) throw err;
    throw new JoinError(2, `hub ${hubServer}: ${messageOf(err)}`, { cause: err });
  } finally {
    await hub.close();
  }
}
