/**
 * How many more replicas of a pod template fit in a cluster, from the cluster's reported
 * `status.resourceSummary.available` and the template's per-replica requests.
 */
import { parseQuantityMilli, type Cluster, type ReplicaRequirements } from '../../api/index.ts';

/** Cap for "no limit known", as Karmada's estimator uses (MaxInt32). */
export const UNLIMITED_REPLICAS = 2_147_483_647;

/**
 * Replicas that fit: the minimum over requested resources of `available / request`, and
 * over `pods` (one per replica) when the cluster reports it.
 *
 * Assumptions: a cluster with no `available` summary fits 0 (unknown capacity is not
 * capacity); a requested resource the cluster doesn't report fits 0; with no requests and
 * no pods figure the result is {@link UNLIMITED_REPLICAS}. An unparsable quantity counts as 0.
 */
export function availableReplicas(cluster: Cluster, requirements: ReplicaRequirements | undefined): number {
  const available = cluster.status?.resourceSummary?.available;
  if (!available) return 0;
  const milli = (q: string | number | undefined): bigint | undefined => {
    if (q === undefined) return undefined;
    try {
      return parseQuantityMilli(q);
    } catch {
      return 0n;
    }
  };
  let fit = BigInt(UNLIMITED_REPLICAS);
  const requests: Record<string, string | number> = { ...requirements?.resourceRequest };
  if (available['pods'] !== undefined && requests['pods'] === undefined) requests['pods'] = 1;
  for (const [resource, request] of Object.entries(requests)) {
    const need = milli(request) ?? 0n;
    if (need <= 0n) continue;
    const have = milli(available[resource]) ?? 0n;
    const n = have <= 0n ? 0n : have / need;
    if (n < fit) fit = n;
  }
  return Number(fit);
}
