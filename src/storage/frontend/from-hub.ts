import { KubeConfig } from '@kubernetes/client-node';
import type { StorageNode } from '../../api/storage-node.ts';
import type { Volume } from '../../api/volume.ts';
import { ApiClient } from '../../kube/api-client.ts';
import type { KubeObject } from '../../kube/wire.ts';
import { StorageError } from '../errors.ts';
import { StorageResources } from '../ops/resources.ts';
import type { StorageNodeRef } from '../volume/replica-replacer.ts';
import type { FrontendConfig } from './args.ts';

/** The hub client for a frontend's `--hub-kubeconfig`. */
export async function hubClient(kubeconfig: string): Promise<ApiClient> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return ApiClient.fromKubeConfig(kc, { userAgent: 'meridian-volume-frontend' });
}

/**
 * What a frontend serves, from the Volume object (size, ack mode, durability, placed
 * replicas) and the StorageNodes' endpoints; also each replica's placement rule.
 */
export async function volumeFromHub(
  hub: ApiClient,
  namespace: string,
  name: string,
): Promise<{
  config: Pick<FrontendConfig, 'volume' | 'sizeBytes' | 'replicas' | 'ack' | 'durability'>;
  rules: Map<string, number>;
  policy: Volume['spec']['policy'];
}> {
  const v = await hub.get<Volume & KubeObject>(StorageResources.Volume, { namespace, name });
  const placed = v.status?.replicas ?? [];
  if (placed.length === 0)
    throw new StorageError(
      'Invalid',
      `volume ${namespace}/${name} has no placed replicas (phase ${v.status?.phase ?? 'none'})`,
    );
  const nodes = (await hub.list<StorageNode & KubeObject>(StorageResources.StorageNode, { namespace })).items;
  const replicas = placed.map((r) => {
    const n = nodes.find((x) => x.metadata.name === r.node);
    if (n === undefined)
      throw new StorageError('NotFound', `storage node ${r.node} of volume ${name} is not registered`);
    return { nodeId: r.node, endpoint: n.spec.endpoint };
  });
  return {
    config: {
      volume: name,
      sizeBytes: v.spec.sizeBytes,
      replicas,
      ack: v.spec.ackMode,
      durability: v.spec.durability,
    },
    rules: new Map(placed.map((r) => [r.node, r.rule])),
    policy: v.spec.policy,
  };
}

/** The pool's storage nodes and their endpoints, as the hub lists them now. */
export async function poolFromHub(hub: ApiClient, namespace: string): Promise<StorageNodeRef[]> {
  const nodes = (await hub.list<StorageNode & KubeObject>(StorageResources.StorageNode, { namespace })).items;
  return nodes.map((n) => ({ nodeId: n.metadata.name ?? '', endpoint: n.spec.endpoint }));
}
