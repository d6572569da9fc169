/**
 * The scheduler's plugins, by name (each key equals its plugin's `name`), in the order they run. Adding a plugin = adding a line;
 * `schedule()` takes any subset (tests pass their own).
 */
import { apiEnablement } from './plugins/api-enablement/index.ts';
import { availableCapacity } from './plugins/available-capacity/index.ts';
import { clusterAffinity } from './plugins/cluster-affinity/index.ts';
import { clusterEviction } from './plugins/cluster-eviction/index.ts';
import { clusterLocality } from './plugins/cluster-locality/index.ts';
import { clusterReadiness } from './plugins/cluster-readiness/index.ts';
import { spreadConstraint } from './plugins/spread-constraint/index.ts';
import { taintToleration } from './plugins/taint-toleration/index.ts';
import type { Plugin } from './plugin.ts';

export const registry = {
  'cluster-readiness': clusterReadiness,
  'cluster-eviction': clusterEviction,
  'cluster-affinity': clusterAffinity,
  'taint-toleration': taintToleration,
  'api-enablement': apiEnablement,
  'spread-constraint': spreadConstraint,
  'cluster-locality': clusterLocality,
  'available-capacity': availableCapacity,
} as const satisfies Record<string, Plugin>;

export type PluginName = keyof typeof registry;

/** Every registered plugin, in registry order. */
export const defaultPlugins: readonly Plugin[] = Object.values(registry);
