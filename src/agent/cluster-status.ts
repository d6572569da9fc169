/**
 * The pull-mode agent reports what the hub cannot see for itself: the member's Kubernetes
 * version and the APIs it serves (`status.apiEnablements`, read by the scheduler's
 * api-enablement filter). Written with server-side apply under its own field manager
 * (`meridian-agent`) to the Cluster's status subresource — the only Cluster its identity may
 * touch — once at start and again whenever the member's CRDs change. Beside it runs the capacity
 * report (`resource-summary.ts`). Readiness is not reported here: the hub derives it from the
 * heartbeat Lease.
 */
import { API_VERSION, GROUP, Kinds, Plurals, VERSION, type APIEnablement } from '../api/index.ts';
import type { ApiClient, ResourceType } from '../kube/api-client.ts';
import type { InformerFactory } from '../kube/informer-factory.ts';
import type { Logger } from '../kube/log.ts';
import type { KubeObject } from '../kube/wire.ts';
import { runSummaryReporter } from './resource-summary.ts';

const CLUSTERS: ResourceType = {
  group: GROUP,
  version: VERSION,
  resource: Plurals.Cluster,
  scope: 'Cluster',
  kind: Kinds.Cluster,
};
const CRDS: ResourceType = {
  group: 'apiextensions.k8s.io',
  version: 'v1',
  resource: 'customresourcedefinitions',
  scope: 'Cluster',
  kind: 'CustomResourceDefinition',
};

/** Every group/version the member serves, with its top-level resources (subresources left out). */
export async function memberEnablements(member: ApiClient, signal: AbortSignal): Promise<APIEnablement[]> {
  const [core, groups] = await Promise.all([member.coreVersions(signal), member.groups(signal)]);
  const gvs = [...core, ...groups.flatMap((g) => g.versions.map((v) => v.groupVersion))];
  const out: APIEnablement[] = [];
  for (const gv of [...new Set(gvs)].sort()) {
    try {
      const rs = await member.resources(gv, signal);
      const resources = rs.filter((r) => !r.name.includes('/')).map((r) => ({ name: r.name, kind: r.kind }));
      out.push({ groupVersion: gv, resources });
    } catch (err) {
      if (signal.aborted) throw err;
    }
  }
  return out;
}

/**
 * Reports the member's version and APIs now and after each CRD change, and its capacity as it
 * changes, until `signal` aborts.
 */
export async function runStatusReporter(o: {
  readonly cluster: string;
  readonly hub: ApiClient;
  readonly member: ApiClient;
  readonly memberInformers: InformerFactory;
  readonly log: Logger;
  readonly signal: AbortSignal;
}): Promise<void> {
  await Promise.all([reportVersionAndApis(o), runSummaryReporter(o)]);
}

async function reportVersionAndApis(o: Parameters<typeof runStatusReporter>[0]): Promise<void> {
  let dirty = true;
  let wake: (() => void) | undefined;
  const crds = o.memberInformers.informer(CRDS);
  crds.subscribe(() => {
    dirty = true;
    wake?.();
  }, o.signal);
  o.signal.addEventListener('abort', () => wake?.(), { once: true });
  while (!o.signal.aborted) {
    if (dirty) {
      dirty = false;
      try {
        o.member.invalidateDiscovery();
        const [version, apiEnablements] = await Promise.all([
          o.member.request('GET', '/version', { signal: o.signal }) as Promise<{ gitVersion?: string }>,
          memberEnablements(o.member, o.signal),
        ]);
        await o.hub.applyStatus(
          CLUSTERS,
          {
            apiVersion: API_VERSION,
            kind: Kinds.Cluster,
            metadata: { name: o.cluster },
            status: {
              ...(version.gitVersion === undefined ? {} : { kubernetesVersion: version.gitVersion }),
              apiEnablements,
            },
          } as KubeObject,
          { fieldManager: 'meridian-agent', force: true, signal: o.signal },
        );
        o.log.info({ cluster: o.cluster, groupVersions: apiEnablements.length }, 'cluster status reported');
      } catch (err) {
        if (o.signal.aborted) break;
        dirty = true;
        o.log.warn(
          { cluster: o.cluster, err: (err as Error).message },
          'cluster status report failed; retrying',
        );
        await new Promise((r) => setTimeout(r, 5000));
        continue;
      }
    }
    await new Promise<void>((resolve) => (wake = resolve));
    wake = undefined;
  }
}
