/**
 * Volume operations on the hub objects and the storage nodes themselves: create (place by
 * policy over the pool's StorageNodes, create the replicas, record the placement), resize
 * (grow every replica, then the spec), delete (drop every replica, then the object),
 * register a storage node, and the live view `meridian storage nodes` prints.
 */
import { API_VERSION, FIELD_MANAGER, Kinds } from '../../api/constants.ts';
import type { StorageNode } from '../../api/storage-node.ts';
import type { Volume, VolumeReplicaStatus, VolumeSpec } from '../../api/volume.ts';
import type { ApiClient } from '../../kube/api-client.ts';
import { AlreadyExistsError, NotFoundError } from '../../kube/errors.ts';
import type { KubeObject } from '../../kube/wire.ts';
import { StorageError } from '../errors.ts';
import { place, type NodeVerdict } from '../placement/place.ts';
import type { CandidateNode } from '../placement/policy.ts';
import { ReplicaClient } from '../volume/replica-client.ts';
import { probeNode, type NodeProbe } from './probe.ts';
import { StorageResources } from './resources.ts';

/** Placement refused: `reason` names the rule; `explanation` has every node's verdict. */
export class PlacementRefusedError extends StorageError {
  readonly explanation: readonly NodeVerdict[];
  constructor(reason: string, explanation: readonly NodeVerdict[]) {
    super('PlacementRefused', reason);
    this.explanation = explanation;
  }
}

type Pool = { node: StorageNode; probe: NodeProbe }[];

async function listNodes(hub: ApiClient, namespace: string): Promise<StorageNode[]> {
  return [...(await hub.list<StorageNode & KubeObject>(StorageResources.StorageNode, { namespace })).items];
}

async function pool(
  hub: ApiClient,
  namespace: string,
  volumes: (n: StorageNode) => string[] = () => [],
): Promise<Pool> {
  const nodes = await listNodes(hub, namespace);
  return Promise.all(
    nodes.map(async (node) => ({ node, probe: await probeNode(node.spec.endpoint, volumes(node)) })),
  );
}

function candidate({ node, probe }: Pool[number]): CandidateNode {
  const nodeId = node.metadata.name ?? '';
  if (!probe.ok) return { nodeId, labels: node.metadata.labels ?? {}, freeBytes: 0, health: 'unreachable' };
  const i = probe.info;
  const free = Math.max(0, Math.min(i.freeBytes, i.capacityBytes - i.allocatedBytes));
  return { nodeId, labels: i.labels, freeBytes: free, health: i.health };
}

function endpointOf(p: Pool, nodeId: string): { host: string; port: number } {
  const n = p.find((x) => x.node.metadata.name === nodeId)?.node;
  if (n === undefined) throw new StorageError('NotFound', `storage node ${nodeId} is not registered`);
  return n.spec.endpoint;
}

