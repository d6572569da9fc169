import { GROUP, Kinds, Plurals, VERSION } from '../../api/constants.ts';
import type { ResourceType } from '../../kube/api-client.ts';

/** The hub resource types of the storage kinds (namespaced: a namespace is a storage pool). */
export const StorageResources = {
  Volume: {
    group: GROUP,
    version: VERSION,
    resource: Plurals.Volume,
    scope: 'Namespaced',
    kind: Kinds.Volume,
  },
  StorageNode: {
    group: GROUP,
    version: VERSION,
    resource: Plurals.StorageNode,
    scope: 'Namespaced',
    kind: Kinds.StorageNode,
  },
} as const satisfies Record<string, ResourceType>;
