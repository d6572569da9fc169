import { createHash } from 'node:crypto';
import { API_VERSION, Kinds, Labels } from '../../api/constants.ts';
import type { BindingSpec } from '../../api/resource-binding.ts';
import type { KubeObject } from '../../kube/wire.ts';
import type { AnyPropagationPolicy } from './match.ts';
import { replicaRequests, replicasOf } from './workload.ts';

/** On a binding: hash of what the detector last applied, so unchanged inputs cost no request. */
export const DETECTOR_HASH_ANNOTATION = 'meridian.dev/detector-hash';
/** On a binding made only because a workload depends on the object (propagateDeps). */
export const DEPENDENCY_LABEL = 'meridian.dev/dependency';

/** The binding for a template: `<name>-<kind>` (Karmada's convention), in the template's namespace. */
export function bindingName(obj: { kind?: string; metadata?: { name?: string } }): string {
  return `${obj.metadata?.name ?? ''}-${(obj.kind ?? '').toLowerCase()}`.slice(0, 253);
}

/** Hash of a template's propagated content: everything but status and server-set metadata. */
export function templateHash(obj: KubeObject): string {
  const { status: _status, metadata, ...rest } = obj as KubeObject & { status?: unknown };
  const m = metadata ?? {};
  const content = { ...rest, labels: m.labels, annotations: m.annotations };
  return createHash('sha256').update(JSON.stringify(content)).digest('hex').slice(0, 16);
}

export interface DesiredBinding extends KubeObject {
  readonly spec: BindingSpec;
}

function base(obj: KubeObject, spec: BindingSpec, labels: Record<string, string>): DesiredBinding {
  const meta = obj.metadata ?? {};
  const namespaced = meta.namespace !== undefined && meta.namespace !== '';
  const binding = {
    apiVersion: API_VERSION,
    kind: namespaced ? Kinds.ResourceBinding : Kinds.ClusterResourceBinding,
    metadata: {
      name: bindingName(obj),
      ...(namespaced && { namespace: meta.namespace }),
      labels,
      annotations: { 'meridian.dev/template-hash': templateHash(obj) } as Record<string, string>,
      ownerReferences: [
        {
          apiVersion: obj.apiVersion ?? '',
          kind: obj.kind ?? '',
          name: meta.name ?? '',
          uid: meta.uid ?? '',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec,
  };
  const hash = createHash('sha256').update(JSON.stringify(binding)).digest('hex').slice(0, 16);
  binding.metadata.annotations[DETECTOR_HASH_ANNOTATION] = hash;
  return binding;
}

function resourceRef(obj: KubeObject): BindingSpec['resource'] {
  const meta = obj.metadata ?? {};
  return {
    apiVersion: obj.apiVersion ?? '',
    kind: obj.kind ?? '',
    ...(meta.namespace && { namespace: meta.namespace }),
    name: meta.name ?? '',
    ...(meta.uid && { uid: meta.uid }),
  };
}

/** The binding a policy asks for: resource, replicas and per-replica requests, placement and options. */
export function bindingFor(obj: KubeObject, policy: AnyPropagationPolicy): DesiredBinding {
  const replicas = replicasOf(obj);
  const requests = replicaRequests(obj);
  const spec: BindingSpec = {
    resource: resourceRef(obj),
    ...(replicas !== undefined && { replicas }),
    ...(requests !== undefined && { replicaRequirements: { resourceRequest: requests } }),
    ...(policy.spec.placement && { placement: policy.spec.placement }),
    policyRef: {
      kind: policy.kind,
      ...(policy.metadata.namespace && { namespace: policy.metadata.namespace }),
      name: policy.metadata.name ?? '',
      ...(policy.metadata.uid && { uid: policy.metadata.uid }),
    },
    conflictResolution: policy.spec.conflictResolution ?? 'Abort',
    propagateDeps: policy.spec.propagateDeps ?? false,
    ...(policy.spec.suspension && { suspension: policy.spec.suspension }),
    ...(policy.spec.failover && { failover: policy.spec.failover }),
  };
  const labels: Record<string, string> = { [Labels.policyName]: policy.metadata.name ?? '' };
  if (policy.metadata.namespace) labels[Labels.policyNamespace] = policy.metadata.namespace;
  return base(obj, spec, labels);
}

/**
 * The binding of an object that workloads depend on (propagateDeps): placed exactly on the
 * union of its dependents' clusters, copied whole to each.
 */
export function dependencyBindingFor(
  obj: KubeObject,
  clusters: readonly string[],
  conflictResolution: 'Abort' | 'Overwrite',
): DesiredBinding {
  const spec: BindingSpec = {
    resource: resourceRef(obj),
    placement: {
      clusterAffinity: { clusterNames: [...clusters].sort() },
      replicaScheduling: { replicaSchedulingType: 'Duplicated' },
    },
    conflictResolution,
    propagateDeps: false,
  };
  return base(obj, spec, { [DEPENDENCY_LABEL]: 'true' });
}
