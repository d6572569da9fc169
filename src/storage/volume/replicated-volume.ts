import { StaleEpochError, StorageError } from '../errors.ts';
import type { BlockDevice } from '../nbd/block-device.ts';
import { MAX_DATA, type ReplicaPosition, type WriteEntry, type WriteKind } from '../protocol/messages.ts';
import { LatencyEstimate } from './latency.ts';
import { ReplicaClient, type Endpoint } from './replica-client.ts';

/**
 * When a plain write is acknowledged. FLUSH and FUA writes additionally wait, in every
 * mode, until `durability` replicas hold the data durably (see docs/storage.md).
 */
export type AckMode = 'fastest' | 'quorum' | 'all';

export type VolumeSpec = {
  readonly id: string;
  readonly sizeBytes: number;
  readonly replicas: readonly { readonly nodeId: string; readonly endpoint: Endpoint }[];
  readonly ackMode: AckMode;
  /** Replicas that must have data durably before FLUSH/FUA is acknowledged. */
  readonly durability: number;
  /** Node ids allowed to acknowledge a plain write in `fastest` mode (default: all). */
  readonly ackEligible?: readonly string[];
  /** Bound on bytes not yet applied by some in-sync replica; writes wait beyond it. */
  readonly maxLagBytes?: number;
  /** Fencing epoch for this frontend; default: one above the highest any replica has seen. */
  readonly epoch?: number;
};

export type ReplicaState = 'connecting' | 'catching-up' | 'in-sync' | 'down' | 'diverged' | 'needs-rebuild';

/** A replica as the frontend sees it (reported by `status()`). */
export type ReplicaStatus = {
  readonly nodeId: string;
  readonly state: ReplicaState;
  readonly appliedSeq: number;
  readonly durableSeq: number;
  readonly lagWrites: number;
  readonly ewmaMs: number | undefined;
  readonly p99Ms: number | undefined;
  /** Log records and payload bytes replayed to this replica by catch-up since open. */
  readonly caughtUpWrites: number;
  readonly caughtUpBytes: number;
  readonly lastError: string | undefined;
};

type Replica = {
  readonly nodeId: string;
  readonly endpoint: Endpoint;
  client: ReplicaClient | undefined;
  state: ReplicaState;
  appliedSeq: number;
  appliedEpoch: number;
  durableSeq: number;
  /** Highest seq handed to the connection (in-sync replicas only). */
  sentSeq: number;
  readonly latency: LatencyEstimate;
  caughtUpWrites: number;
  caughtUpBytes: number;
  lastError: string | undefined;
  reconnectDelayMs: number;
  timer: NodeJS.Timeout | undefined;
};

type Waiter = { check: () => boolean | Error; resolve: () => void; reject: (e: Error) => void };

const CATCH_UP_BATCH = 4 * 1024 * 1024;

/**
 * A replicated volume frontend: assigns each write the next sequence number under this
 * frontend's epoch, sends it to every in-sync replica in order (pipelined), and
 * acknowledges per {@link AckMode}. Implements {@link BlockDevice} for the NBD server.
 *
 * Guarantees:
 * - Writes are applied by every replica in seq order; a replica that missed writes
 *   (disconnect, gap) replays them from a peer's write log, never from a full copy.
 * - Memory: unapplied writes held for in-sync replicas never exceed `maxLagBytes`
 *   (except one write larger than that); new writes wait for room (bounded lag).
 * - Reads go to the lowest-latency replica that has applied every acknowledged write.
 * - A replica that reports a newer epoch fences this frontend: every later call fails.
 * Assumptions: one frontend per epoch; the control plane allocates epochs (or `open`
 * picks max + 1 when it can reach enough replicas to intersect every durability set).
 */
export class ReplicatedVolume implements BlockDevice {
  readonly #spec: VolumeSpec;
  readonly #replicas: Replica[];
  readonly #ring = new Map<number, WriteEntry>();
  readonly #maxLagBytes: number;
  #ringBytes = 0;
  #epoch = 0;
  #headSeq = 0;
  /** Highest seq acknowledged to a caller: reads must see at least this. */
  #ackedSeq = 0;
  #waiters: Waiter[] = [];
  #fenced: Error | undefined;
  #closed = false;

