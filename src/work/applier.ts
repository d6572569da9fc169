/**
 * The Work applier: makes a member cluster hold what its Work says. The hub's execution
 * controller runs it for push-mode clusters (src/controllers/execution), the agent for its own
 * cluster in pull mode (src/agent/pull.ts): same code, same semantics.
 *
 * For a live Work (holding `meridian.dev/work-cleanup`), per manifest in order:
 * resolve its kind with the member's discovery → find the member's object (Meridian's
 * informer first, the API when it is not there) → refuse objects Meridian does not own unless
 * the conflict resolution is `Overwrite` → server-side apply (field manager `meridian`,
 * forced) when {@link applyReason} says so → report status and health. Objects of manifests
 * removed from the Work are deleted (only when labelled for this Work). Drift — an applied
 * object changed or deleted by someone else — is reverted by the same apply and recorded as
 * a `DriftReverted` Warning Event on the Work and on the hub template, and counted.
 *
 * For a deleting Work: deletes from the member every object it applied that still carries
 * this Work's labels (never namespaces, never anything else), unless
 * `preserveResourcesOnDeletion`; a Cluster that is gone or being deleted is released without
 * touching the member. Then the finalizer goes.
 *
 * Failures throw after status is written, so the runner retries with backoff: member
 * rejections (with the member's message in `Applied=False`), conflicts (the blocking object
 * may be deleted without any event Meridian can see), unreachable members.
 */
import {
  API_VERSION,
  Finalizers,
  FIELD_MANAGER,
  GROUP,
  Kinds,
  Labels,
  Plurals,
  VERSION,
  clusterFromNamespace,
  type ManifestIdentifier,
  type ObjectReference,
  type Work,
  type WorkStatus,
} from '../api/index.ts';
import type { EmbeddedObject } from '../api/schema.ts';
import type { ApiClient, ResourceType } from '../kube/api-client.ts';
import type { ReconcileContext, Reconciler, Result } from '../kube/controller.ts';
import { AlreadyExistsError, NotFoundError, UnavailableError } from '../kube/errors.ts';
import { withFinalizer } from '../kube/finalizer.ts';
import { propagationTracker } from '../kube/metrics.ts';
import { objectKey, refOf, type ObjectKey } from '../kube/object-key.ts';
import type { Recorder } from '../kube/recorder.ts';
import type { StoreReader } from '../kube/store.ts';
import type { KubeObject } from '../kube/wire.ts';
import type { ApplyTarget, ApplyTargets } from './target.ts';
import { interpretHealth, type HealthRule } from './health/index.ts';
import {
  MANAGED_BY_VALUE,
  WorkLabels,
  applyReason,
  conflictMessage,
  conflictResolutionFor,
  desiredObject,
  identifierOf,
  identityKey,
  isDrift,
  ownershipOf,
  recordOf,
  targetNamespace,
  type AppliedRecord,
  type ApplyReason,
  type WorkRef,
} from './manifest.ts';
import type { MemberWatches } from './member-watches.ts';
import { buildWorkStatus, statusChanged, type ManifestOutcome } from './status.ts';

export const WORKS: ResourceType = {
  group: GROUP,
  version: VERSION,
  resource: Plurals.Work,
  scope: 'Namespaced',
  kind: Kinds.Work,
};
const RESOURCE_BINDINGS: ResourceType = {
  group: GROUP,
  version: VERSION,
  resource: Plurals.ResourceBinding,
  scope: 'Namespaced',
  kind: Kinds.ResourceBinding,
};
const CLUSTER_RESOURCE_BINDINGS: ResourceType = {
  group: GROUP,
  version: VERSION,
  resource: Plurals.ClusterResourceBinding,
  scope: 'Cluster',
  kind: Kinds.ClusterResourceBinding,
};
const NAMESPACES: ResourceType = {
  group: '',
  version: 'v1',
  resource: 'namespaces',
  scope: 'Cluster',
  kind: 'Namespace',
};

/** A counter of reverted drift; prom-client's `Counter<'cluster' | 'kind'>` satisfies it. */
export interface DriftCounter {
  inc(labels: { cluster: string; kind: string }): void;
}

