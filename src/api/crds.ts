/**
 * Builds Meridian's CustomResourceDefinitions from the TypeBox schemas in `src/api/`, so
 * the TS types and the API server's validation come from one source. `scripts/gen-crds.ts`
 * writes them to `deploy/crds/`; a unit test checks the committed files match.
 */
import { type TSchema } from 'typebox';
import { stringify } from 'yaml';
import { ClusterSchema } from './cluster.ts';
import { CATEGORY, GROUP, Kinds, Plurals, VERSION, type Kind } from './constants.ts';
import { ClusterOverridePolicySchema, OverridePolicySchema } from './override-policy.ts';
import { ClusterPropagationPolicySchema, PropagationPolicySchema } from './propagation-policy.ts';
import { ClusterResourceBindingSchema, ResourceBindingSchema } from './resource-binding.ts';
import { toJson } from './schema.ts';
import { WorkSchema } from './work.ts';
import { VolumeSchema } from './volume.ts';
import { StorageNodeSchema } from './storage-node.ts';

export interface PrinterColumn {
  readonly name: string;
  readonly type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  readonly jsonPath: string;
  readonly description?: string;
  readonly priority?: number;
}

/** Everything about one kind that is not in its schema. */
export interface KindDefinition {
  readonly kind: Kind;
  readonly scope: 'Namespaced' | 'Cluster';
  readonly shortNames: readonly string[];
  readonly schema: TSchema;
  readonly description: string;
  readonly printerColumns: readonly PrinterColumn[];
}

const condition = (name: string, type = name): PrinterColumn => ({
  name,
  type: 'string',
  jsonPath: `.status.conditions[?(@.type=="${type}")].status`,
});
const age: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

const policyColumns: readonly PrinterColumn[] = [
  { name: 'Priority', type: 'integer', jsonPath: '.spec.priority' },
  { name: 'Conflict-Resolution', type: 'string', jsonPath: '.spec.conflictResolution' },
  {
    name: 'Replica-Scheduling',
    type: 'string',
    jsonPath: '.spec.placement.replicaScheduling.replicaSchedulingType',
    priority: 1,
  },
  age,
];
const bindingColumns: readonly PrinterColumn[] = [
  { name: 'Kind', type: 'string', jsonPath: '.spec.resource.kind' },
  { name: 'Resource', type: 'string', jsonPath: '.spec.resource.name' },
  condition('Scheduled'),
  condition('Fully-Applied', 'FullyApplied'),
  { name: 'Policy', type: 'string', jsonPath: '.spec.policyRef.name', priority: 1 },
  age,
];

/** The kinds Meridian serves, in a stable order. */
export const kindDefinitions: readonly KindDefinition[] = [
  {
    kind: Kinds.Cluster,
    scope: 'Cluster',
    shortNames: ['mcl'],
    schema: ClusterSchema,
    description: 'A member cluster of the Meridian hub.',
    printerColumns: [
      { name: 'Mode', type: 'string', jsonPath: '.spec.syncMode' },
      condition('Ready'),
      condition('Tunnel', 'TunnelConnected'),
      { name: 'Version', type: 'string', jsonPath: '.status.kubernetesVersion' },
      { name: 'Region', type: 'string', jsonPath: '.metadata.labels.topology\\.kubernetes\\.io/region' },
      {
        name: 'Zone',
        type: 'string',
        jsonPath: '.metadata.labels.topology\\.kubernetes\\.io/zone',
        priority: 1,
      },
      { name: 'Provider', type: 'string', jsonPath: '.metadata.labels.meridian\\.dev/provider', priority: 1 },
      { name: 'Endpoint', type: 'string', jsonPath: '.spec.apiEndpoint', priority: 1 },
      age,
    ],
  },
  {
    kind: Kinds.PropagationPolicy,
    scope: 'Namespaced',
    shortNames: ['pp'],
    schema: PropagationPolicySchema,
    description: 'Places the selected resources of its namespace on member clusters.',
    printerColumns: policyColumns,
  },
  {
    kind: Kinds.ClusterPropagationPolicy,
    scope: 'Cluster',
    shortNames: ['cpp'],
    schema: ClusterPropagationPolicySchema,
    description:
      'Places the selected resources of any namespace (or cluster-scoped ones) on member clusters.',
    printerColumns: policyColumns,
  },
  {
    kind: Kinds.OverridePolicy,
    scope: 'Namespaced',
    shortNames: ['op'],
    schema: OverridePolicySchema,
    description: 'Per-cluster changes to the selected resources of its namespace.',
    printerColumns: [age],
  },
  {
    kind: Kinds.ClusterOverridePolicy,
    scope: 'Cluster',
    shortNames: ['cop'],
    schema: ClusterOverridePolicySchema,
    description: 'Per-cluster changes to the selected resources of any namespace.',
    printerColumns: [age],
  },
  {
    kind: Kinds.ResourceBinding,
    scope: 'Namespaced',
    shortNames: ['rb'],
    schema: ResourceBindingSchema,
    description: 'Where one namespaced resource is placed, and how it is doing there.',
    printerColumns: bindingColumns,
  },
  {
    kind: Kinds.ClusterResourceBinding,
    scope: 'Cluster',
    shortNames: ['crb'],
    schema: ClusterResourceBindingSchema,
    description: 'Where one cluster-scoped resource is placed, and how it is doing there.',
    printerColumns: bindingColumns,
  },
  {
    kind: Kinds.Work,
    scope: 'Namespaced',
    shortNames: ['wk'],
    schema: WorkSchema,
    description: 'The final manifests for one member cluster; lives in namespace meridian-cluster-<name>.',
    printerColumns: [condition('Applied'), condition('Available'), age],
  },
  {
    kind: Kinds.Volume,
    scope: 'Namespaced',
    shortNames: ['mvol'],
    schema: VolumeSchema,
    description: 'A replicated block device placed on storage nodes by policy (docs/storage.md).',
    printerColumns: [
      { name: 'Size', type: 'integer', jsonPath: '.spec.sizeBytes' },
      { name: 'Ack', type: 'string', jsonPath: '.spec.ackMode' },
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      { name: 'Epoch', type: 'integer', jsonPath: '.status.epoch', priority: 1 },
      age,
    ],
  },
  {
    kind: Kinds.StorageNode,
    scope: 'Namespaced',
    shortNames: ['msn'],
    schema: StorageNodeSchema,
    description: 'A storage node contributing capacity to Meridian volumes.',
    printerColumns: [
      { name: 'Host', type: 'string', jsonPath: '.spec.endpoint.host' },
      { name: 'Port', type: 'integer', jsonPath: '.spec.endpoint.port' },
      { name: 'Health', type: 'string', jsonPath: '.status.health' },
      age,
    ],
  },
];

