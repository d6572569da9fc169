import { StaleEpochError, StorageError } from '../errors.ts';
import type { BlockDevice } from '../nbd/block-device.ts';
import { MAX_DATA, type ReplicaPosition, type WriteEntry, type WriteKind } from '../protocol/messages.ts';
import type { ReplicaLink } from '../protocol/replica-link.ts';
import { LatencyEstimate } from './latency.ts';
import { ReplicaClient, type Endpoint } from './replica-client.ts';

/**
 * When a plain write is acknowledged. FLUSH and FUA writes additionally wait, in every
 * mode, until `durability` replicas hold the data durably (see docs/storage.md).
 */
export type AckMode = 'fastest' | 'quorum' | 'all';

/** A storage node in this process that a frontend can reach without TCP. */
export type ColocatedNode = { connectLocal(): Promise<ReplicaLink> };

/**
 * Where a replica lives: a storage node reached over TCP, or one in this process
 * (`colocated`, e.g. a `StorageNode`), reached by direct calls with the same semantics.
 */
export type ReplicaSpec =
  | { readonly nodeId: string; readonly endpoint: Endpoint }
  | { readonly nodeId: string; readonly colocated: ColocatedNode };

export type VolumeSpec = {
  readonly id: string;
  readonly sizeBytes: number;
  readonly replicas: readonly ReplicaSpec[];
  readonly ackMode: AckMode;
  /** Replicas that must have data durably before FLUSH/FUA is acknowledged. */
  readonly durability: number;
  /** Node ids allowed to acknowledge a plain write in `fastest` mode (default: all). */
  readonly ackEligible?: readonly string[];
  /** Bound on bytes not yet applied by some in-sync replica; writes wait beyond it. */
  readonly maxLagBytes?: number;
  /** Fencing epoch for this frontend; default: one above the highest any replica has seen. */
  readonly epoch?: number;
  /**
   * `fastest` with an in-sync co-located replica: TCP replicas are then off the ack path,
   * and their writes are sent in batches at most this old (default 5 ms; 0 = at once),
   * or once 1 MiB is waiting, or at once for FUA and FLUSH. Fewer, fuller segments: one
   * wakeup per batch on the node and for its replies here, instead of one per write.
   */
  readonly asyncBatchMs?: number;
  /**
   * Consecutive plain writes waiting for a TCP replica go as one `writeBatch` frame with
   * one reply (cumulative acknowledgement). Default true; false sends one frame and gets
   * one reply per write (the behaviour before; kept for the benchmark's comparison).
   */
  readonly batchAcks?: boolean;
};

export type ReplicaState = 'connecting' | 'catching-up' | 'in-sync' | 'down' | 'diverged' | 'needs-rebuild';

/** A replica as the frontend sees it (reported by `status()`). */
export type ReplicaStatus = {
  readonly nodeId: string;
  /** `local`: a co-located node reached by direct calls; `tcp`: the replication protocol. */
  readonly link: 'local' | 'tcp';
  readonly state: ReplicaState;
  readonly appliedSeq: number;
  readonly durableSeq: number;
  readonly lagWrites: number;
  readonly ewmaMs: number | undefined;
  readonly p99Ms: number | undefined;
  /** Log records and payload bytes replayed to this replica by catch-up since open. */
  readonly caughtUpWrites: number;
  readonly caughtUpBytes: number;
  /** A rebuild copy onto this (new) replica is running: it neither acknowledges nor serves reads. */
  readonly rebuilding: boolean;
  /** Bytes copied to it by its rebuild so far (all-zero chunks are skipped, not counted). */
  readonly rebuiltBytes: number;
  readonly lastError: string | undefined;
};

type Replica = {
  readonly nodeId: string;
  readonly spec: ReplicaSpec;
  client: ReplicaLink | undefined;
  state: ReplicaState;
  appliedSeq: number;
  appliedEpoch: number;
  durableSeq: number;
  /** Highest seq handed to the connection (in-sync replicas only). */
  sentSeq: number;
  /** May acknowledge plain writes (every replica, except in `fastest` with `ackEligible`). */
  readonly eligible: boolean;
  readonly latency: LatencyEstimate;
  caughtUpWrites: number;
  caughtUpBytes: number;
  /** Data incomplete (rebuild copy running or interrupted): not counted, not read from. */
  rebuilding: boolean;
  rebuiltBytes: number;
  lastError: string | undefined;
  /** Catch-up is parked until some replica holds the writes it needs. */
  awaitingSource: boolean;
  reconnectDelayMs: number;
  timer: NodeJS.Timeout | undefined;
};

type Waiter = { check: () => boolean | Error; resolve: () => void; reject: (e: Error) => void };
type SeqWaiter = { seq: number; resolve: () => void; reject: (e: Error) => void };
type RoomWaiter = { bytes: number; resolve: () => void; reject: (e: Error) => void };

const CATCH_UP_BATCH = 4 * 1024 * 1024;
/**
 * Bounds of one cumulative-ack batch to a TCP replica. Small: a node applies nothing of a
 * frame before all of it arrived, so large writes batched together lose their pipelining
 * (1 MiB writes in 4 MiB batches streamed 40% slower); a large write goes alone.
 */
const BATCH_MAX_WRITES = 256;
const BATCH_MAX_BYTES = 256 * 1024;
/** Rebuild copy unit: writes to the chunk being copied wait about one source read. */
const REBUILD_CHUNK = 1024 * 1024;

