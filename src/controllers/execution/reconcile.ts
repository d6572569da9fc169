/**
 * The execution reconciler (push mode): the shared Work applier (src/work/applier.ts) for
 * the Works of push-mode clusters. Works of pull-mode clusters are left to their agents — the
 * hub holds no credential for those members — except that a deleting Work of a pull cluster
 * that is itself leaving is released here, since its agent is already cut off.
 */
import { clusterFromNamespace, type Cluster } from '../../api/index.ts';
import type { ReconcileContext, Result } from '../../kube/controller.ts';
import { objectKey, refOf, type ObjectKey } from '../../kube/object-key.ts';
import type { StoreReader } from '../../kube/store.ts';
import { WorkApplier, type WorkApplierDeps } from '../../work/applier.ts';

export interface ExecutionDeps extends Omit<WorkApplierDeps, 'clusterLeaving'> {
  /** Hub Clusters. */
  readonly clusters: StoreReader<Cluster>;
}

export class ExecutionReconciler extends WorkApplier {
  override readonly name = 'execution';
  readonly #clusters: StoreReader<Cluster>;
  readonly #works: WorkApplierDeps['works'];

  constructor(deps: ExecutionDeps) {
    const { clusters, ...rest } = deps;
    const leaving = (name: string): boolean => {
      const c = clusters.get(objectKey(undefined, name));
      return c === undefined || c.metadata.deletionTimestamp !== undefined;
    };
    super({ ...rest, clusterLeaving: leaving });
    this.#clusters = clusters;
    this.#works = deps.works;
  }

  override async reconcile(key: ObjectKey, ctx: ReconcileContext): Promise<Result> {
    const ns = refOf(key).namespace;
    const cluster = ns === undefined ? undefined : clusterFromNamespace(ns);
    const c = cluster === undefined ? undefined : this.#clusters.get(objectKey(undefined, cluster));
    if (c?.spec.syncMode === 'Pull') {
      const deleting = this.#works.get(key)?.metadata?.deletionTimestamp !== undefined;
      if (!(deleting && c.metadata.deletionTimestamp !== undefined)) return {};
    }
    return super.reconcile(key, ctx);
  }
}
