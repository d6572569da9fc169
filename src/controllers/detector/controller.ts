import type { ClusterPropagationPolicy, PropagationPolicy } from '../../api/propagation-policy.ts';
import type { ResourceBinding } from '../../api/resource-binding.ts';
import type { ResourceType } from '../../kube/api-client.ts';
import { NotFoundError } from '../../kube/errors.ts';
import { propagationTracker } from '../../kube/metrics.ts';
import { objectKey } from '../../kube/object-key.ts';
import type { StoreReader } from '../../kube/store.ts';
import type { KubeObject } from '../../kube/wire.ts';
import { WorkQueue } from '../../kube/workqueue.ts';
import type { ControllerContext, StartController } from '../context.ts';
import { HubFieldManagers, Resources } from '../resources.ts';
import {
  bindingFor,
  bindingName,
  DETECTOR_HASH_ANNOTATION,
  dependencyBindingFor,
  type DesiredBinding,
} from './binding-for.ts';
import { excludedObject, propagatableType } from './exclusions.ts';
import { choosePolicy, type AnyPropagationPolicy } from './match.ts';
import { dependenciesOf } from './workload.ts';

/** A template's queue key: `apiVersion|kind|namespace|name` (one queue for every type). */
type TemplateKey = string;
const templateKey = (apiVersion: string, kind: string, ns: string | undefined, name: string): TemplateKey =>
  [apiVersion, kind, ns ?? '', name].join('|');

const dependencyKinds = [
  { apiVersion: 'v1', kind: 'ConfigMap' },
  { apiVersion: 'v1', kind: 'Secret' },
  { apiVersion: 'v1', kind: 'ServiceAccount' },
  { apiVersion: 'v1', kind: 'PersistentVolumeClaim' },
] as const;

interface TrackedType {
  readonly rt: ResourceType;
  readonly store: StoreReader<KubeObject>;
}

const WORKERS = 4;

/**
 * The resource detector: keeps exactly one binding per hub template that a propagation
 * policy selects (or that a selected workload depends on, with propagateDeps), and none for
 * templates nothing selects any more.
 *
 * It watches only the types some policy names (discovered through the hub's discovery, so
 * CRDs work, and re-resolved when CRDs change); a type, once watched, stays watched for the
 * life of the process (bounded by the number of types policies have named).
 */
class Detector {
  readonly #ctx: ControllerContext;
  readonly #queue = new WorkQueue<TemplateKey>({ maxSize: 1_000_000, name: 'detector' });
  readonly #types = new Map<string, TrackedType>();
  readonly #pending = new Set<string>();
  /**
   * The dependencies each workload referenced when last seen, so a dependency a workload
   * stops referencing (or whose workload is deleted) is re-evaluated too. Bounded by the
   * number of watched workloads that have dependencies.
   */
  readonly #lastDeps = new Map<TemplateKey, TemplateKey[]>();
  readonly #pp: StoreReader<PropagationPolicy>;
  readonly #cpp: StoreReader<ClusterPropagationPolicy>;
  readonly #rb: StoreReader<ResourceBinding>;
  readonly #crb: StoreReader<ResourceBinding>;

  constructor(ctx: ControllerContext) {
    this.#ctx = ctx;
    this.#pp = ctx.informers.informer<PropagationPolicy>(Resources.PropagationPolicy);
    this.#cpp = ctx.informers.informer<ClusterPropagationPolicy>(Resources.ClusterPropagationPolicy);
    this.#rb = ctx.informers.informer<ResourceBinding>(Resources.ResourceBinding);
    this.#crb = ctx.informers.informer<ResourceBinding>(Resources.ClusterResourceBinding);
  }