/** The range a rebuild is copying; writes overlapping it wait for `released`. */
type CopyLock = { readonly offset: number; readonly end: number; readonly released: Promise<void> };
/** Deferred bytes for off-ack-path replicas that trigger a send before the batch timer. */
const ASYNC_BATCH_BYTES = 1024 * 1024;

/**
 * A replicated volume frontend: assigns each write the next sequence number under this
 * frontend's epoch, sends it to every in-sync replica in order (pipelined), and
 * acknowledges per {@link AckMode}. Implements {@link BlockDevice} for the NBD server.
 *
 * Guarantees:
 * - Writes are applied by every replica in seq order; a replica that missed writes
 *   (disconnect, gap) replays them from a peer's write log, never from a full copy.
 * - Memory: unapplied writes held for in-sync replicas never exceed `maxLagBytes`
 *   (except one write larger than that); new writes wait, first come first served.
 * - Reads go to the lowest-latency replica that has applied every acknowledged write.
 * - A replica that reports a newer epoch fences this frontend: every later call fails.
 * - Co-located replicas (`colocated`) obey the same order, epoch and durability rules as
 *   TCP ones: the node runs the same checks; only the transport differs.
 * Cost: acknowledging is O(replicas) per replica reply (a write waits in a FIFO by seq,
 * released when the ack frontier passes it), not O(waiting writes).
 * Assumptions: one frontend per epoch; the control plane allocates epochs (or `open`
 * picks max + 1 when it can reach enough replicas to intersect every durability set).
 */
export class ReplicatedVolume implements BlockDevice {
  readonly #spec: VolumeSpec;
  /** Membership; a rebuild replaces the lost replica's entry in place. */
  readonly #replicas: Replica[];
  /** Writes not yet applied by every in-sync replica, by seq (insertion = seq order). */
  readonly #ring = new Map<number, WriteEntry>();
  readonly #fuaSeqs = new Set<number>();
  readonly #maxLagBytes: number;
  readonly #ackNeed: number;
  /** Bytes of ring entries plus room granted to writes not yet in the ring. */
  #ringBytes = 0;
  #epoch = 0;
  #headSeq = 0;
  /** Epoch of the entry at `#headSeq` (the base a rebuild target starts from). */
  #headEpoch = 0;
  #copyLock: CopyLock | undefined;
  #rebuild: Promise<void> | undefined;
  /** Highest seq acknowledged to a caller: reads must see at least this. */
  #ackedSeq = 0;
  /** Plain-write acknowledgements, in seq order (seqs are pushed as they are assigned). */
  #ackQueue: SeqWaiter[] = [];
  #ackHead = 0;
  /** FLUSH and FUA waiters for durability (few; scanned). */
  #durableWaiters: SeqWaiter[] = [];
  /** Writes waiting for room under `maxLagBytes`, FIFO. */
  readonly #roomQueue: RoomWaiter[] = [];
  /** Other conditions (catch-up, `waitFor`, `settled`), re-checked on every change. */
  #waiters: Waiter[] = [];
  #fenced: Error | undefined;
  #closed = false;
  readonly #asyncBatchMs: number;
  readonly #batchAcks: boolean;
  #asyncTimer: NodeJS.Timeout | undefined;
  #asyncBytes = 0;
  readonly #sendDeferred = (): void => {
    this.#asyncTimer = undefined;
    this.#asyncBytes = 0;
    for (const r of this.#replicas) this.#pump(r);
  };

