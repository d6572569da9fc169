/** The execution controller: applies Works to member clusters (push mode), reports status, reverts drift. */
export {
  startExecutionController,
  driftCounter,
  crdHealthRules,
  DRIFT_METRIC,
  WORKERS,
} from './controller.ts';
export {
  ExecutionReconciler,
  WorkNotAppliedError,
  WORKS,
  driftDetail,
  type ExecutionDeps,
  type DriftCounter,
} from './reconcile.ts';
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
} from './manifest.ts';
export { MemberWatches, workKeyOf } from './member-watches.ts';
export { buildWorkStatus, statusChanged, type ManifestOutcome } from './status.ts';
