/**
 * `Volume` (namespaced): a replicated block device whose replicas are placed by policy on
 * the storage nodes of its namespace (a namespace is a storage pool; docs/storage.md). `meridian volumes`
 * writes the spec and the placement in the status; a volume frontend reports its replicas'
 * state, lag and latency there.
 */
import { Type, type Static } from 'typebox';
import { Conditions, KubeObject } from './common.ts';
import { Kinds } from './constants.ts';
import { DNS_LABEL_PATTERN, StringEnum, StringMap, Time, rule } from './schema.ts';

export const AckModes = ['fastest', 'quorum', 'all'] as const;
export type AckMode = (typeof AckModes)[number];

const Selector = StringMap({ description: 'Labels a storage node must all have (empty: any node).' });

export const VolumePolicySpec = Type.Object({
  replicas: Type.Array(
    Type.Object({
      selector: Selector,
      count: Type.Integer({ minimum: 1, maximum: 16 }),
    }),
    { minItems: 1, maxItems: 16, description: 'Replica rules; counts add up, one replica per node.' },
  ),
  allowed: Type.Optional(
    Type.Array(Selector, {
      maxItems: 16,
      description: 'Sovereignty: when set, every replica must be on a node matching one of these.',
    }),
  ),
  forbidden: Type.Optional(
    Type.Array(Selector, {
      maxItems: 16,
      description: 'Sovereignty: no replica on a node matching any of these.',
    }),
  ),
});

export const VolumeSpec = Type.Object(
  {
    sizeBytes: Type.Integer({ minimum: 1, maximum: 2 ** 50, format: 'int64', description: 'Size in bytes.' }),
    ackMode: StringEnum(AckModes, { description: 'When a plain write is acknowledged.' }),
    durability: Type.Integer({
      minimum: 1,
      maximum: 256,
      description: 'Replicas that must hold data durably before FLUSH/FUA is acknowledged.',
    }),
    policy: VolumePolicySpec,
  },
  {
    'x-kubernetes-validations': [
      rule('self.sizeBytes >= oldSelf.sizeBytes', 'spec.sizeBytes can grow, not shrink', {
        fieldPath: '.sizeBytes',
      }),
      rule(
        'self.durability <= self.policy.replicas.map(r, r.count).sum()',
        'spec.durability cannot exceed the number of replicas',
        { fieldPath: '.durability' },
      ),
    ],
  },
);
export type VolumeSpec = Static<typeof VolumeSpec>;

export const VolumePhases = ['Placed', 'Refused'] as const;

/** One replica as last reported (placement fills node and rule; a frontend the rest). */
export const VolumeReplicaStatus = Type.Object({
  node: Type.String({ maxLength: 253 }),
  rule: Type.Integer({ minimum: 0 }),
  state: Type.Optional(Type.String({ maxLength: 32 })),
  appliedSeq: Type.Optional(Type.Integer({ minimum: 0, format: 'int64' })),
  lagWrites: Type.Optional(Type.Integer({ minimum: 0, format: 'int64' })),
  ewmaMs: Type.Optional(Type.Number({ minimum: 0 })),
  p99Ms: Type.Optional(Type.Number({ minimum: 0 })),
  rebuilding: Type.Optional(Type.Boolean()),
});
export type VolumeReplicaStatus = Static<typeof VolumeReplicaStatus>;

export const VolumeStatus = Type.Object({
  phase: Type.Optional(StringEnum(VolumePhases)),
  message: Type.Optional(Type.String({ maxLength: 4096 })),
  epoch: Type.Optional(Type.Integer({ minimum: 0, format: 'int64' })),
  headSeq: Type.Optional(Type.Integer({ minimum: 0, format: 'int64' })),
  replicas: Type.Optional(Type.Array(VolumeReplicaStatus, { maxItems: 64 })),
  placement: Type.Optional(
    Type.Array(
      Type.Object({
        node: Type.String({ maxLength: 253 }),
        verdict: StringEnum(['chosen', 'spare', 'rejected']),
        reason: Type.String({ maxLength: 2048 }),
      }),
      { maxItems: 1024, description: "The placement's verdict on every storage node, and why." },
    ),
  ),
  /** When a frontend last reported (absent: none has). */
  reportedAt: Type.Optional(Time()),
  conditions: Type.Optional(Conditions()),
});
export type VolumeStatus = Static<typeof VolumeStatus>;

export const VolumeSchema = KubeObject(Kinds.Volume, VolumeSpec, VolumeStatus, {
  'x-kubernetes-validations': [
    rule(
      `size(self.metadata.name) <= 63 && self.metadata.name.matches('${DNS_LABEL_PATTERN}')`,
      'metadata.name must be a DNS label (it names the volume on every storage node)',
    ),
  ],
});
export type Volume = Static<typeof VolumeSchema>;
