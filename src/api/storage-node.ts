/**
 * `StorageNode` (namespaced: the namespace is the storage pool whose volumes it may hold):
 * a `meridian-storage` node contributing capacity. The spec
 * says where to reach it; its labels (site, region, provider, tier) are in
 * `metadata.labels`, as the node reports them, so placement and `kubectl -l` see the same.
 */
import { Type, type Static } from 'typebox';
import { Conditions, KubeObject } from './common.ts';
import { Kinds } from './constants.ts';
import { DNS_LABEL_PATTERN, StringEnum, Time, rule } from './schema.ts';

export const StorageNodeSpec = Type.Object({
  endpoint: Type.Object(
    {
      host: Type.String({ minLength: 1, maxLength: 253 }),
      port: Type.Integer({ minimum: 1, maximum: 65535 }),
    },
    { description: 'Where the node serves the replication protocol.' },
  ),
});
export type StorageNodeSpec = Static<typeof StorageNodeSpec>;

export const StorageNodeStatus = Type.Object({
  health: Type.Optional(StringEnum(['ok', 'degraded', 'unreachable'])),
  capacityBytes: Type.Optional(Type.Integer({ minimum: 0, format: 'int64' })),
  allocatedBytes: Type.Optional(Type.Integer({ minimum: 0, format: 'int64' })),
  freeBytes: Type.Optional(Type.Integer({ minimum: 0, format: 'int64' })),
  volumes: Type.Optional(Type.Integer({ minimum: 0 })),
  checksumErrors: Type.Optional(Type.Integer({ minimum: 0 })),
  lastProbeTime: Type.Optional(Time()),
  conditions: Type.Optional(Conditions()),
});
export type StorageNodeStatus = Static<typeof StorageNodeStatus>;

export const StorageNodeSchema = KubeObject(Kinds.StorageNode, StorageNodeSpec, StorageNodeStatus, {
  'x-kubernetes-validations': [
    rule(
      `size(self.metadata.name) <= 63 && self.metadata.name.matches('${DNS_LABEL_PATTERN}')`,
      'metadata.name must be a DNS label (the node id)',
    ),
  ],
});
export type StorageNode = Static<typeof StorageNodeSchema>;
