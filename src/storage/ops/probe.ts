import { StorageError } from '../errors.ts';
import type { NodeInfo, ReplicaPosition } from '../protocol/messages.ts';
import { ReplicaClient, type Endpoint } from '../volume/replica-client.ts';

export type NodeProbe =
  | {
      readonly ok: true;
      readonly info: NodeInfo;
      /** Median round trip of a few `nodeInfo` requests from here, in ms. */
      readonly rttMs: number;
      /** Position of each asked-for volume on this node (absent: the node has no replica of it). */
      readonly volumes: ReadonlyMap<string, ReplicaPosition>;
    }
  | { readonly ok: false; readonly error: string };

/**
 * Asks a storage node, over its own endpoint, for its info and the positions of `volumes`.
 * Bounded by `timeoutMs` overall; an unreachable node is a result, not an exception.
 */
export async function probeNode(
  endpoint: Endpoint,
  volumes: readonly string[] = [],
  timeoutMs = 3000,
): Promise<NodeProbe> {
  let client: ReplicaClient | undefined;
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const work = async (): Promise<NodeProbe> => {
    client = await ReplicaClient.connect(endpoint);
    if (timedOut) client.close();
    const rtts: number[] = [];
    let info: NodeInfo | undefined;
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      info = await client.nodeInfo();
      rtts.push(performance.now() - t);
    }
    const positions = new Map<string, ReplicaPosition>();
    for (const v of volumes) {
      try {
        positions.set(v, await client.status(v));
      } catch (e) {
        if (!(e instanceof StorageError && e.code === 'NotFound')) throw e;
      }
    }
    rtts.sort((a, b) => a - b);
    return { ok: true, info: info as NodeInfo, rttMs: rtts[1] ?? 0, volumes: positions };
  };
  try {
    return await Promise.race([
      work(),
      new Promise<NodeProbe>((resolve) => {
        timer = setTimeout(() => {
          timedOut = true;
          resolve({ ok: false, error: `no answer within ${timeoutMs} ms` });
        }, timeoutMs);
      }),
    ]);
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  } finally {
    clearTimeout(timer);
    client?.close();
  }
}