  async run(): Promise<void> {
    const { signal } = this.#ctx;
    const crds = this.#ctx.informers.informer(Resources.CustomResourceDefinition);
    await Promise.all([this.#pp.ready, this.#cpp.ready, this.#rb.ready, this.#crb.ready, crds.ready]);
    const onPolicy = () => void this.#syncTypes(true);
    this.#pp.subscribe(onPolicy, signal);
    this.#cpp.subscribe(onPolicy, signal);
    crds.subscribe(() => {
      this.#ctx.hub.invalidateDiscovery();
      void this.#syncTypes(false);
    }, signal);
    const onBinding = (c: { object: ResourceBinding }) => this.#onBinding(c.object);
    this.#rb.subscribe(onBinding, signal);
    this.#crb.subscribe(onBinding, signal);
    await this.#syncTypes(true);
    signal.addEventListener('abort', () => this.#queue.shutDown(), { once: true });
    await Promise.all(Array.from({ length: WORKERS }, () => this.#worker()));
  }

  #policies(): AnyPropagationPolicy[] {
    return [...this.#pp.list(), ...this.#cpp.list()];
  }

  /** Starts informers for every type a policy selects; with `requeueAll`, re-evaluates every tracked template. */
  async #syncTypes(requeueAll: boolean): Promise<void> {
    const wanted = new Map<string, { apiVersion: string; kind: string }>();
    const policies = this.#policies();
    for (const p of policies) {
      for (const s of p.spec.resourceSelectors) wanted.set(`${s.apiVersion}|${s.kind}`, s);
    }
    if (policies.some((p) => p.spec.propagateDeps))
      for (const d of dependencyKinds) wanted.set(`${d.apiVersion}|${d.kind}`, d);
    for (const [id, { apiVersion, kind }] of wanted) {
      if (this.#types.has(id)) continue;
      try {
        await this.#track(id, apiVersion, kind);
        this.#pending.delete(id);
      } catch (err) {
        // Unknown kind (e.g. its CRD is not installed yet): retried when CRDs change.
        if (!this.#pending.has(id))
          this.#ctx.log.warn({ err, apiVersion, kind }, 'policy selects a type the hub does not serve (yet)');
        this.#pending.add(id);
      }
    }
    if (requeueAll) for (const t of this.#types.values()) this.#enqueueAll(t);
  }

  async #track(id: string, apiVersion: string, kind: string): Promise<void> {
    const rt = await this.#ctx.hub.resolve(apiVersion, kind, this.#ctx.signal);
    const resources = await this.#ctx.hub.resources(apiVersion, this.#ctx.signal);
    const verbs = resources.find((r) => r.kind === kind)?.verbs ?? [];
    if (!propagatableType(rt.group, rt.resource, verbs)) {
      throw new Error(`${kind} (${apiVersion}) is never propagated`);
    }
    const store = this.#ctx.informers.informer(rt);
    const t = { rt, store };
    this.#ctx.log.info({ apiVersion, kind }, 'detector watching a newly selected type');
    this.#types.set(id, t);
    store.subscribe((c) => {
      const o = c.object;
      const key = templateKey(apiVersion, kind, o.metadata?.namespace, o.metadata?.name ?? '');
      if (c.type !== 'delete')
        propagationTracker().changed(key, String(o.metadata?.generation ?? o.metadata?.resourceVersion));
      this.#queue.add(key);
      this.#refreshDeps(key, c.type === 'delete' ? undefined : o);
    }, this.#ctx.signal);
    void store.ready.then(() => this.#enqueueAll(t));
  }

  #enqueueAll(t: TrackedType): void {
    const apiVersion = t.rt.group === '' ? t.rt.version : `${t.rt.group}/${t.rt.version}`;
    for (const o of t.store.list()) {
      const key = templateKey(apiVersion, t.rt.kind ?? '', o.metadata?.namespace, o.metadata?.name ?? '');
      // A template first seen here (a shared informer already synced) starts its clock now.
      propagationTracker().changed(key, String(o.metadata?.generation ?? o.metadata?.resourceVersion));
      this.#queue.add(key);
    }
  }

  /**
   * A binding changed (its clusters, its propagateDeps, or it went): re-check its template
   * (recreates a binding deleted by hand) and the dependencies it has or had.
   */
  #onBinding(b: ResourceBinding): void {
    const r = b.spec.resource;
    const key = templateKey(r.apiVersion, r.kind, r.namespace, r.name);
    this.#queue.add(key);
    const template = this.#types.get(`${r.apiVersion}|${r.kind}`)?.store.get(objectKey(r.namespace, r.name));
    this.#refreshDeps(key, template);
  }

  /** Enqueues the dependencies `workload` references now and those it referenced before. */
  #refreshDeps(workload: TemplateKey, template: KubeObject | undefined): void {
    const ns = template?.metadata?.namespace;
    const now =
      template === undefined || ns === undefined
        ? []
        : dependenciesOf(template).map((d) => templateKey(d.apiVersion, d.kind, ns, d.name));
    for (const k of new Set([...(this.#lastDeps.get(workload) ?? []), ...now])) this.#queue.add(k);
    if (now.length === 0) this.#lastDeps.delete(workload);
    else this.#lastDeps.set(workload, now);
  }

  async #worker(): Promise<void> {
    for (;;) {
      const key = await this.#queue.get();
      if (key === undefined) return;
      try {
        await this.#reconcile(key);
        this.#queue.forget(key);
      } catch (err) {
        if (this.#ctx.signal.aborted) return;
        this.#ctx.log.warn({ err, key }, 'detector reconcile failed; retrying with backoff');
        this.#queue.addRateLimited(key);
      } finally {
        this.#queue.done(key);
      }
    }
  }

  async #reconcile(key: TemplateKey): Promise<void> {
    const [apiVersion = '', kind = '', ns = '', name = ''] = key.split('|');
    const t = this.#types.get(`${apiVersion}|${kind}`);
    if (t === undefined) return;
    await t.store.ready;
    const namespace = ns === '' ? undefined : ns;
    const obj = t.store.get(objectKey(namespace, name));
    const bName = bindingName({ kind, metadata: { name } });
    const bindingRt = namespace ? Resources.ResourceBinding : Resources.ClusterResourceBinding;
    const existing = (namespace ? this.#rb : this.#crb).get(objectKey(namespace, bName));
    const desired = obj && obj.metadata?.deletionTimestamp === undefined ? this.#desired(t, obj) : undefined;

    if (desired === undefined) {
      const r = existing?.spec.resource;
      if (existing && r && r.apiVersion === apiVersion && r.kind === kind && r.name === name) {
        await this.#ctx.hub
          .delete(bindingRt, { ...(namespace && { namespace }), name: bName })
          .catch((err: unknown) => {
            if (!(err instanceof NotFoundError)) throw err;
          });
        this.#ctx.log.info({ binding: `${ns}/${bName}` }, 'template no longer selected; binding removed');
      }
      return;
    }
    const have = existing?.metadata?.annotations?.[DETECTOR_HASH_ANNOTATION];
    if (have === desired.metadata?.annotations?.[DETECTOR_HASH_ANNOTATION]) return;
    await this.#ctx.hub.apply(bindingRt, desired, { fieldManager: HubFieldManagers.detector, force: true });
    this.#ctx.log.debug({ binding: `${ns}/${bName}` }, 'binding applied');
  }

  #desired(t: TrackedType, obj: KubeObject): DesiredBinding | undefined {
    if (excludedObject(t.rt.group, t.rt.kind ?? '', obj) !== undefined) return undefined;
    const policy = choosePolicy(obj, this.#policies());
    if (policy) return bindingFor(obj, policy);
    return this.#dependencyBinding(obj);
  }

  /** With propagateDeps: the union of the clusters of every binding whose workload references `obj`. */
  #dependencyBinding(obj: KubeObject): DesiredBinding | undefined {
    const ns = obj.metadata?.namespace;
    if (ns === undefined || !dependencyKinds.some((d) => d.kind === obj.kind)) return undefined;
    const clusters = new Set<string>();
    let conflictResolution: 'Abort' | 'Overwrite' = 'Abort';
    for (const b of this.#rb.list()) {
      if (b.metadata.namespace !== ns || !b.spec.propagateDeps) continue;
      const r = b.spec.resource;
      const template = this.#types.get(`${r.apiVersion}|${r.kind}`)?.store.get(objectKey(ns, r.name));
      if (template === undefined) continue;
      if (!dependenciesOf(template).some((d) => d.kind === obj.kind && d.name === obj.metadata?.name))
        continue;
      for (const c of b.spec.clusters ?? []) clusters.add(c.name);
      if (b.spec.conflictResolution === 'Overwrite') conflictResolution = 'Overwrite';
    }
    return clusters.size === 0 ? undefined : dependencyBindingFor(obj, [...clusters], conflictResolution);
  }
}

export const startDetector: StartController = async (ctx) => {
  await new Detector(ctx).run();
};