async function onNode<T>(
  endpoint: { host: string; port: number },
  fn: (c: ReplicaClient) => Promise<T>,
): Promise<T> {
  const c = await ReplicaClient.connect(endpoint);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

/**
 * Creates a volume: places it over the namespace's storage nodes (sovereignty first;
 * refused with {@link PlacementRefusedError}), creates the Volume object (the name is
 * claimed before any node is touched), creates the replicas on the chosen nodes (undone
 * if one fails), then records the placement in the status.
 */
export async function createVolume(
  hub: ApiClient,
  namespace: string,
  name: string,
  spec: VolumeSpec,
): Promise<Volume> {
  const total = spec.policy.replicas.reduce((n, r) => n + r.count, 0);
  if (spec.durability > total)
    throw new StorageError(
      'Invalid',
      `durability ${spec.durability} exceeds the ${total} replica(s) the policy asks for`,
    );
  const p = await pool(hub, namespace);
  if (p.length === 0)
    throw new PlacementRefusedError(
      `no storage nodes in namespace ${namespace}: register one with \`meridian storage register\``,
      [],
    );
  const placement = place(spec.policy, p.map(candidate), spec.sizeBytes);
  if (!placement.ok) throw new PlacementRefusedError(placement.reason, placement.explanation);
  const created = await hub.create<Volume & KubeObject>(StorageResources.Volume, {
    apiVersion: API_VERSION,
    kind: Kinds.Volume,
    metadata: { name, namespace },
    spec,
  });
  const opened: { host: string; port: number }[] = [];
  try {
    for (const r of placement.replicas) {
      const ep = endpointOf(p, r.nodeId);
      await onNode(ep, (c) => c.open(name, spec.sizeBytes, 1));
      opened.push(ep);
    }
  } catch (e) {
    for (const ep of opened) await onNode(ep, (c) => c.drop(name)).catch(() => undefined);
    await hub.delete(StorageResources.Volume, { namespace, name }).catch(() => undefined);
    throw e;
  }
  const replicas: VolumeReplicaStatus[] = placement.replicas.map((r) => ({ node: r.nodeId, rule: r.rule }));
  const status: KubeObject & { status: Volume['status'] } = {
    apiVersion: API_VERSION,
    kind: Kinds.Volume,
    metadata: { name: created.metadata.name, namespace },
    status: {
      phase: 'Placed',
      epoch: 1,
      replicas,
      placement: placement.explanation.map((v) => ({
        node: v.nodeId,
        verdict: v.verdict,
        reason: v.reason,
      })),
    },
  };
  return await hub.applyStatus<Volume & KubeObject>(StorageResources.Volume, status, {
    fieldManager: FIELD_MANAGER,
    force: true,
  });
}

async function getVolume(hub: ApiClient, namespace: string, name: string): Promise<Volume> {
  return await hub.get<Volume & KubeObject>(StorageResources.Volume, { namespace, name });
}

/** Grows every replica (idempotent), then the spec. Never shrinks. */
export async function resizeVolume(
  hub: ApiClient,
  namespace: string,
  name: string,
  sizeBytes: number,
): Promise<Volume> {
  const v = await getVolume(hub, namespace, name);
  if (sizeBytes < v.spec.sizeBytes)
    throw new StorageError('Invalid', `volume ${name} is ${v.spec.sizeBytes} bytes: it can grow, not shrink`);
  const p = await pool(hub, namespace);
  for (const r of v.status?.replicas ?? []) {
    await onNode(endpointOf(p, r.node), (c) => c.resize(name, sizeBytes)).catch((e: unknown) => {
      throw new StorageError('Unavailable', `storage node ${r.node}: ${(e as Error).message}`);
    });
  }
  return await hub.patch<Volume & KubeObject>(
    StorageResources.Volume,
    { namespace, name },
    { type: 'merge', patch: { spec: { sizeBytes } } },
  );
}

/**
 * Drops every replica, then deletes the object. A node that cannot be reached keeps the
 * object (so the delete can be retried) unless `force`, which deletes it anyway and
 * returns the nodes whose replicas were left behind.
 */
export async function deleteVolume(
  hub: ApiClient,
  namespace: string,
  name: string,
  force: boolean,
): Promise<{ leftOn: string[] }> {
  const v = await getVolume(hub, namespace, name);
  const p = await pool(hub, namespace);
  const failed: string[] = [];
  for (const r of v.status?.replicas ?? []) {
    try {
      await onNode(endpointOf(p, r.node), (c) => c.drop(name));
    } catch (e) {
      failed.push(`${r.node} (${(e as Error).message})`);
    }
  }
  if (failed.length > 0 && !force)
    throw new StorageError(
      'Unavailable',
      `could not delete the replicas on ${failed.join(', ')}; the Volume is kept (retry, or --force to delete it anyway)`,
    );
  await hub.delete(StorageResources.Volume, { namespace, name });
  return { leftOn: failed };
}

/** Registers (or updates) a storage node from what it reports about itself. */
export async function registerNode(
  hub: ApiClient,
  namespace: string,
  name: string,
  endpoint: { host: string; port: number },
): Promise<StorageNode> {
  const probe = await probeNode(endpoint);
  if (!probe.ok)
    throw new StorageError(
      'Unavailable',
      `no storage node answers at ${endpoint.host}:${endpoint.port}: ${probe.error}`,
    );
  if (probe.info.nodeId !== name)
    throw new StorageError(
      'Invalid',
      `the node at ${endpoint.host}:${endpoint.port} is ${probe.info.nodeId}, not ${name}: register it under its own id`,
    );
  const meta = { name, namespace, labels: { ...probe.info.labels } };
  const obj: KubeObject & { spec: StorageNode['spec'] } = {
    apiVersion: API_VERSION,
    kind: Kinds.StorageNode,
    metadata: meta,
    spec: { endpoint },
  };
  await hub.apply(StorageResources.StorageNode, obj, { fieldManager: FIELD_MANAGER, force: true });
  const status: KubeObject & { status: StorageNode['status'] } = {
    apiVersion: API_VERSION,
    kind: Kinds.StorageNode,
    metadata: { name, namespace },
    status: {
      health: probe.info.health,
      capacityBytes: probe.info.capacityBytes,
      allocatedBytes: probe.info.allocatedBytes,
      freeBytes: probe.info.freeBytes,
      volumes: probe.info.volumes,
      checksumErrors: probe.info.checksumErrors,
      lastProbeTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    },
  };
  return await hub.applyStatus<StorageNode & KubeObject>(StorageResources.StorageNode, status, {
    fieldManager: FIELD_MANAGER,
    force: true,
  });
}

export type ReplicaView = {
  readonly volume: string;
  /** `present` on the node (from its own endpoint), `missing`, or `unknown` (node unreachable). */
  readonly onNode: 'present' | 'missing' | 'unknown';
  /** The frontend's view (absent: no frontend has reported). */
  readonly state: string | null;
  readonly appliedSeq: number | null;
  /** Writes behind the volume's head (the highest seq any of its replicas or its frontend reports). */
  readonly lagWrites: number | null;
  readonly ewmaMs: number | null;
  readonly p99Ms: number | null;
  readonly rebuilding: boolean;
};

export type NodeView = {
  readonly name: string;
  readonly endpoint: string;
  readonly health: string;
  readonly error: string | null;
  /** Round trip from here to the node (median of three requests). */
  readonly rttMs: number | null;
  readonly labels: Readonly<Record<string, string>>;
  readonly capacityBytes: number | null;
  readonly allocatedBytes: number | null;
  readonly freeBytes: number | null;
  readonly replicas: readonly ReplicaView[];
};

/** Every storage node of the namespace with its replicas: live from the nodes, plus what frontends reported. */
export async function storageNodesView(hub: ApiClient, namespace: string): Promise<NodeView[]> {
  const volumes = (await hub.list<Volume & KubeObject>(StorageResources.Volume, { namespace })).items;
  const on = (node: string): Volume[] =>
    volumes.filter((v) => (v.status?.replicas ?? []).some((r) => r.node === node));
  const p = await pool(hub, namespace, (n) => on(n.metadata.name ?? '').map((v) => v.metadata.name ?? ''));
  const head = new Map<string, number>();
  for (const v of volumes) head.set(v.metadata.name ?? '', v.status?.headSeq ?? 0);
  for (const { probe } of p)
    if (probe.ok)
      for (const [vol, pos] of probe.volumes) head.set(vol, Math.max(head.get(vol) ?? 0, pos.appliedSeq));
  return p
    .map(({ node, probe }): NodeView => {
      const name = node.metadata.name ?? '';
      const replicas = on(name).map((v): ReplicaView => {
        const vol = v.metadata.name ?? '';
        const reported = v.status?.replicas?.find((r) => r.node === name);
        const pos = probe.ok ? probe.volumes.get(vol) : undefined;
        const applied = pos?.appliedSeq ?? reported?.appliedSeq ?? null;
        return {
          volume: vol,
          onNode: !probe.ok ? 'unknown' : pos === undefined ? 'missing' : 'present',
          state: reported?.state ?? null,
          appliedSeq: applied,
          lagWrites: applied === null ? null : Math.max(0, (head.get(vol) ?? 0) - applied),
          ewmaMs: reported?.ewmaMs ?? null,
          p99Ms: reported?.p99Ms ?? null,
          rebuilding: pos?.rebuilding ?? reported?.rebuilding ?? false,
        };
      });
      return {
        name,
        endpoint: `${node.spec.endpoint.host}:${node.spec.endpoint.port}`,
        health: probe.ok ? probe.info.health : 'unreachable',
        error: probe.ok ? null : probe.error,
        rttMs: probe.ok ? probe.rttMs : null,
        labels: probe.ok ? probe.info.labels : (node.metadata.labels ?? {}),
        capacityBytes: probe.ok ? probe.info.capacityBytes : null,
        allocatedBytes: probe.ok ? probe.info.allocatedBytes : null,
        freeBytes: probe.ok ? probe.info.freeBytes : null,
        replicas,
      };
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export async function listVolumes(hub: ApiClient, namespace: string): Promise<Volume[]> {
  return [...(await hub.list<Volume & KubeObject>(StorageResources.Volume, { namespace })).items];
}

export { AlreadyExistsError, NotFoundError };
