import { parseQuantityMilli } from '../../api/quantity.ts';
import type { KubeObject } from '../../kube/wire.ts';

/** Kinds whose `spec.replicas` Meridian divides among clusters. */
const replicated = new Set(['apps/v1/Deployment', 'apps/v1/StatefulSet', 'apps/v1/ReplicaSet']);

interface Container {
  resources?: { requests?: Record<string, string> };
  env?: { valueFrom?: { configMapKeyRef?: { name?: string }; secretKeyRef?: { name?: string } } }[];
  envFrom?: { configMapRef?: { name?: string }; secretRef?: { name?: string } }[];
}

interface PodSpec {
  containers?: Container[];
  initContainers?: Container[];
  serviceAccountName?: string;
  imagePullSecrets?: { name?: string }[];
  volumes?: {
    configMap?: { name?: string };
    secret?: { secretName?: string };
    persistentVolumeClaim?: { claimName?: string };
    projected?: { sources?: { configMap?: { name?: string }; secret?: { name?: string } }[] };
  }[];
}

/** The pod template of a workload kind (Deployment, StatefulSet, DaemonSet, Job, ReplicaSet, CronJob, Pod). */
export function podSpecOf(obj: KubeObject): PodSpec | undefined {
  const o = obj as {
    kind?: string;
    spec?: { template?: { spec?: PodSpec }; jobTemplate?: { spec?: { template?: { spec?: PodSpec } } } };
  };
  if (o.kind === 'Pod') return (obj as { spec?: PodSpec }).spec;
  return o.spec?.template?.spec ?? o.spec?.jobTemplate?.spec?.template?.spec;
}

/** `spec.replicas` for kinds Meridian divides (default 1), else `undefined` (duplicated as is). */
export function replicasOf(obj: KubeObject): number | undefined {
  if (!replicated.has(`${obj.apiVersion}/${obj.kind}`)) return undefined;
  const r = (obj as { spec?: { replicas?: number } }).spec?.replicas;
  return typeof r === 'number' ? r : 1;
}

/** Whether `replicasOf` applies, i.e. a divided placement may set `spec.replicas` per cluster. */
export function hasReplicas(apiVersion: string, kind: string): boolean {
  return replicated.has(`${apiVersion}/${kind}`);
}

/** Requests of one replica: the sum over the pod template's containers. */
export function replicaRequests(obj: KubeObject): Record<string, string> | undefined {
  const containers = podSpecOf(obj)?.containers ?? [];
  const milli = new Map<string, bigint>();
  for (const c of containers) {
    for (const [name, q] of Object.entries(c.resources?.requests ?? {})) {
      milli.set(name, (milli.get(name) ?? 0n) + parseQuantityMilli(q));
    }
  }
  if (milli.size === 0) return undefined;
  // Whole units where exact (memory in bytes), else milli-units (cpu).
  return Object.fromEntries(
    [...milli].map(([name, m]) => [name, m % 1000n === 0n ? `${m / 1000n}` : `${m}m`]),
  );
}

export interface Dependency {
  readonly apiVersion: 'v1';
  readonly kind: 'ConfigMap' | 'Secret' | 'ServiceAccount' | 'PersistentVolumeClaim';
  readonly name: string;
}

/** The ConfigMaps, Secrets, ServiceAccount and PVCs a workload's pod template references, deduplicated and sorted. */
export function dependenciesOf(obj: KubeObject): Dependency[] {
  const spec = podSpecOf(obj);
  if (spec === undefined) return [];
  const out = new Map<string, Dependency>();
  const add = (kind: Dependency['kind'], name: string | undefined) => {
    if (name) out.set(`${kind}/${name}`, { apiVersion: 'v1', kind, name });
  };
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
    for (const e of c.env ?? []) {
      add('ConfigMap', e.valueFrom?.configMapKeyRef?.name);
      add('Secret', e.valueFrom?.secretKeyRef?.name);
    }
    for (const e of c.envFrom ?? []) {
      add('ConfigMap', e.configMapRef?.name);
      add('Secret', e.secretRef?.name);
    }
  }
  for (const v of spec.volumes ?? []) {
    add('ConfigMap', v.configMap?.name);
    add('Secret', v.secret?.secretName);
    add('PersistentVolumeClaim', v.persistentVolumeClaim?.claimName);
    for (const s of v.projected?.sources ?? []) {
      add('ConfigMap', s.configMap?.name);
      add('Secret', s.secret?.name);
    }
  }
  for (const s of spec.imagePullSecrets ?? []) add('Secret', s.name);
  if (spec.serviceAccountName && spec.serviceAccountName !== 'default')
    add('ServiceAccount', spec.serviceAccountName);
  return [...out.values()].sort((a, b) => `${a.kind}/${a.name}`.localeCompare(`${b.kind}/${b.name}`));
}