  private constructor(spec: VolumeSpec) {
    this.#spec = spec;
    this.#maxLagBytes = spec.maxLagBytes ?? 64 * 1024 * 1024;
    this.#replicas = spec.replicas.map((r) => ({
      nodeId: r.nodeId,
      endpoint: r.endpoint,
      client: undefined,
      state: 'connecting',
      appliedSeq: 0,
      appliedEpoch: 0,
      durableSeq: 0,
      sentSeq: 0,
      latency: new LatencyEstimate(),
      caughtUpWrites: 0,
      caughtUpBytes: 0,
      lastError: undefined,
      reconnectDelayMs: 100,
      timer: undefined,
    }));
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

  async #open(): Promise<void> {
    const n = this.#replicas.length;
    const needed = n - this.#spec.durability + 1;
    const probes = await Promise.all(
      this.#replicas.map(async (r) => {
        try {
          r.client = await ReplicaClient.connect(r.endpoint);
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
    this.#headSeq = Math.max(0, ...this.#replicas.filter((r) => r.state !== 'down').map((r) => r.appliedSeq));
    this.#ackedSeq = this.#headSeq;
    for (const r of this.#replicas) {
      if (r.client === undefined) this.#markDown(r, r.lastError ?? 'unreachable');
      else this.#startSync(r);
    }
  }

  /** Registers this frontend's epoch on a connected replica and records its position. */
  async #attach(r: Replica, client: ReplicaClient): Promise<void> {
    try {
      const pos = await client.open(this.#spec.id, this.#spec.sizeBytes, this.#epoch);
      this.#setPosition(r, pos);
      r.client = client;
      r.state = 'catching-up';
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
    if (pos.appliedSeq >= r.appliedSeq) {
      r.appliedSeq = pos.appliedSeq;
      r.appliedEpoch = pos.appliedEpoch;
    }
    r.durableSeq = Math.max(r.durableSeq, pos.durableSeq);
  }

  /** Brings a replica to the head: from a peer's log while behind the ring, then live. */
  #startSync(r: Replica): void {
    if (r.state !== 'catching-up') return;
    this.#catchUp(r).catch((e: unknown) => this.#replicaError(r, e));
  }

  async #catchUp(r: Replica): Promise<void> {
    for (;;) {
      if (r.state !== 'catching-up' || r.client === undefined) return;
      const oldestInRing = this.#ring.size === 0 ? this.#headSeq + 1 : Math.min(...this.#ring.keys());
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
        return; // retried when a replica makes progress (see #progress)
      }
      const { baseEpoch, entries } = await (source.client as ReplicaClient).catchUp(
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
      .filter((x) => x.state === 'in-sync' && x.client !== undefined && x.appliedSeq > afterSeq)
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
      r.sentSeq = entry.seq;
      const client = r.client;
      const started = performance.now();
      const fua = this.#fuaSeqs.has(entry.seq);
      client.write(this.#spec.id, this.#epoch, entry, fua).then(
        (pos) => {
          r.latency.record(performance.now() - started);
          this.#setPosition(r, pos);
          this.#progress();
        },
        (e: unknown) => this.#replicaError(r, e),
      );
    }
  }

  readonly #fuaSeqs = new Set<number>();

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
    if (this.#closed) return;
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
    if (this.#closed || r.state !== 'down') return;
    try {
      const client = await ReplicaClient.connect(r.endpoint);
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
    const inSync = this.#replicas.filter((r) => r.state === 'in-sync');
    const floor = Math.min(...inSync.map((r) => r.appliedSeq));
    for (const [seq, e] of this.#ring) {
      if (seq > floor) break;
      this.#ring.delete(seq);
      this.#fuaSeqs.delete(seq);
      this.#ringBytes -= e.data?.length ?? 0;
    }
    for (const r of this.#replicas)
      if (r.state === 'catching-up' && r.lastError?.startsWith('no replica')) this.#startSync(r);
    this.#notify();
  }

  #notify(): void {
    const still: Waiter[] = [];
    for (const w of this.#waiters) {
      const c = this.#fenced ?? w.check();
      if (c === true) w.resolve();
      else if (c instanceof Error) w.reject(c);
      else still.push(w);
    }
    this.#waiters = still;
  }

  #until(check: () => boolean | Error): Promise<void> {
    const c = this.#fenced ?? check();
    if (c === true) return Promise.resolve();
    if (c instanceof Error) return Promise.reject(c);
    return new Promise((resolve, reject) => this.#waiters.push({ check, resolve, reject }));
  }

  /** Replicas that could still make progress (not down, diverged or awaiting rebuild). */
  #live(): Replica[] {
    return this.#replicas.filter((r) => r.state === 'in-sync' || r.state === 'catching-up');
  }

  #ackCount(): number {
    const n = this.#replicas.length;
    switch (this.#spec.ackMode) {
      case 'fastest':
        return 1;
      case 'quorum':
        return Math.floor(n / 2) + 1;
      case 'all':
        return n;
    }
  }

  #applied(seq: number, need: number, eligible: (r: Replica) => boolean): boolean | Error {
    const have = this.#replicas.filter((r) => eligible(r) && r.appliedSeq >= seq).length;
    if (have >= need) return true;
    const possible = this.#live().filter(eligible).length;
    if (possible < need) {
      return new StorageError(
        'Unavailable',
        `only ${possible} live replica(s) can acknowledge seq ${seq}; ${need} needed`,
      );
    }
    return false;
  }

  #durable(seq: number): boolean | Error {
    const need = this.#spec.durability;
    if (this.#replicas.filter((r) => r.durableSeq >= seq).length >= need) return true;
    const possible = this.#replicas.filter(
      (r) => r.durableSeq >= seq || r.state === 'in-sync' || r.state === 'catching-up',
    );
    if (possible.length < need) {
      return new StorageError(
        'Unavailable',
        `only ${possible.length} replica(s) can make seq ${seq} durable; ${need} needed`,
      );
    }
    return false;
  }

  async #submit(
    kind: WriteKind,
    offset: number,
    length: number,
    data: Buffer | undefined,
    fua: boolean,
  ): Promise<void> {
    if (this.#fenced) throw this.#fenced;
    if (this.#closed) throw new StorageError('Unavailable', 'volume closed');
    if (offset + length > this.#spec.sizeBytes)
      throw new StorageError('NoSpace', 'write beyond end of volume');
    const bytes = data?.length ?? 0;
    const room = (): boolean => this.#ringBytes === 0 || this.#ringBytes + bytes <= this.#maxLagBytes;
    if (!room()) await this.#until(room);
    const seq = ++this.#headSeq;
    const entry: WriteEntry = { epoch: this.#epoch, seq, kind, offset, length, data };
    this.#ring.set(seq, entry);
    this.#ringBytes += bytes;
    if (fua) this.#fuaSeqs.add(seq);
    for (const r of this.#replicas) this.#pump(r);
    const eligibleIds = this.#spec.ackMode === 'fastest' ? this.#spec.ackEligible : undefined;
    const eligible = (r: Replica): boolean => eligibleIds === undefined || eligibleIds.includes(r.nodeId);
    await this.#until(() => this.#applied(seq, this.#ackCount(), eligible));
    if (fua) await this.#until(() => this.#durable(seq));
    this.#ackedSeq = Math.max(this.#ackedSeq, seq);
  }

  write(offset: number, data: Buffer, fua: boolean): Promise<void> {
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
    for (const r of this.#replicas) void this.#flushReplica(r, target);
    await this.#until(() => this.#durable(target));
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

  /** Reads from the lowest-latency replica that has applied every acknowledged write. */
  async read(offset: number, length: number): Promise<Buffer> {
    if (this.#fenced) throw this.#fenced;
    const need = this.#ackedSeq;
    const candidates = this.#replicas
      .filter(
        (r) =>
          r.client !== undefined &&
          r.appliedSeq >= need &&
          (r.state === 'in-sync' || r.state === 'catching-up'),
      )
      .sort((a, b) => (a.latency.ewmaMs ?? Infinity) - (b.latency.ewmaMs ?? Infinity));
    let last: unknown = new StorageError('Unavailable', `no replica has applied seq ${need}`);
    for (const r of candidates) {
      try {
        const parts: Buffer[] = [];
        for (let done = 0; done < length; done += MAX_DATA) {
          parts.push(
            await (r.client as ReplicaClient).read(
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

  status(): { epoch: number; headSeq: number; ackedSeq: number; replicas: ReplicaStatus[] } {
    return {
      epoch: this.#epoch,
      headSeq: this.#headSeq,
      ackedSeq: this.#ackedSeq,
      replicas: this.#replicas.map((r) => ({
        nodeId: r.nodeId,
        state: r.state,
        appliedSeq: r.appliedSeq,
        durableSeq: r.durableSeq,
        lagWrites: this.#headSeq - r.appliedSeq,
        ewmaMs: r.latency.ewmaMs,
        p99Ms: r.latency.percentile(99),
        caughtUpWrites: r.caughtUpWrites,
        caughtUpBytes: r.caughtUpBytes,
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
    this.#closeClients();
    for (const w of this.#waiters) w.reject(new StorageError('Unavailable', 'volume closed'));
    this.#waiters = [];
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