export interface WorkApplierDeps {
  readonly hub: ApiClient;
  /** Hub Works (all namespaces, or the one cluster's namespace). */
  readonly works: StoreReader<KubeObject>;
  /**
   * True when the cluster is gone from the hub or being deleted: a deleting Work is then
   * released without touching the member (what runs there is no longer Meridian's to remove).
   */
  readonly clusterLeaving: (cluster: string) => boolean;
  readonly members: ApplyTargets;
  readonly watches: MemberWatches;
  readonly recorder: Recorder;
  readonly drift: DriftCounter;
  /** The declared health rule of a kind (from its hub CRD), if any. */
  readonly healthRule?: (group: string, kind: string) => HealthRule | undefined;
  /**
   * Whether drift Events also go to the hub template (found through the Work's binding). Default
   * true; an agent, which may read only its own Works, turns it off.
   */
  readonly hubTemplates?: boolean;
  /** How long a reconcile waits for a member informer's first list. Default 30 s. */
  readonly memberListTimeoutMs?: number;
  readonly now?: () => Date;
}

/** Why a Work could not be fully applied; thrown after status is written so the runner backs off. */
export class WorkNotAppliedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkNotAppliedError';
  }
}

interface Drift {
  readonly reason: ApplyReason;
  readonly identifier: ManifestIdentifier;
  readonly manifest: EmbeddedObject;
  readonly detail: string;
}

interface Step {
  readonly outcome: ManifestOutcome;
  readonly drift?: Drift;
}

interface Records {
  readonly uid: string | undefined;
  readonly byIdentity: Map<string, AppliedRecord>;
}

const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));

function describe(id: Pick<ManifestIdentifier, 'kind' | 'namespace' | 'name'>): string {
  return `${id.kind} ${id.namespace === undefined ? '' : `${id.namespace}/`}${id.name}`;
}

async function getOrUndefined(
  client: ApiClient,
  rt: ResourceType,
  ref: { namespace?: string; name: string },
  signal: AbortSignal,
): Promise<KubeObject | undefined> {
  try {
    return await client.get(rt, ref, { signal });
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

/** Resolves a kind, refreshing discovery once when it is missing (a CRD may just have arrived). */
async function resolveKind(
  client: ApiClient,
  apiVersion: string,
  kind: string,
  signal: AbortSignal,
): Promise<ResourceType> {
  try {
    return await client.resolve(apiVersion, kind, signal);
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
    client.invalidateDiscovery();
    return await client.resolve(apiVersion, kind, signal);
  }
}

/** Resolves once `store` is ready; `false` after `ms` or when `signal` aborts. */
function whenReady(store: StoreReader<KubeObject>, ms: number, signal: AbortSignal): Promise<boolean> {
  if (store.isReady()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (v: boolean): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(v);
    };
    const onAbort = (): void => done(false);
    const timer = setTimeout(() => done(false), ms);
    signal.addEventListener('abort', onAbort, { once: true });
    void store.ready.then(() => done(true));
  });
}

export class WorkApplier implements Reconciler {
  readonly name: string = 'work-applier';
  readonly #d: WorkApplierDeps;
  /**
   * What this process applied, per Work, ahead of the hub's Work store (which lags our own
   * status writes). Bounded by the number of Works; dropped when a Work goes away.
   */
  readonly #records = new Map<ObjectKey, Records>();

  constructor(deps: WorkApplierDeps) {
    this.#d = deps;
  }

  async reconcile(key: ObjectKey, ctx: ReconcileContext): Promise<Result> {
    const work = this.#d.works.get(key) as Work | undefined;
    if (work === undefined) {
      this.#records.delete(key);
      return {};
    }
    const { namespace, name } = refOf(key);
    const cluster = namespace === undefined ? undefined : clusterFromNamespace(namespace);
    if (namespace === undefined || cluster === undefined) return {};
    const ref: WorkRef = { namespace, name };
    return withFinalizer(
      work,
      Finalizers.work,
      {
        apply: (w) => this.#apply(w, key, ref, cluster, ctx),
        cleanup: (w) => this.#cleanup(w, key, ref, cluster, ctx),
      },
      (ops) => this.#d.hub.patch(WORKS, ref, { type: 'json', ops }, { signal: ctx.signal }),
    );
  }

  // ---- apply ------------------------------------------------------------------------------