  private constructor(spec: VolumeSpec) {
    this.#spec = spec;
    this.#maxLagBytes = spec.maxLagBytes ?? 64 * 1024 * 1024;
    this.#asyncBatchMs = spec.asyncBatchMs ?? 5;
    this.#batchAcks = spec.batchAcks ?? true;
    const n = spec.replicas.length;
    this.#ackNeed = spec.ackMode === 'fastest' ? 1 : spec.ackMode === 'quorum' ? Math.floor(n / 2) + 1 : n;
    const eligibleIds = spec.ackMode === 'fastest' ? spec.ackEligible : undefined;
    this.#replicas = spec.replicas.map((r) =>
      newReplica(r, eligibleIds === undefined || eligibleIds.includes(r.nodeId)),
    );
  }

  /**
   * Opens the volume on its replicas (creating it where absent). Requires at least
   * `replicas - durability + 1` reachable replicas, so one of them holds every write a
   * previous frontend acknowledged as flushed; the volume resumes after the highest seq
   * any reachable replica applied. Others catch up in the background.
   */
  static async open(spec: VolumeSpec): Promise<ReplicatedVolume> {
    if (spec.durability < 1 || spec.durability > spec.replicas.length) {
      throw new StorageError('Invalid', `durability ${spec.durability} not in 1..${spec.replicas.length}`);
    }
    const v = new ReplicatedVolume(spec);
    await v.#open();
    return v;
  }

  get size(): number {
    return this.#spec.sizeBytes;
  }
  get multiConn(): boolean {
    return true; // one frontend object serves every connection; flush covers all
  }
  get epoch(): number {
    return this.#epoch;
  }
  get headSeq(): number {
    return this.#headSeq;
  }

  #connect(r: Replica): Promise<ReplicaLink> {
    return 'colocated' in r.spec ? r.spec.colocated.connectLocal() : ReplicaClient.connect(r.spec.endpoint);
  }

  async #open(): Promise<void> {
    const n = this.#replicas.length;
    const needed = n - this.#spec.durability + 1;
    const probes = await Promise.all(
      this.#replicas.map(async (r) => {
        try {
          r.client = await this.#connect(r);
          return await r.client.status(this.#spec.id).catch((e: unknown) => {
            if (e instanceof StorageError && e.code === 'NotFound') return undefined;
            throw e;
          });
        } catch (e) {
          r.client?.close();
          r.client = undefined;
          r.lastError = String(e);
          return null;
        }
      }),
    );
    const reachable = probes.filter((p) => p !== null).length;
    if (reachable < needed) {
      this.#closeClients();
      throw new StorageError(
        'Unavailable',
        `volume ${this.#spec.id}: ${reachable}/${n} replicas reachable, need ${needed}`,
      );
    }
    const maxEpoch = Math.max(0, ...probes.map((p) => p?.epoch ?? 0));
    this.#epoch = this.#spec.epoch ?? maxEpoch + 1;
    if (this.#epoch < maxEpoch) {
      this.#closeClients();
      throw new StaleEpochError(this.#epoch, maxEpoch);
    }
    await Promise.all(this.#replicas.map((r) => (r.client ? this.#attach(r, r.client) : Promise.resolve())));
    // The head comes from complete replicas of the newest epoch: one left behind by a
    // membership change (a rebuild bumps the epoch) or an unfinished rebuild never
    // decides what is current.
    let head = 0;
    let headEpoch = 0;
    this.#replicas.forEach((r, i) => {
      const p = probes[i];
      if (r.state === 'down' || r.rebuilding || p === null || (p !== undefined && p.epoch < maxEpoch)) return;
      if (r.appliedSeq > head) [head, headEpoch] = [r.appliedSeq, r.appliedEpoch];
    });
    this.#headSeq = head;
    this.#headEpoch = headEpoch;
    this.#ackedSeq = this.#headSeq;
    for (const r of this.#replicas) {
      if (r.client === undefined) this.#markDown(r, r.lastError ?? 'unreachable');
      else this.#startSync(r);
    }
  }

  /** Registers this frontend's epoch on a connected replica and records its position. */
  async #attach(r: Replica, client: ReplicaLink): Promise<void> {
    try {
      const pos = await client.open(this.#spec.id, this.#spec.sizeBytes, this.#epoch);
      this.#setPosition(r, pos);
      r.client = client;
      // An interrupted rebuild's data is incomplete: only a new rebuild repairs it.
      r.state = pos.rebuilding ? 'needs-rebuild' : 'catching-up';
      void client.closed.then(() => {
        if (r.client === client) this.#markDown(r, 'connection closed');
      });
    } catch (e) {
      client.close();
      r.client = undefined;
      if (e instanceof StaleEpochError) this.#fence(e);
      r.lastError = String(e);
      r.state = 'down';
    }
  }

  #setPosition(r: Replica, pos: ReplicaPosition): void {
    r.rebuilding = pos.rebuilding;
    if (pos.appliedSeq >= r.appliedSeq) {
      r.appliedSeq = pos.appliedSeq;
      r.appliedEpoch = pos.appliedEpoch;
    }
    if (pos.durableSeq > r.durableSeq) r.durableSeq = pos.durableSeq;
  }

  /** Brings a replica to the head: from a peer's log while behind the ring, then live. */
  #startSync(r: Replica): void {
    if (r.state !== 'catching-up') return;
    r.awaitingSource = false;
    this.#catchUp(r).catch((e: unknown) => this.#replicaError(r, e));
  }

  async #catchUp(r: Replica): Promise<void> {
    for (;;) {
      if (r.state !== 'catching-up' || r.client === undefined) return;
      const oldestInRing = this.#ring.keys().next().value ?? this.#headSeq + 1;
      if (r.appliedSeq + 1 >= oldestInRing) {
        // Everything it lacks is in memory: go live and send it in order.
        r.state = 'in-sync';
        r.sentSeq = r.appliedSeq;
        r.reconnectDelayMs = 100;
        this.#pump(r);
        this.#notify();
        return;
      }
      const source = this.#pickSource(r.appliedSeq);
      if (source === undefined) {
        r.lastError = `no replica holds writes after seq ${r.appliedSeq}`;
        r.awaitingSource = true; // retried when a replica makes progress (see #progress)
        return;
      }
      const { baseEpoch, entries } = await (source.client as ReplicaLink).catchUp(
        this.#spec.id,
        r.appliedSeq,
        CATCH_UP_BATCH,
      );
      if (r.appliedSeq > 0 && baseEpoch !== r.appliedEpoch) {
        r.state = 'diverged';
        r.lastError = `seq ${r.appliedSeq} is epoch ${r.appliedEpoch} here but ${baseEpoch} on ${source.nodeId}`;
        this.#notify();
        return;
      }
      const client = r.client;
      const writes = entries.map((e) => client.write(this.#spec.id, this.#epoch, e, false));
      for (const [i, w] of writes.entries()) {
        const pos = await w;
        this.#setPosition(r, pos);
        r.caughtUpWrites++;
        r.caughtUpBytes += entries[i]?.data?.length ?? 0;
      }
      this.#notify();
    }
  }

  #pickSource(afterSeq: number): Replica | undefined {
    return this.#replicas
      .filter(
        (x) => x.state === 'in-sync' && !x.rebuilding && x.client !== undefined && x.appliedSeq > afterSeq,
      )
      .sort((a, b) => (a.latency.ewmaMs ?? Infinity) - (b.latency.ewmaMs ?? Infinity))[0];
  }

  /** Sends ring entries in seq order to an in-sync replica. Synchronous: order = call order. */
  #pump(r: Replica): void {
    while (r.state === 'in-sync' && r.client !== undefined && r.sentSeq < this.#headSeq) {
      const entry = this.#ring.get(r.sentSeq + 1);
      if (entry === undefined) {
        // Evicted before this replica got it (it was not in sync then): replay from logs.
        r.state = 'catching-up';
        this.#startSync(r);
        return;
      }
      const fua = this.#fuaSeqs.size > 0 && this.#fuaSeqs.has(entry.seq);
      if (!fua && this.#batchAcks && 'endpoint' in r.spec && this.#headSeq - r.sentSeq > 1) {
        this.#sendBatch(r, entry);
        continue;
      }
      r.sentSeq = entry.seq;
      const started = performance.now();
      r.client.write(this.#spec.id, this.#epoch, entry, fua).then(
        (pos) => {
          r.latency.record(performance.now() - started);
          this.#setPosition(r, pos);
          this.#progress();
        },
        (e: unknown) => this.#replicaError(r, e),
      );
    }
  }

  /**
   * Sends consecutive plain writes from `first` on as one `writeBatch` to a TCP replica:
   * one frame out and one reply back for the lot (a cumulative acknowledgement), instead
   * of one each. Stops at a FUA write, a gap in the ring or the batch bounds.
   */
  #sendBatch(r: Replica, first: WriteEntry): void {
    const entries: WriteEntry[] = [first];
    let bytes = first.data?.length ?? 0;
    for (let seq = first.seq + 1; seq <= this.#headSeq && entries.length < BATCH_MAX_WRITES; seq++) {
      const e = this.#ring.get(seq);
      if (e === undefined || (this.#fuaSeqs.size > 0 && this.#fuaSeqs.has(seq))) break;
      const n = e.data?.length ?? 0;
      if (bytes + n > BATCH_MAX_BYTES) break;
      entries.push(e);
      bytes += n;
    }
    const client = r.client as ReplicaLink;
    r.sentSeq = (entries.at(-1) as WriteEntry).seq;
    const started = performance.now();
    const send =
      entries.length === 1
        ? client.write(this.#spec.id, this.#epoch, first, false)
        : client.writeBatch(this.#spec.id, this.#epoch, entries);
    send.then(
      (pos) => {
        r.latency.record(performance.now() - started);
        this.#setPosition(r, pos);
        this.#progress();
      },
      (e: unknown) => this.#replicaError(r, e),
    );
  }

  #replicaError(r: Replica, e: unknown): void {
    if (e instanceof StaleEpochError) {
      this.#fence(e);
      return;
    }
    if (e instanceof StorageError && e.code === 'SeqGap' && r.state === 'in-sync') {
      r.state = 'catching-up';
      this.#startSync(r);
      return;
    }
    if (e instanceof StorageError && e.code === 'LogTruncated') {
      r.state = 'needs-rebuild';
      r.lastError = e.message;
      this.#notify();
      return;
    }
    if (e instanceof StorageError && e.code === 'Invalid' && /diverged/.test(e.message)) {
      r.state = 'diverged';
      r.lastError = e.message;
      this.#notify();
      return;
    }
    this.#markDown(r, String(e));
  }

  #markDown(r: Replica, why: string): void {
    if (this.#closed || !this.#replicas.includes(r)) return;
    const wasDown = r.state === 'down' && r.timer !== undefined;
    r.client?.close();
    r.client = undefined;
    r.state = 'down';
    r.lastError = why;
    this.#notify();
    if (wasDown) return;
    // Reconnect with capped exponential backoff (a timer per replica, not a polling loop).
    r.timer = setTimeout(() => {
      r.timer = undefined;
      void this.#reconnect(r);
    }, r.reconnectDelayMs);
    r.reconnectDelayMs = Math.min(r.reconnectDelayMs * 2, 5000);
  }

  async #reconnect(r: Replica): Promise<void> {
    if (this.#closed || r.state !== 'down' || !this.#replicas.includes(r)) return;
    try {
      const client = await this.#connect(r);
      await this.#attach(r, client);
    } catch (e) {
      r.lastError = String(e);
    }
    if ((r.state as ReplicaState) === 'catching-up') this.#startSync(r);
    else this.#markDown(r, r.lastError ?? 'reconnect failed');
  }

  #fence(e: Error): void {
    this.#fenced = new StorageError('StaleEpoch', `volume ${this.#spec.id} fenced: ${e.message}`);
    this.#notify();
  }

  /** Called when any replica's position advanced: evict applied ring entries, wake waiters. */
  #progress(): void {
    let floor = Infinity;
    for (const r of this.#replicas) if (r.state === 'in-sync' && r.appliedSeq < floor) floor = r.appliedSeq;
    for (const [seq, e] of this.#ring) {
      if (seq > floor) break;
      this.#ring.delete(seq);
      if (this.#fuaSeqs.size > 0) this.#fuaSeqs.delete(seq);
      this.#ringBytes -= e.data?.length ?? 0;
    }
    for (const r of this.#replicas) if (r.state === 'catching-up' && r.awaitingSource) this.#startSync(r);
    this.#notify();
  }

  /** Re-evaluates every waiter against the replicas' positions and states. */
  #notify(): void {
    this.#settleAcks();
    if (this.#durableWaiters.length > 0) this.#settleDurable();
    if (this.#roomQueue.length > 0) this.#admit();
    if (this.#waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.#waiters) {
      const c = this.#fenced ?? w.check();
      if (c === true) w.resolve();
      else if (c instanceof Error) w.reject(c);
      else still.push(w);
    }
    this.#waiters = still;
  }

  /** Highest seq that `need` replicas selected by `pick` all reached (0 if fewer exist). */
  #frontier(need: number, pick: (r: Replica) => number | undefined): number {
    if (need === 1) {
      let best = 0;
      for (const r of this.#replicas) {
        const s = pick(r);
        if (s !== undefined && s > best) best = s;
      }
      return best;
    }
    const seqs: number[] = [];
    for (const r of this.#replicas) {
      const s = pick(r);
      if (s !== undefined) seqs.push(s);
    }
    if (seqs.length < need) return 0;
    seqs.sort((a, b) => b - a);
    return seqs[need - 1] ?? 0;
  }

  #settleAcks(): void {
    const q = this.#ackQueue;
    if (this.#ackHead >= q.length) return;
    const frontier = this.#frontier(this.#ackNeed, (r) =>
      r.eligible && !r.rebuilding ? r.appliedSeq : undefined,
    );
    while (this.#ackHead < q.length) {
      const w = q[this.#ackHead] as SeqWaiter;
      if (w.seq > frontier) break;
      this.#ackHead++;
      w.resolve();
    }
    if (this.#ackHead < q.length) {
      const err = this.#fenced ?? this.#ackImpossible((q[this.#ackHead] as SeqWaiter).seq);
      if (err !== undefined) {
        for (let i = this.#ackHead; i < q.length; i++) (q[i] as SeqWaiter).reject(err);
        this.#ackHead = q.length;
      }
    }
    if (this.#ackHead === q.length) {
      this.#ackQueue = [];
      this.#ackHead = 0;
    } else if (this.#ackHead > 1024 && this.#ackHead * 2 > q.length) {
      this.#ackQueue = q.slice(this.#ackHead);
      this.#ackHead = 0;
    }
  }

  #ackImpossible(seq: number): Error | undefined {
    let possible = 0;
    for (const r of this.#replicas)
      if (r.eligible && !r.rebuilding && (r.state === 'in-sync' || r.state === 'catching-up')) possible++;
    if (possible >= this.#ackNeed) return undefined;
    return new StorageError(
      'Unavailable',
      `only ${possible} live replica(s) can acknowledge seq ${seq}; ${this.#ackNeed} needed`,
    );
  }

  #settleDurable(): void {
    const need = this.#spec.durability;
    const frontier = this.#frontier(need, (r) => (r.rebuilding ? undefined : r.durableSeq));
    const still: SeqWaiter[] = [];
    for (const w of this.#durableWaiters) {
      if (w.seq <= frontier) {
        w.resolve();
        continue;
      }
      const err = this.#fenced ?? this.#durableImpossible(w.seq);
      if (err !== undefined) w.reject(err);
      else still.push(w);
    }
    this.#durableWaiters = still;
  }

  #durableImpossible(seq: number): Error | undefined {
    const need = this.#spec.durability;
    let possible = 0;
    for (const r of this.#replicas)
      if (!r.rebuilding && (r.durableSeq >= seq || r.state === 'in-sync' || r.state === 'catching-up'))
        possible++;
    if (possible >= need) return undefined;
    return new StorageError(
      'Unavailable',
      `only ${possible} replica(s) can make seq ${seq} durable; ${need} needed`,
    );
  }

  #fits(bytes: number): boolean {
    return this.#ringBytes === 0 || this.#ringBytes + bytes <= this.#maxLagBytes;
  }

  /** Grants room to waiting writes in arrival order. */
  #admit(): void {
    const q = this.#roomQueue;
    const stop =
      this.#fenced ?? (this.#closed ? new StorageError('Unavailable', 'volume closed') : undefined);
    if (stop !== undefined) {
      for (const w of q.splice(0)) w.reject(stop);
      return;
    }
    while (q.length > 0 && this.#fits((q[0] as RoomWaiter).bytes)) {
      const w = q.shift() as RoomWaiter;
      this.#ringBytes += w.bytes;
      w.resolve();
    }
  }

  #until(check: () => boolean | Error): Promise<void> {
    const c = this.#fenced ?? check();
    if (c === true) return Promise.resolve();
    if (c instanceof Error) return Promise.reject(c);
    return new Promise((resolve, reject) => this.#waiters.push({ check, resolve, reject }));
  }

  #waitDurable(seq: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#durableWaiters.push({ seq, resolve, reject });
      this.#settleDurable();
    });
  }

  #check(): void {
    if (this.#fenced) throw this.#fenced;
    if (this.#closed) throw new StorageError('Unavailable', 'volume closed');
  }

  /**
   * Sequences one write (at most one frame) and resolves when it is acknowledged per the
   * ack mode (and, with `fua`, durable on `durability` replicas).
   */
  async #submit(
    kind: WriteKind,
    offset: number,
    length: number,
    data: Buffer | undefined,
    fua: boolean,
  ): Promise<void> {
    this.#check();
    if (offset + length > this.#spec.sizeBytes)
      throw new StorageError('NoSpace', 'write beyond end of volume');
    const bytes = data?.length ?? 0;
    if (this.#roomQueue.length === 0 && this.#fits(bytes)) this.#ringBytes += bytes;
    else {
      await new Promise<void>((resolve, reject) => this.#roomQueue.push({ bytes, resolve, reject }));
      this.#check();
    }
    // A rebuild is copying this range: wait, so the copy is ordered before this write.
    for (let lock = this.#copyLock; lock !== undefined; lock = this.#copyLock) {
      if (offset >= lock.end || offset + length <= lock.offset) break;
      await lock.released;
      this.#check();
    }
    const seq = ++this.#headSeq;
    this.#headEpoch = this.#epoch;
    this.#ring.set(seq, { epoch: this.#epoch, seq, kind, offset, length, data });
    if (fua) this.#fuaSeqs.add(seq);
    const acked = new Promise<void>((resolve, reject) => this.#ackQueue.push({ seq, resolve, reject }));
    if (fua || !this.#deferTcp()) this.#sendAll();
    else {
      for (const r of this.#replicas) if ('colocated' in r.spec) this.#pump(r);
      this.#asyncBytes += bytes;
      if (this.#asyncBytes >= ASYNC_BATCH_BYTES) this.#sendAll();
      else this.#asyncTimer ??= setTimeout(this.#sendDeferred, this.#asyncBatchMs);
    }
    this.#settleAcks(); // e.g. no replica can acknowledge it: rejects now
    await acked;
    if (fua) await this.#waitDurable(seq);
    if (seq > this.#ackedSeq) this.#ackedSeq = seq;
  }

  /** TCP replicas are off the ack path: `fastest`, and an in-sync eligible co-located replica. */
  #deferTcp(): boolean {
    if (this.#asyncBatchMs <= 0 || this.#spec.ackMode !== 'fastest') return false;
    for (const r of this.#replicas)
      if ('colocated' in r.spec && r.eligible && r.state === 'in-sync') return true;
    return false;
  }

  /** Sends everything not yet sent to every in-sync replica, now. */
  #sendAll(): void {
    if (this.#asyncTimer !== undefined) {
      clearTimeout(this.#asyncTimer);
      this.#asyncTimer = undefined;
    }
    this.#asyncBytes = 0;
    for (const r of this.#replicas) this.#pump(r);
  }

  write(offset: number, data: Buffer, fua: boolean): Promise<void> {
    if (data.length <= MAX_DATA) return this.#submit('data', offset, data.length, data, fua);
    return this.#chunked(offset, data.length, (o, n) =>
      this.#submit('data', o, n, data.subarray(o - offset, o - offset + n), fua),
    );
  }

  writeZeroes(offset: number, length: number, fua: boolean): Promise<void> {
    return this.#chunked(offset, length, (o, n) => this.#submit('zero', o, n, undefined, fua));
  }

  trim(offset: number, length: number, fua: boolean): Promise<void> {
    return this.#chunked(offset, length, (o, n) => this.#submit('trim', o, n, undefined, fua));
  }

  /** Splits requests larger than one protocol frame (zeroing a whole device, say). */
  async #chunked(offset: number, length: number, fn: (o: number, n: number) => Promise<void>): Promise<void> {
    const parts: Promise<void>[] = [];
    for (let done = 0; done < length; done += MAX_DATA)
      parts.push(fn(offset + done, Math.min(MAX_DATA, length - done)));
    await Promise.all(parts);
  }

  /** Resolves when `durability` replicas hold every write submitted before the call durably. */
  async flush(): Promise<void> {
    if (this.#fenced) throw this.#fenced;
    const target = this.#headSeq;
    this.#sendAll();
    for (const r of this.#replicas) void this.#flushReplica(r, target);
    await this.#waitDurable(target);
  }

  async #flushReplica(r: Replica, target: number): Promise<void> {
    if (r.durableSeq >= target) return;
    await this.#until(
      () => r.appliedSeq >= target || (r.state !== 'in-sync' && r.state !== 'catching-up'),
    ).catch(() => undefined);
    const client = r.client;
    if (client === undefined || r.appliedSeq < target) return;
    const started = performance.now();
    try {
      this.#setPosition(r, await client.flush(this.#spec.id, this.#epoch));
      r.latency.record(performance.now() - started);
      this.#notify();
    } catch (e) {
      this.#replicaError(r, e);
    }
  }

  #readable(r: Replica, need: number): boolean {
    return (
      r.client !== undefined &&
      !r.rebuilding &&
      r.appliedSeq >= need &&
      (r.state === 'in-sync' || r.state === 'catching-up')
    );
  }

  /** Reads from the lowest-latency replica that has applied every acknowledged write. */
  async read(offset: number, length: number): Promise<Buffer> {
    if (this.#fenced) throw this.#fenced;
    const need = this.#ackedSeq;
    let best: Replica | undefined;
    for (const r of this.#replicas) {
      if (!this.#readable(r, need)) continue;
      if (best === undefined || (r.latency.ewmaMs ?? Infinity) < (best.latency.ewmaMs ?? Infinity)) best = r;
    }
    if (best !== undefined && length <= MAX_DATA) {
      try {
        return await (best.client as ReplicaLink).read(this.#spec.id, offset, length);
      } catch {
        // checksum error or lost connection: fall through to the others
      }
    }
    const candidates = this.#replicas
      .filter((r) => this.#readable(r, need) && (r !== best || length > MAX_DATA))
      .sort((a, b) => (a.latency.ewmaMs ?? Infinity) - (b.latency.ewmaMs ?? Infinity));
    let last: unknown = new StorageError('Unavailable', `no replica has applied seq ${need}`);
    for (const r of candidates) {
      try {
        const parts: Buffer[] = [];
        for (let done = 0; done < length; done += MAX_DATA) {
          parts.push(
            await (r.client as ReplicaLink).read(
              this.#spec.id,
              offset + done,
              Math.min(MAX_DATA, length - done),
            ),
          );
        }
        return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
      } catch (e) {
        last = e; // checksum error or lost connection: try the next replica
      }
    }
    throw last;
  }

  /**
   * Replaces a lost replica (`lostNodeId`: down, diverged or needing a rebuild) by a new
   * one on `target`, while writes continue. Resolves once the new replica holds the whole
   * volume durably and counts like any other; rejects if the copy fails (the lost entry
   * stays replaced: call again with another target).
   *
   * 1. Epoch bump: the survivors are opened at epoch + 1 before anything else, so the lost
   *    node (still at the old epoch) is fenced: it is no longer a member, and a frontend
   *    reopening the volume never takes its data as current (see `#open`).
   * 2. The target is created empty with history starting at the current head seq S, and
   *    receives every write after S, in order, like an in-sync replica — but it neither
   *    acknowledges, counts for durability, serves reads nor feeds catch-up.
   * 3. Full copy, chunk by chunk: writes to the chunk wait; the chunk is read from an
   *    up-to-date replica (one that applied every write sequenced so far) and sent to the
   *    target before any later write. Writes the target has not applied yet re-apply on
   *    top in order, which yields the same bytes. All-zero chunks are skipped (a fresh
   *    replica reads zeroes).
   * 4. `rebuildDone`: the target fsyncs extents and log, then counts.
   */
  replaceReplica(lostNodeId: string, target: ReplicaSpec): Promise<void> {
    if (this.#fenced) return Promise.reject(this.#fenced);
    const i = this.#replicas.findIndex((r) => r.nodeId === lostNodeId);
    const lost = this.#replicas[i];
    if (lost === undefined)
      return Promise.reject(
        new StorageError('Invalid', `${lostNodeId} is not a replica of ${this.#spec.id}`),
      );
    if (lost.state === 'in-sync' && !lost.rebuilding)
      return Promise.reject(
        new StorageError('Invalid', `replica ${lostNodeId} is in sync; not replacing it`),
      );
    if (this.#replicas.some((r) => r.nodeId === target.nodeId))
      return Promise.reject(
        new StorageError('Invalid', `${target.nodeId} already holds a replica of ${this.#spec.id}`),
      );
    if (this.#rebuild !== undefined)
      return Promise.reject(new StorageError('Invalid', `a rebuild of ${this.#spec.id} is already running`));
    const run = this.#replace(i, lost, target).finally(() => {
      this.#rebuild = undefined;
    });
    this.#rebuild = run;
    return run;
  }

  async #replace(i: number, lost: Replica, target: ReplicaSpec): Promise<void> {
    if (lost.timer !== undefined) clearTimeout(lost.timer);
    lost.timer = undefined;
    lost.client?.close();
    lost.client = undefined;
    const r = newReplica(target, lost.eligible);
    // In the membership (and holding the ring from S on) before any later write is sequenced.
    const baseSeq = this.#headSeq;
    const baseEpoch = this.#headEpoch;
    r.state = 'in-sync';
    r.rebuilding = true;
    r.appliedSeq = r.sentSeq = r.durableSeq = baseSeq;
    r.appliedEpoch = baseEpoch;
    this.#replicas[i] = r;
    const epoch = ++this.#epoch;
    this.#notify();
    const id = this.#spec.id;
    await Promise.all(
      this.#replicas.map(async (x) => {
        if (x === r || x.client === undefined) return;
        const client = x.client;
        try {
          this.#setPosition(x, await client.open(id, this.#spec.sizeBytes, epoch));
        } catch (e) {
          this.#replicaError(x, e);
        }
      }),
    );
    this.#check();
    try {
      const client = await this.#connect(r);
      if (!this.#replicas.includes(r) || this.#closed) {
        client.close();
        throw new StorageError('Unavailable', 'volume closed during rebuild');
      }
      this.#setPosition(r, await client.rebuildStart(id, this.#spec.sizeBytes, epoch, baseSeq, baseEpoch));
      r.client = client;
      void client.closed.then(() => {
        if (r.client === client) this.#markDown(r, 'connection closed');
      });
      this.#pump(r);
      const fills: Promise<unknown>[] = [];
      for (let offset = 0; offset < this.#spec.sizeBytes; offset += REBUILD_CHUNK) {
        const length = Math.min(REBUILD_CHUNK, this.#spec.sizeBytes - offset);
        const fill = await this.#copyChunk(r, offset, length);
        if (fill !== undefined) fills.push(fill.done);
        // Bound what is in flight to the target: at most 8 chunks' fills.
        if (fills.length >= 8) await Promise.all(fills.splice(0));
      }
      await Promise.all(fills);
      if (r.client !== client) throw new StorageError('Unavailable', r.lastError ?? 'rebuild target lost');
      this.#setPosition(r, await client.rebuildDone(id, this.#epoch));
      this.#progress();
    } catch (e) {
      this.#check();
      r.lastError = `rebuild failed: ${String(e)}`;
      r.client?.close();
      r.client = undefined;
      r.state = 'needs-rebuild';
      this.#notify();
      throw e;
    }
  }

  /** Copies one chunk to a rebuild target; resolves once its fill is sent (undefined: all zero). */
  async #copyChunk(r: Replica, offset: number, length: number): Promise<{ done: Promise<void> } | undefined> {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    this.#copyLock = { offset, end: offset + length, released };
    try {
      // Every write sequenced so far; none touches the chunk until the lock goes.
      const need = this.#headSeq;
      for (let attempt = 0; ; attempt++) {
        this.#check();
        if (r.client === undefined || r.state === 'down' || r.state === 'needs-rebuild')
          throw new StorageError('Unavailable', r.lastError ?? 'rebuild target lost');
        await this.#until(() =>
          r.client === undefined
            ? new StorageError('Unavailable', r.lastError ?? 'rebuild target lost')
            : this.#replicas.some((x) => this.#readable(x, need)),
        );
        const source = this.#replicas
          .filter((x) => this.#readable(x, need))
          .sort((a, b) => (a.latency.ewmaMs ?? Infinity) - (b.latency.ewmaMs ?? Infinity))[0];
        try {
          const data = await (source?.client as ReplicaLink).read(this.#spec.id, offset, length);
          const client = r.client as ReplicaLink | undefined;
          if (client === undefined) throw new StorageError('Unavailable', 'rebuild target lost');
          if (isZero(data)) return undefined;
          // Called before the lock goes: on the target's link it precedes later writes here.
          const fill = client.fill(this.#spec.id, this.#epoch, offset, data).then((pos) => {
            r.rebuiltBytes += data.length;
            this.#setPosition(r, pos);
          });
          fill.catch(() => undefined);
          return { done: fill };
        } catch (e) {
          if (attempt >= 5 || (e instanceof StorageError && e.code === 'StaleEpoch')) throw e;
          // checksum error or lost connection on the source: another one is tried
        }
      }
    } finally {
      this.#copyLock = undefined;
      release();
    }
  }

  /** The running rebuild, if any (resolves or rejects with it). */
  get rebuild(): Promise<void> | undefined {
    return this.#rebuild;
  }

  status(): { epoch: number; headSeq: number; ackedSeq: number; replicas: ReplicaStatus[] } {
    return {
      epoch: this.#epoch,
      headSeq: this.#headSeq,
      ackedSeq: this.#ackedSeq,
      replicas: this.#replicas.map((r) => ({
        nodeId: r.nodeId,
        link: 'colocated' in r.spec ? 'local' : 'tcp',
        state: r.state,
        appliedSeq: r.appliedSeq,
        durableSeq: r.durableSeq,
        lagWrites: this.#headSeq - r.appliedSeq,
        ewmaMs: r.latency.ewmaMs,
        p99Ms: r.latency.percentile(99),
        caughtUpWrites: r.caughtUpWrites,
        caughtUpBytes: r.caughtUpBytes,
        rebuilding: r.rebuilding,
        rebuiltBytes: r.rebuiltBytes,
        lastError: r.lastError,
      })),
    };
  }

  /**
   * Resolves when `check(status())` holds, re-evaluated on every replica state change
   * (no polling); rejects if the volume is fenced or closed first.
   */
  waitFor(check: (s: ReturnType<ReplicatedVolume['status']>) => boolean): Promise<void> {
    return this.#until(() => check(this.status()));
  }

  /** Resolves once every live replica has applied every write so far (for tests and drains). */
  async settled(): Promise<void> {
    const target = this.#headSeq;
    await this.#until(() => this.#replicas.every((r) => r.appliedSeq >= target || r.state === 'down'));
  }

  close(): void {
    this.#closed = true;
    if (this.#asyncTimer !== undefined) clearTimeout(this.#asyncTimer);
    this.#asyncTimer = undefined;
    this.#closeClients();
    const err = new StorageError('Unavailable', 'volume closed');
    for (const w of this.#waiters) w.reject(err);
    this.#waiters = [];
    for (let i = this.#ackHead; i < this.#ackQueue.length; i++) this.#ackQueue[i]?.reject(err);
    this.#ackQueue = [];
    this.#ackHead = 0;
    for (const w of this.#durableWaiters) w.reject(err);
    this.#durableWaiters = [];
    for (const w of this.#roomQueue.splice(0)) w.reject(err);
  }

  #closeClients(): void {
    for (const r of this.#replicas) {
      if (r.timer !== undefined) clearTimeout(r.timer);
      r.timer = undefined;
      const c = r.client;
      r.client = undefined;
      c?.close();
    }
  }
}

function newReplica(spec: ReplicaSpec, eligible: boolean): Replica {
  return {
    nodeId: spec.nodeId,
    spec,
    client: undefined,
    state: 'connecting',
    appliedSeq: 0,
    appliedEpoch: 0,
    durableSeq: 0,
    sentSeq: 0,
    eligible,
    latency: new LatencyEstimate(),
    caughtUpWrites: 0,
    caughtUpBytes: 0,
    rebuilding: false,
    rebuiltBytes: 0,
    lastError: undefined,
    awaitingSource: false,
    reconnectDelayMs: 100,
    timer: undefined,
  };
}

function isZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i += 8192) {
    const part = b.subarray(i, i + 8192);
    if (part.some((x) => x !== 0)) return false;
  }
  return true;
}
