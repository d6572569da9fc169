/** The execution controller: applies Works to member clusters (push mode), reports status, reverts drift. */
export {
  startExecutionController,
  driftCounter,
  crdHealthRules,
  DRIFT_METRIC,
  WORKERS,
} from './controller.ts';
export { ExecutionReconciler, type ExecutionDeps } from './reconcile.ts';
export {
  WorkApplier,
  WorkNotAppliedError,
  WORKS,
  driftDetail,
  type WorkApplierDeps,
  type DriftCounter,
} from '../../work/applier.ts';
export {
  MANAGED_BY_VALUE,
  MANAGED_SELECTOR,
  WorkLabels,
  applyReason,
  conflictResolutionFor,
  desiredObject,
  identifierOf,
  ownershipOf,
  type ApplyReason,
  type Ownership,
  type WorkRef,
} from '../../work/manifest.ts';
export { MemberWatches, workKeyOf } from '../../work/member-watches.ts';
export { buildWorkStatus, statusChanged, type ManifestOutcome } from '../../work/status.ts';
