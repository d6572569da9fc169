/** The shape of one simulated member cluster: where it is and what its (kwok) nodes offer. */
export interface MemberSpec {
  readonly name: string;
  readonly region: string;
  readonly zone: string;
  readonly provider: string;
  readonly nodes: number;
  /** Allocatable per node, in Kubernetes quantity syntax. */
  readonly nodeCpu: string;
  readonly nodeMemory: string;
  readonly nodePods: number;
}

/**
 * The default fleet: three members in different regions and providers, with different
 * capacity so capacity-weighted placement has something to weigh.
 */
export const defaultMembers: readonly MemberSpec[] = [
  { name: 'us-east', region: 'us-east-1', zone: 'us-east-1a', provider: 'aws', nodes: 3, nodeCpu: '16', nodeMemory: '64Gi', nodePods: 110 },
  { name: 'eu-west', region: 'europe-west1', zone: 'europe-west1-b', provider: 'gcp', nodes: 2, nodeCpu: '8', nodeMemory: '32Gi', nodePods: 110 },
  { name: 'onprem-dc1', region: 'onprem-dc1', zone: 'dc1-hall-a', provider: 'onprem', nodes: 2, nodeCpu: '32', nodeMemory: '128Gi', nodePods: 110 },
]; // prettier-ignore

/** `count` members: the defaults first, then generated ones cycling through the same providers. */
export function membersFor(count: number): MemberSpec[] {
  const out: MemberSpec[] = [];
  for (let i = 0; i < count; i++) {
    const base = defaultMembers[i % defaultMembers.length] as MemberSpec;
    out.push(
      i < defaultMembers.length
        ? base
        : { ...base, name: `${base.name}-${Math.floor(i / defaultMembers.length) + 1}` },
    );
  }
  return out;
}

/** The Node objects kwok will manage for a member (kwok picks nodes by this annotation). */
export function nodeManifests(spec: MemberSpec): object[] {
  return Array.from({ length: spec.nodes }, (_, i) => {
    const resources = { cpu: spec.nodeCpu, memory: spec.nodeMemory, pods: String(spec.nodePods) };
    return {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: `${spec.name}-node-${i}`,
        annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
        labels: {
          'kubernetes.io/hostname': `${spec.name}-node-${i}`,
          'kubernetes.io/os': 'linux',
          'kubernetes.io/arch': 'amd64',
          'node.kubernetes.io/instance-type': 'kwok',
          'topology.kubernetes.io/region': spec.region,
          'topology.kubernetes.io/zone': spec.zone,
          'meridian.dev/provider': spec.provider,
          type: 'kwok',
        },
      },
      status: { allocatable: resources, capacity: resources },
    };
  });
}
