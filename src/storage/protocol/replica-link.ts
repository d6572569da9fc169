import type { NodeInfo, ReplicaPosition, WriteEntry } from './messages.ts';

/**
 * A volume frontend's connection to one storage node: the replication protocol's
 * operations as calls. Two implementations: `ReplicaClient` (TCP, framed, pipelined) and
 * the co-located link from `StorageNode.connectLocal()` (direct calls into a node in the
 * same process, no framing, no copy).
 *
 * Contract, shared by both:
 * - Calls take effect on the node in call order (the frontend relies on it for seq
 *   order); replies may resolve in any order.
 * - The node enforces epoch fencing and seq order identically on both paths: stale
 *   epochs reject with `StaleEpochError`, gaps with `SeqGapError`.
 * - `write` resolves once the node applied the entry (in its page cache: log record and
 *   extent written); with `fua`, once its log is also fdatasynced.
 * - When the link goes down every pending call rejects with `Unavailable`, later calls
 *   reject at once, `closed` resolves and `isDown` is true. The owner reconnects.
 */
export interface ReplicaLink {
  readonly closed: Promise<void>;
  readonly isDown: boolean;
  close(): void;
  open(volume: string, size: number, epoch: number): Promise<ReplicaPosition>;
  write(volume: string, epoch: number, entry: WriteEntry, fua: boolean): Promise<ReplicaPosition>;
  /** Consecutive plain writes, one reply (the position after the last). */
  writeBatch(volume: string, epoch: number, entries: readonly WriteEntry[]): Promise<ReplicaPosition>;
  read(volume: string, offset: number, length: number): Promise<Buffer>;
  flush(volume: string, epoch: number): Promise<ReplicaPosition>;
  status(volume: string): Promise<ReplicaPosition>;
  catchUp(
    volume: string,
    fromSeq: number,
    maxBytes: number,
  ): Promise<{ baseEpoch: number; entries: WriteEntry[] }>;
  nodeInfo(): Promise<NodeInfo>;
  rebuildStart(
    volume: string,
    size: number,
    epoch: number,
    baseSeq: number,
    baseEpoch: number,
  ): Promise<ReplicaPosition>;
  fill(volume: string, epoch: number, offset: number, data: Buffer): Promise<ReplicaPosition>;
  rebuildDone(volume: string, epoch: number): Promise<ReplicaPosition>;
  resize(volume: string, size: number): Promise<ReplicaPosition>;
  drop(volume: string): Promise<void>;
}
