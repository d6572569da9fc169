import type { TunnelSession } from '../tunnel/session.ts';

export interface AgentConnection {
  readonly cluster: string;
  readonly session: TunnelSession;
  /** Remote address of the agent, for logs. */
  readonly remote: string;
  readonly connectedAt: Date;
}

/**
 * The agents connected to this gateway, by cluster. A cluster may have several agents;
 * `pick` spreads new streams over them (fewest open streams first). A session is removed as
 * soon as it closes, so a dead agent gets no new streams.
 */
export class AgentRegistry {
  readonly #byCluster = new Map<string, Set<AgentConnection>>();
  readonly #waiters = new Set<{ cluster: string; resolve: () => void }>();

  add(conn: AgentConnection): void {
    let set = this.#byCluster.get(conn.cluster);
    if (set === undefined) this.#byCluster.set(conn.cluster, (set = new Set()));
    set.add(conn);
    void conn.session.closed.then(() => this.#remove(conn));
    for (const w of this.#waiters) {
      if (w.cluster !== conn.cluster) continue;
      this.#waiters.delete(w);
      w.resolve();
    }
  }

  /** The connection to use for a new stream to `cluster`, or undefined when none is up. */
  pick(cluster: string): AgentConnection | undefined {
    let best: AgentConnection | undefined;
    for (const c of this.#byCluster.get(cluster) ?? []) {
      if (c.session.isClosed) continue;
      if (best === undefined || c.session.streamCount < best.session.streamCount) best = c;
    }
    return best;
  }

  connections(cluster?: string): AgentConnection[] {
    if (cluster !== undefined) return [...(this.#byCluster.get(cluster) ?? [])];
    return [...this.#byCluster.values()].flatMap((s) => [...s]);
  }

  /** Resolves once `cluster` has a connected agent (at once if it has one). */
  connected(cluster: string, signal?: AbortSignal): Promise<void> {
    if (this.pick(cluster) !== undefined) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = { cluster, resolve };
      this.#waiters.add(w);
      signal?.addEventListener(
        'abort',
        () => {
          this.#waiters.delete(w);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }

  /** Closes every agent session (gateway shutdown). */
  closeAll(): void {
    for (const c of this.connections()) c.session.close();
  }

  #remove(conn: AgentConnection): void {
    const set = this.#byCluster.get(conn.cluster);
    if (set === undefined) return;
    set.delete(conn);
    if (set.size === 0) this.#byCluster.delete(conn.cluster);
  }
}