/** A CustomResourceDefinition as plain JSON (`apiextensions.k8s.io/v1`). */
export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels?: Record<string, string> };
  spec: {
    group: string;
    names: {
      kind: string;
      listKind: string;
      plural: string;
      singular: string;
      shortNames: string[];
      categories: string[];
    };
    scope: 'Namespaced' | 'Cluster';
    versions: Array<{
      name: string;
      served: boolean;
      storage: boolean;
      schema: { openAPIV3Schema: Record<string, unknown> };
      subresources: { status: Record<string, never> };
      additionalPrinterColumns: PrinterColumn[];
    }>;
  };
}

/**
 * The `openAPIV3Schema` of a kind: its TypeBox schema as JSON, with `apiVersion`, `kind`
 * and `metadata` reduced to what the API server expects of a CRD root (it validates
 * metadata itself).
 */
export function openAPIV3Schema(def: KindDefinition): Record<string, unknown> {
  const root = toJson(def.schema);
  const props = root['properties'] as Record<string, unknown>;
  props['apiVersion'] = { type: 'string', description: 'Versioned schema of this representation.' };
  props['kind'] = { type: 'string', description: 'REST resource this object represents.' };
  props['metadata'] = { type: 'object' };
  return { description: def.description, ...root, required: ['spec'] };
}

/** The CRD of one kind. Pure: the same definitions always give the same object. */
export function buildCrd(def: KindDefinition): CustomResourceDefinition {
  const plural = Plurals[def.kind];
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${GROUP}` },
    spec: {
      group: GROUP,
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural,
        singular: def.kind.toLowerCase(),
        shortNames: [...def.shortNames],
        categories: [CATEGORY],
      },
      scope: def.scope,
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: openAPIV3Schema(def) },
          subresources: { status: {} },
          additionalPrinterColumns: [...def.printerColumns],
        },
      ],
    },
  };
}

/** Every Meridian CRD, in {@link kindDefinitions} order. */
export function buildCrds(): CustomResourceDefinition[] {
  return kindDefinitions.map(buildCrd);
}

/** File name under `deploy/crds/` (controller-gen's convention: `<group>_<plural>.yaml`). */
export function crdFileName(crd: CustomResourceDefinition): string {
  return `${crd.spec.group}_${crd.spec.names.plural}.yaml`;
}

const HEADER =
  '# Generated by scripts/gen-crds.ts from src/api/. Do not edit: change the schema and regenerate.\n';

/** The YAML text committed for `crd`. */
export function renderCrd(crd: CustomResourceDefinition): string {
  return HEADER + stringify(crd, { lineWidth: 0, singleQuote: true });
}
