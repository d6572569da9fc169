/**
 * Installs Meridian's CRDs into the hub and the namespaces it needs. Used by `meridian join`
 * and by the controllers at startup, so either may run first.
 */
import { buildCrds, FIELD_MANAGER, type CustomResourceDefinition } from '../../api/index.ts';
import type { ApiClient, ResourceType } from '../../kube/api-client.ts';
import type { KubeObject } from '../../kube/wire.ts';

export const CRDS: ResourceType = {
  group: 'apiextensions.k8s.io',
  version: 'v1',
  resource: 'customresourcedefinitions',
  scope: 'Cluster',
  kind: 'CustomResourceDefinition',
};

export const NAMESPACES: ResourceType = {
  group: '',
  version: 'v1',
  resource: 'namespaces',
  scope: 'Cluster',
  kind: 'Namespace',
};

interface CrdCondition {
  readonly type: string;
  readonly status: string;
  readonly reason?: string;
  readonly message?: string;
}
type CrdObject = KubeObject & { readonly status?: { readonly conditions?: readonly CrdCondition[] } };

/** Raised when a CRD is rejected by the hub or does not become Established; names the CRD. */
export class CrdInstallError extends Error {
  readonly crd: string;
  constructor(crd: string, message: string, options?: { cause?: unknown }) {
    super(`CRD ${crd}: ${message}`, options);
    this.name = 'CrdInstallError';
    this.crd = crd;
  }
}

export interface InstallCrdsOptions {
  /** How long to wait for each CRD to become Established. Default 60 s. */
  readonly timeoutMs?: number;
  /** The CRDs to install; default every Meridian CRD ({@link buildCrds}). */
  readonly crds?: readonly CustomResourceDefinition[];
}

/**
 * Server-side-applies every Meridian CRD to `hub` (field manager {@link FIELD_MANAGER}, forced:
 * Meridian owns its CRDs) and resolves once each one is Established, so its kind can be used
 * at once. Idempotent: re-applying unchanged CRDs is a no-op on the server.
 *
 * Throws {@link CrdInstallError} naming the CRD when the hub rejects it, when its names are
 * not accepted, or when it is not Established within `timeoutMs`. Waits on a watch of the
 * CRD, never by polling. Aborting `signal` rejects with its reason.
 */
export async function installCrds(
  hub: ApiClient,
  signal: AbortSignal,
  opts: InstallCrdsOptions = {},
): Promise<readonly string[]> {
  const crds = opts.crds ?? buildCrds();
  const timeoutMs = opts.timeoutMs ?? 60_000;
  await Promise.all(
    crds.map(async (crd) => {
      const name = crd.metadata.name;
      let applied: CrdObject;
      try {
        applied = await hub.apply<CrdObject>(CRDS, crd, { fieldManager: FIELD_MANAGER, force: true, signal });
      } catch (err) {
        if (signal.aborted) throw err;
        const why = err instanceof Error ? err.message : String(err);
        throw new CrdInstallError(name, `rejected by the hub: ${why}`, { cause: err });
      }
      await waitEstablished(hub, applied, AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]), signal);
    }),
  );
  // The hub's discovery changed: cached lookups may miss the new kinds.
  hub.invalidateDiscovery();
  return crds.map((c) => c.metadata.name);
}

/** What a CRD's conditions say: done, failed (with why), or not yet. */
export function crdState(
  crd: CrdObject,
):
  | { readonly state: 'established' }
  | { readonly state: 'failed'; readonly why: string }
  | { readonly state: 'pending' } {
  const conditions = crd.status?.conditions ?? [];
  const names = conditions.find((c) => c.type === 'NamesAccepted');
  if (names?.status === 'False') {
    return {
      state: 'failed',
      why: `names not accepted: ${names.message ?? names.reason ?? 'no reason given'}`,
    };
  }
  return conditions.some((c) => c.type === 'Established' && c.status === 'True')
    ? { state: 'established' }
    : { state: 'pending' };
}

async function waitEstablished(
  hub: ApiClient,
  applied: CrdObject,
  signal: AbortSignal,
  callerSignal: AbortSignal,
): Promise<void> {
  const name = applied.metadata?.name ?? '';
  const check = (o: CrdObject): boolean => {
    const s = crdState(o);
    if (s.state === 'failed') throw new CrdInstallError(name, s.why);
    return s.state === 'established';
  };
  if (check(applied)) return;
  const fieldSelector = `metadata.name=${name}`;
  try {
    // A watch from the applied version sees every later change; the server may close it
    // (timeoutSeconds), so re-watch from a fresh list until done.
    for (;;) {
      const list = await hub.list<CrdObject>(CRDS, { fieldSelector }, signal);
      const current = list.items[0];
      if (current !== undefined && check(current)) return;
      for await (const ev of hub.watch<CrdObject>(
        CRDS,
        { fieldSelector, resourceVersion: list.metadata.resourceVersion, timeoutSeconds: 60 },
        signal,
      )) {
        if (ev.type === 'ERROR') break;
        if (ev.type === 'BOOKMARK') continue;
        if (ev.type === 'DELETED')
          throw new CrdInstallError(name, 'deleted while waiting for it to be Established');
        if (check(ev.object)) return;
      }
    }
  } catch (err) {
    if (callerSignal.aborted || err instanceof CrdInstallError) throw err;
    if (signal.aborted) throw new CrdInstallError(name, 'not Established in time', { cause: err });
    throw err;
  }
}

/**
 * Makes sure namespace `name` exists on `hub` with `labels` (server-side apply, field manager
 * {@link FIELD_MANAGER}). Idempotent. Throws a clear error when the namespace exists but is
 * being deleted: nothing can be created in it until it is gone.
 */
export async function ensureNamespace(
  hub: ApiClient,
  name: string,
  opts: { readonly labels?: Readonly<Record<string, string>>; readonly signal?: AbortSignal } = {},
): Promise<void> {
  const ns = await hub.apply<KubeObject & { status?: { phase?: string } }>(
    NAMESPACES,
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name, ...(opts.labels ? { labels: opts.labels } : {}) },
    },
    { fieldManager: FIELD_MANAGER, force: true, ...(opts.signal ? { signal: opts.signal } : {}) },
  );
  if (ns.status?.phase === 'Terminating') {
    throw new Error(`namespace ${name} is being deleted; try again once it is gone`);
  }
}
