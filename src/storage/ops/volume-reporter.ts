import { API_VERSION, Kinds } from '../../api/constants.ts';
import type { Volume } from '../../api/volume.ts';
import type { ApiClient } from '../../kube/api-client.ts';
import type { KubeObject } from '../../kube/wire.ts';
import type { ReplicatedVolume } from '../volume/replicated-volume.ts';
import { StorageResources } from './resources.ts';

/** Field manager of a frontend's reports: it owns the live replica fields of the status. */
export const FRONTEND_MANAGER = 'meridian-volume-frontend';

/**
 * Publishes a volume frontend's view to its Volume's status every `intervalMs`: epoch,
 * head seq and per replica its state, applied seq, lag and write latency (EWMA and p99).
 * At most one write in flight (a slow hub skips reports, it does not queue them); a
 * failed write is retried at the next tick. `rules` gives each replica's placement rule
 * (they change when a lost replica is rebuilt elsewhere).
 */
export class VolumeReporter {
  readonly #hub: ApiClient;
  readonly #ref: { namespace: string; name: string };
  readonly #volume: ReplicatedVolume;
  readonly #rules: () => ReadonlyMap<string, number>;
  readonly #timer: NodeJS.Timeout;
  #inFlight: Promise<void> | undefined;
  lastError: unknown;

  constructor(
    hub: ApiClient,
    ref: { namespace: string; name: string },
    volume: ReplicatedVolume,
    rules: () => ReadonlyMap<string, number>,
    intervalMs = 2000,
  ) {
    this.#hub = hub;
    this.#ref = ref;
    this.#volume = volume;
    this.#rules = rules;
    this.#timer = setInterval(() => void this.report(), intervalMs);
    this.#timer.unref();
  }

  /** Writes one report now (or joins the one in flight). */
  report(): Promise<void> {
    this.#inFlight ??= this.#write().finally(() => (this.#inFlight = undefined));
    return this.#inFlight;
  }

  async #write(): Promise<void> {
    const s = this.#volume.status();
    const round = (x: number | undefined): number | undefined =>
      x === undefined ? undefined : Math.round(x * 1000) / 1000;
    const patch: KubeObject & { status: Volume['status'] } = {
      apiVersion: API_VERSION,
      kind: Kinds.Volume,
      metadata: this.#ref,
      status: {
        epoch: s.epoch,
        headSeq: s.headSeq,
        reportedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        replicas: s.replicas.map((r) => ({
          node: r.nodeId,
          rule: this.#rules().get(r.nodeId) ?? 0,
          state: r.state,
          appliedSeq: r.appliedSeq,
          lagWrites: r.lagWrites,
          rebuilding: r.rebuilding,
          ...(r.ewmaMs === undefined ? {} : { ewmaMs: round(r.ewmaMs) }),
          ...(r.p99Ms === undefined ? {} : { p99Ms: round(r.p99Ms) }),
        })),
      },
    };
    try {
      await this.#hub.applyStatus(StorageResources.Volume, patch, {
        fieldManager: FRONTEND_MANAGER,
        force: true,
      });
      this.lastError = undefined;
    } catch (e) {
      this.lastError = e;
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