  async #apply(
    work: Work,
    key: ObjectKey,
    ref: WorkRef,
    cluster: string,
    ctx: ReconcileContext,
  ): Promise<Result> {
    if (work.spec.suspendDispatching === true) return {};
    const conn = this.#d.members.get(cluster);
    // Not connected: the registry's notification requeues this Work when it is.
    if (conn === undefined) {
      ctx.log.debug({ work: key, cluster }, 'cluster not connected; waiting');
      return {};
    }
    const records = this.#recordsFor(key, work);
    const manifests = work.spec.workload.manifests;
    const steps: Step[] = [];
    for (const [i, manifest] of manifests.entries()) {
      steps.push(await this.#applyOne(conn, work, ref, records, i, manifest, ctx.signal));
    }
    await this.#prune(conn, work, ref, manifests, ctx);

    const outcomes = steps.map((s) => s.outcome);
    const status = buildWorkStatus(work.status, outcomes, cluster, work.metadata.generation, this.#now());
    if (statusChanged(work.status, status)) await this.#writeStatus(ref, status, ctx.signal);

    for (const s of steps) if (s.drift !== undefined) await this.#recordDrift(work, cluster, s.drift, ctx);

    const problems = outcomes.flatMap((o) => (o.type === 'applied' ? [] : [o.message]));
    if (problems.length > 0) {
      throw new WorkNotAppliedError(
        `${problems.length} of ${outcomes.length} manifest(s) not applied to cluster ${cluster}: ` +
          problems.join('; '),
      );
    }
    return {};
  }

  #recordsFor(key: ObjectKey, work: Work): Map<string, AppliedRecord> {
    const uid = work.metadata.uid;
    let r = this.#records.get(key);
    if (r === undefined || r.uid !== uid) {
      // First sight (or a new Work of the same name): start from what the hub recorded.
      r = { uid, byIdentity: new Map() };
      for (const s of work.status?.manifestStatuses ?? []) {
        const rec = recordOf(s);
        if (rec !== undefined) r.byIdentity.set(identityKey(s.identifier), rec);
      }
      this.#records.set(key, r);
    }
    return r.byIdentity;
  }

  async #applyOne(
    conn: ApplyTarget,
    work: Work,
    ref: WorkRef,
    records: Map<string, AppliedRecord>,
    ordinal: number,
    manifest: EmbeddedObject,
    signal: AbortSignal,
  ): Promise<Step> {
    const cluster = conn.cluster;
    let rt: ResourceType;
    try {
      rt = await resolveKind(conn.client, manifest.apiVersion, manifest.kind, signal);
    } catch (err) {
      const message =
        err instanceof NotFoundError
          ? `cluster ${cluster} does not serve kind ${manifest.kind} in ${manifest.apiVersion}`
          : `cluster ${cluster}: discovery of ${manifest.kind} (${manifest.apiVersion}) failed: ${errorMessage(err)}`;
      return { outcome: { type: 'failed', identifier: identifierOf(manifest, ordinal, undefined), message } };
    }
    const identifier = identifierOf(manifest, ordinal, rt);
    const idKey = identityKey(identifier);
    const namespace = targetNamespace(manifest, rt.scope);
    const objRef = { ...(namespace === undefined ? {} : { namespace }), name: identifier.name };
    const record = records.get(idKey);
    try {
      const desired = desiredObject(manifest, ref, rt.scope);
      const store = this.#d.watches.store(conn, rt);
      if (!(await whenReady(store, this.#d.memberListTimeoutMs ?? 30_000, signal))) {
        throw new UnavailableError(`cluster ${cluster}: listing ${rt.resource} did not complete in time`);
      }
      let live = store.get(objectKey(namespace, identifier.name));
      if (live === undefined || ownershipOf(live, ref, false).type !== 'this-work') {
        // Not (or not yet) in Meridian's view: unmanaged objects are only visible to a GET.
        live = await getOrUndefined(conn.client, rt, objRef, signal);
      }
      let takingOver = false;
      if (live !== undefined) {
        const owner = ownershipOf(live, ref, record?.applied === true);
        if (owner.type !== 'this-work') {
          if (conflictResolutionFor(work, manifest) !== 'Overwrite') {
            records.set(idKey, { applied: false });
            return {
              outcome: {
                type: 'conflict',
                identifier,
                message: conflictMessage(identifier, cluster, owner, ref),
              },
            };
          }
          takingOver = true;
        }
      }
      const reason = applyReason(desired, live, work.metadata.generation, record, takingOver);
      if (reason === undefined && live !== undefined) {
        return { outcome: this.#appliedOutcome(identifier, live, record) };
      }
      if (namespace !== undefined) await this.#ensureNamespace(conn, namespace, signal);
      const result = await conn.client.apply(rt, desired, {
        fieldManager: FIELD_MANAGER,
        force: true,
        signal,
      });
      const next: AppliedRecord = {
        applied: true,
        ...(result.metadata?.generation === undefined
          ? {}
          : { appliedGeneration: result.metadata.generation }),
        ...(work.metadata.generation === undefined ? {} : { observedGeneration: work.metadata.generation }),
      };
      records.set(idKey, next);
      if (reason === undefined || !isDrift(reason)) {
        const { apiVersion, kind } = manifest;
        const templateKey = [apiVersion, kind, manifest.metadata?.namespace ?? '', identifier.name].join('|');
        propagationTracker().applied(templateKey, cluster);
      }
      const outcome = this.#appliedOutcome(identifier, result, next);
      if (reason === undefined || !isDrift(reason)) return { outcome };
      const detail = driftDetail(reason, live, result);
      return detail === undefined
        ? { outcome }
        : { outcome, drift: { reason, identifier, manifest, detail } };
    } catch (err) {
      if (signal.aborted) throw err;
      // The in-memory record is kept: a failed attempt does not undo an earlier apply.
      return {
        outcome: {
          type: 'failed',
          identifier,
          message: `cluster ${cluster} rejected ${describe(identifier)}: ${errorMessage(err)}`,
        },
      };
    }
  }

  #appliedOutcome(
    identifier: ManifestIdentifier,
    live: KubeObject,
    record: AppliedRecord | undefined,
  ): ManifestOutcome {
    const rule = this.#d.healthRule?.(identifier.group ?? '', identifier.kind);
    return {
      type: 'applied',
      identifier,
      live,
      health: interpretHealth(live, rule),
      ...(record?.appliedGeneration === undefined ? {} : { appliedGeneration: record.appliedGeneration }),
      ...(record?.observedGeneration === undefined ? {} : { observedGeneration: record.observedGeneration }),
    };
  }

  /** Creates the member namespace when missing, labelled as Meridian's. Never deletes one. */
  async #ensureNamespace(conn: ApplyTarget, namespace: string, signal: AbortSignal): Promise<void> {
    if ((await getOrUndefined(conn.client, NAMESPACES, { name: namespace }, signal)) !== undefined) return;
    try {
      await conn.client.create(
        NAMESPACES,
        {
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: { name: namespace, labels: { [WorkLabels.managedBy]: MANAGED_BY_VALUE } },
        },
        { fieldManager: FIELD_MANAGER, signal },
      );
    } catch (err) {
      if (!(err instanceof AlreadyExistsError)) throw err;
    }
  }

  /** Deletes what this Work applied for manifests it no longer has (per its recorded status). */
  async #prune(
    conn: ApplyTarget,
    work: Work,
    ref: WorkRef,
    manifests: readonly EmbeddedObject[],
    ctx: ReconcileContext,
  ): Promise<void> {
    const current = new Set(manifests.map((m, i) => identityKey(identifierOf(m, i, undefined))));
    // identifierOf without a resource type cannot default the namespace: compare both forms.
    for (const m of manifests) {
      if (m.metadata?.namespace === undefined) {
        current.add(identityKey({ ...identifierOf(m, 0, undefined), namespace: 'default' }));
      }
    }
    for (const s of work.status?.manifestStatuses ?? []) {
      const id = s.identifier;
      if (s.applied !== true || current.has(identityKey(id)) || id.resource === undefined) continue;
      const rt: ResourceType = {
        group: id.group ?? '',
        version: id.version,
        resource: id.resource,
        scope: id.namespace === undefined ? 'Cluster' : 'Namespaced',
        kind: id.kind,
      };
      const result = await this.#deleteOwned(conn, rt, id, ref, ctx.signal);
      this.#records.get(objectKey(ref.namespace, ref.name))?.byIdentity.delete(identityKey(id));
      ctx.log.info({ cluster: conn.cluster, object: describe(id), result }, 'manifest removed from Work');
    }
  }

  /** Deletes a member object only when it carries this Work's labels; namespaces never. */
  async #deleteOwned(
    conn: ApplyTarget,
    rt: ResourceType,
    id: Pick<ManifestIdentifier, 'kind' | 'namespace' | 'name'>,
    ref: WorkRef,
    signal: AbortSignal,
  ): Promise<'deleted' | 'absent' | 'not-ours'> {
    if (rt.group === '' && id.kind === 'Namespace') return 'not-ours';
    const objRef = { ...(id.namespace === undefined ? {} : { namespace: id.namespace }), name: id.name };
    const live = await getOrUndefined(conn.client, rt, objRef, signal);
    if (live === undefined) return 'absent';
    if (ownershipOf(live, ref, false).type !== 'this-work') return 'not-ours';
    try {
      await conn.client.delete(rt, objRef, {
        propagationPolicy: 'Background',
        ...(live.metadata?.uid === undefined ? {} : { preconditions: { uid: live.metadata.uid } }),
        signal,
      });
      return 'deleted';
    } catch (err) {
      if (err instanceof NotFoundError) return 'absent';
      throw err;
    }
  }

  async #writeStatus(ref: WorkRef, status: WorkStatus, signal: AbortSignal): Promise<void> {
    await this.#d.hub.apply(
      WORKS,
      {
        apiVersion: API_VERSION,
        kind: Kinds.Work,
        metadata: { namespace: ref.namespace, name: ref.name },
        status,
      } as KubeObject,
      { fieldManager: FIELD_MANAGER, force: true, subresource: 'status', signal },
    );
  }

  // ---- drift ------------------------------------------------------------------------------

  async #recordDrift(work: Work, cluster: string, drift: Drift, ctx: ReconcileContext): Promise<void> {
    const what = describe(drift.identifier);
    const note = `cluster ${cluster}: ${what} ${drift.detail}`;
    this.#d.recorder.event(work as KubeObject, 'Warning', 'DriftReverted', note);
    this.#d.drift.inc({ cluster, kind: drift.identifier.kind });
    if (this.#d.hubTemplates === false) {
      ctx.log.info({ cluster, object: what, reason: drift.reason }, 'drift reverted');
      return;
    }
    const template = await this.#template(work, drift.manifest, ctx).catch((err: unknown) => {
      ctx.log.debug({ err }, 'hub template not found for drift event');
      return undefined;
    });
    if (template !== undefined) this.#d.recorder.event(template, 'Warning', 'DriftReverted', note);
    ctx.log.info({ cluster, object: what, reason: drift.reason }, 'drift reverted');
  }

  /** The hub resource template of a manifest: from the Work's binding, else by the manifest's own name. */
  async #template(
    work: Work,
    manifest: EmbeddedObject,
    ctx: ReconcileContext,
  ): Promise<KubeObject | undefined> {
    const labels = work.metadata.labels ?? {};
    const bindingName = labels[Labels.bindingName];
    if (bindingName !== undefined && bindingName !== '') {
      const bindingNs = labels[Labels.bindingNamespace];
      const namespaced = bindingNs !== undefined && bindingNs !== '';
      const binding = await getOrUndefined(
        this.#d.hub,
        namespaced ? RESOURCE_BINDINGS : CLUSTER_RESOURCE_BINDINGS,
        { ...(namespaced ? { namespace: bindingNs } : {}), name: bindingName },
        ctx.signal,
      );
      const r = (binding as { spec?: { resource?: ObjectReference } } | undefined)?.spec?.resource;
      if (r !== undefined) {
        return {
          apiVersion: r.apiVersion,
          kind: r.kind,
          metadata: {
            ...(r.namespace === undefined ? {} : { namespace: r.namespace }),
            name: r.name,
            ...(r.uid === undefined ? {} : { uid: r.uid }),
          },
        };
      }
    }
    const name = manifest.metadata?.name;
    if (typeof name !== 'string') return undefined;
    const rt = await this.#d.hub.resolve(manifest.apiVersion, manifest.kind, ctx.signal);
    const namespace = targetNamespace(manifest, rt.scope);
    const hubObj = await getOrUndefined(
      this.#d.hub,
      rt,
      { ...(namespace === undefined ? {} : { namespace }), name },
      ctx.signal,
    );
    if (hubObj === undefined) return undefined;
    return {
      apiVersion: manifest.apiVersion,
      kind: manifest.kind,
      metadata: {
        ...(namespace === undefined ? {} : { namespace }),
        name,
        ...(hubObj.metadata?.uid === undefined ? {} : { uid: hubObj.metadata.uid }),
      },
    };
  }

  // ---- cleanup ----------------------------------------------------------------------------

  async #cleanup(
    work: Work,
    key: ObjectKey,
    ref: WorkRef,
    cluster: string,
    ctx: ReconcileContext,
  ): Promise<Result> {
    if (this.#d.clusterLeaving(cluster)) {
      // The member is leaving the fleet: what runs there is no longer Meridian's to remove.
      ctx.log.info({ work: key, cluster }, 'cluster gone or leaving; releasing Work without member cleanup');
      this.#records.delete(key);
      return {};
    }
    if (work.spec.preserveResourcesOnDeletion === true) {
      this.#records.delete(key);
      return {};
    }
    const conn = this.#d.members.get(cluster);
    if (conn === undefined) {
      throw new UnavailableError(
        `cluster ${cluster} is not connected; cannot yet remove the objects of Work ${key}`,
      );
    }
    // Every manifest, plus anything the status says was applied (a manifest removed earlier).
    const targets = new Map<
      string,
      { apiVersion: string; id: Pick<ManifestIdentifier, 'kind' | 'namespace' | 'name'> }
    >();
    for (const m of work.spec.workload.manifests) {
      const name = m.metadata?.name;
      if (typeof name !== 'string') continue;
      const ns = m.metadata?.namespace;
      targets.set(`${m.apiVersion}/${m.kind}/${ns ?? ''}/${name}`, {
        apiVersion: m.apiVersion,
        id: { kind: m.kind, ...(typeof ns === 'string' && ns !== '' ? { namespace: ns } : {}), name },
      });
    }
    for (const s of work.status?.manifestStatuses ?? []) {
      const id = s.identifier;
      const apiVersion = id.group === undefined || id.group === '' ? id.version : `${id.group}/${id.version}`;
      targets.set(`${apiVersion}/${id.kind}/${id.namespace ?? ''}/${id.name}`, { apiVersion, id });
    }
    for (const { apiVersion, id } of targets.values()) {
      let rt: ResourceType;
      try {
        rt = await resolveKind(conn.client, apiVersion, id.kind, ctx.signal);
      } catch (err) {
        if (err instanceof NotFoundError) continue; // The member does not serve the kind: nothing to delete.
        throw err;
      }
      const namespace = rt.scope === 'Cluster' ? undefined : (id.namespace ?? 'default');
      const result = await this.#deleteOwned(
        conn,
        rt,
        { kind: id.kind, ...(namespace === undefined ? {} : { namespace }), name: id.name },
        ref,
        ctx.signal,
      );
      ctx.log.debug({ cluster, object: describe(id), result }, 'Work deleted: member object');
    }
    this.#records.delete(key);
    return {};
  }

  #now(): string {
    return (this.#d.now?.() ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }
}

/** What the revert changed, or `undefined` when the apply changed nothing (no drift to report). */
export function driftDetail(
  reason: ApplyReason,
  before: KubeObject | undefined,
  after: KubeObject,
): string | undefined {
  if (before === undefined) return 'was deleted by someone else; re-created';
  const g0 = before.metadata?.generation;
  const g1 = after.metadata?.generation;
  const rvChanged = before.metadata?.resourceVersion !== after.metadata?.resourceVersion;
  switch (reason) {
    case 'spec-drift':
      return g0 !== undefined && g1 !== undefined && g1 > g0
        ? `spec was changed outside Meridian; reverted (generation ${g0} → ${g1})`
        : undefined;
    case 'metadata-drift':
      return rvChanged
        ? 'labels/annotations set by Meridian were changed outside Meridian; restored'
        : undefined;
    case 'fields-drift':
      return rvChanged ? 'fields set by Meridian were changed outside Meridian; reverted' : undefined;
    default:
      return undefined;
  }
}
