import { StorageError } from '../errors.ts';
import { place, type Placement } from '../placement/place.ts';
import type { CandidateNode, VolumePolicy } from '../placement/policy.ts';
import { ReplicaClient, type Endpoint } from './replica-client.ts';
import type { ReplicatedVolume, ReplicaState } from './replicated-volume.ts';

/** A storage node that may receive a replica; its labels and space come from its own `nodeInfo`. */
export type StorageNodeRef = { readonly nodeId: string; readonly endpoint: Endpoint };

export type ReplacerOptions = {
  readonly volume: ReplicatedVolume;
  readonly policy: VolumePolicy;
  readonly sizeBytes: number;
  /** Which policy rule each current replica fills (from the placement that created the volume). */
  readonly rules: ReadonlyMap<string, number>;
  /** Storage nodes known to the control plane, members included (they are skipped); asked at each decision. */
  readonly nodes: () => readonly StorageNodeRef[] | Promise<readonly StorageNodeRef[]>;
  /** A replica down (or diverged, or needing a rebuild) this long is lost: it is replaced. */
  readonly lostAfterMs: number;
  /** Bounds a node's `nodeInfo` answer; an unreachable node is a candidate with health `unreachable`. */
  readonly probeTimeoutMs?: number;
  /** Every decision, chosen or refused, with the placement's explanation. */
  readonly onDecision?: (d: ReplacementDecision) => void;
};

export type ReplacementDecision = {
  readonly lost: string;
  readonly placement: Placement;
  /** Set when the rebuild ran: its outcome. */
  readonly result?: 'rebuilt' | { readonly error: string };
};

const LOST_STATES: readonly ReplicaState[] = ['down', 'diverged', 'needs-rebuild'];

/**
 * Rebuilds lost replicas of one volume on other nodes the policy allows.
 *
 * A replica in `down`, `diverged` or `needs-rebuild` for `lostAfterMs` is lost. Placement
 * is re-run for the rule it filled, over the known nodes minus the volume's members and
 * the lost node, with the policy's sovereignty rules unchanged (so a forbidden node is
 * never chosen, however close); then `volume.replaceReplica` copies the data there while
 * writes continue. Waits are event-driven (`volume.waitFor`) plus one grace timer; a
 * refused placement or failed rebuild is retried with backoff (up to 30 s).
 */
export class ReplicaReplacer {
  readonly #o: ReplacerOptions;
  readonly #rules: Map<string, number>;

  /** Which policy rule each current replica fills (updated by every rebuild). */
  get rules(): ReadonlyMap<string, number> {
    return this.#rules;
  }
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;
  readonly done: Promise<void>;

  constructor(opts: ReplacerOptions) {
    this.#o = opts;
    this.#rules = new Map(opts.rules);
    this.done = this.#run().catch(() => undefined);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#wake?.();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
      this.#timer = setTimeout(resolve, ms);
    });
  }

  #lost(): string | undefined {
    return this.#o.volume.status().replicas.find((r) => LOST_STATES.includes(r.state))?.nodeId;
  }

  async #run(): Promise<void> {
    let backoff = this.#o.lostAfterMs;
    while (!this.#stopped) {
      await this.#o.volume.waitFor((s) => s.replicas.some((r) => LOST_STATES.includes(r.state)));
      const first = this.#lost();
      await this.#sleep(this.#o.lostAfterMs);
      if (this.#stopped) return;
      const lost = this.#lost();
      if (lost === undefined || lost !== first) continue; // came back (or another one: its own grace)
      const ok = await this.#replace(lost);
      backoff = ok ? this.#o.lostAfterMs : Math.min(backoff * 2, 30_000);
      if (!ok) await this.#sleep(backoff);
    }
  }

  /** Places and rebuilds one lost replica; false if placement refused or the rebuild failed. */
  async #replace(lost: string): Promise<boolean> {
    const members = new Set(this.#o.volume.status().replicas.map((r) => r.nodeId));
    let known: readonly StorageNodeRef[];
    try {
      known = await this.#o.nodes();
    } catch {
      return false; // the directory (the hub) is unreachable: retried with backoff
    }
    const nodes = known.filter((n) => !members.has(n.nodeId));
    const candidates = await Promise.all(nodes.map((n) => this.#probe(n)));
    const ruleIndex = this.#rules.get(lost) ?? 0;
    const rule = this.#o.policy.replicas[ruleIndex];
    if (rule === undefined) throw new StorageError('Invalid', `policy has no replicas[${ruleIndex}]`);
    const placement = place(
      { ...this.#o.policy, replicas: [{ selector: rule.selector, count: 1 }] },
      candidates,
      this.#o.sizeBytes,
    );
    if (!placement.ok) {
      this.#o.onDecision?.({ lost, placement });
      return false;
    }
    const nodeId = (placement.replicas[0] as { nodeId: string }).nodeId;
    const target = nodes.find((n) => n.nodeId === nodeId) as StorageNodeRef;
    try {
      await this.#o.volume.replaceReplica(lost, { nodeId, endpoint: target.endpoint });
      this.#rules.delete(lost);
      this.#rules.set(nodeId, ruleIndex);
      this.#o.onDecision?.({ lost, placement, result: 'rebuilt' });
      return true;
    } catch (e) {
      this.#o.onDecision?.({ lost, placement, result: { error: String(e) } });
      return false;
    }
  }

  async #probe(n: StorageNodeRef): Promise<CandidateNode> {
    const timeoutMs = this.#o.probeTimeoutMs ?? 2000;
    let client: ReplicaClient | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      const info = await Promise.race([
        ReplicaClient.connect(n.endpoint).then((c) => {
          client = c;
          return c.nodeInfo();
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new StorageError('Unavailable', 'no answer')), timeoutMs);
        }),
      ]);
      return { nodeId: n.nodeId, labels: info.labels, freeBytes: info.freeBytes, health: info.health };
    } catch {
      return { nodeId: n.nodeId, labels: {}, freeBytes: 0, health: 'unreachable' };
    } finally {
      clearTimeout(timer);
      client?.close();
    }
  }
}
