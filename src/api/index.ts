/** Meridian's API (group meridian.dev, version v1alpha1): kinds, schemas, constants. */
export * from './constants.ts';
export * from './common.ts';
export * from './cluster.ts';
export * from './propagation-policy.ts';
export * from './override-policy.ts';
export * from './resource-binding.ts';
export * from './work.ts';
export * from './volume.ts';
export * from './storage-node.ts';
export * from './quantity.ts';
export { check, type CheckResult } from './validate.ts';
export * from './selector.ts';
export {
  buildCrd,
  buildCrds,
  crdFileName,
  kindDefinitions,
  renderCrd,
  type CustomResourceDefinition,
  type KindDefinition,
  type PrinterColumn,
} from './crds.ts';
