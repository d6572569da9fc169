import { BufReader, BufWriter } from '../io/codec.ts';
import { SeqGapError, StaleEpochError, StorageError, type StorageErrorCode } from '../errors.ts';

/**
 * Replication protocol between volume frontends and storage nodes.
 *
 * Framing: every message is `u32 length` followed by `length` bytes; `length` never
 * exceeds {@link MAX_FRAME}. A request body is `u8 op, u32 id, ...fields`; a response is
 * `u8 op, u32 id, u16 status, ...fields` (status 0 = ok, else an error code and a
 * message string). Requests on one connection may be pipelined; responses carry the id.
 * All integers are big-endian; u64 values stay below 2^53.
 */
export const MAX_DATA = 32 * 1024 * 1024;
export const MAX_FRAME = MAX_DATA + 4096;

export const Op = {
  open: 1,
  write: 2,
  read: 3,
  flush: 4,
  status: 5,
  catchUp: 6,
  nodeInfo: 7,
  rebuildStart: 8,
  fill: 9,
  rebuildDone: 10,
  resize: 11,
  drop: 12,
  writeBatch: 13,
} as const;
export type OpCode = (typeof Op)[keyof typeof Op];

/** What a write does with its range. `data` carries bytes; `zero` and `trim` read back as zeroes. */
export type WriteKind = 'data' | 'zero' | 'trim';
const kindCodes: Record<WriteKind, number> = { data: 0, zero: 1, trim: 2 };
const kindNames: WriteKind[] = ['data', 'zero', 'trim'];

export type Durability = 'applied' | 'durable';

export type WriteEntry = {
  readonly epoch: number;
  readonly seq: number;
  readonly kind: WriteKind;
  readonly offset: number;
  readonly length: number;
  /** Present only for kind `data`; its length equals `length`. */
  readonly data: Buffer | undefined;
};

export type Request =
  | { op: 'open'; volume: string; size: number; epoch: number }
  /**
   * `epoch` fences the sender; `entry.epoch` is the epoch the write was first issued in
   * (older than `epoch` when a frontend replays log records to a lagging replica).
   */
  | { op: 'write'; volume: string; epoch: number; entry: WriteEntry; fua: boolean }
  /**
   * Consecutive plain writes in one frame, applied in order, answered once with the
   * position after the last (cumulative acknowledgement). Fails as a whole on the first
   * entry that fails; the entries before it may have applied (the position tells).
   */
  | { op: 'writeBatch'; volume: string; epoch: number; entries: readonly WriteEntry[] }
  | { op: 'read'; volume: string; offset: number; length: number }
  | { op: 'flush'; volume: string; epoch: number }
  | { op: 'status'; volume: string }
  | { op: 'catchUp'; volume: string; fromSeq: number; maxBytes: number }
  | { op: 'nodeInfo' }
  /**
   * Rebuild of a lost replica on this node: creates an empty replica whose history starts
   * after `baseSeq` (of epoch `baseEpoch`) and that reports `rebuilding` until
   * `rebuildDone`; `fill` writes copied bytes straight into its extents, ordered with the
   * writes around it on the connection. A leftover unfinished rebuild is discarded.
   */
  | { op: 'rebuildStart'; volume: string; size: number; epoch: number; baseSeq: number; baseEpoch: number }
  | { op: 'fill'; volume: string; epoch: number; offset: number; data: Buffer }
  | { op: 'rebuildDone'; volume: string; epoch: number }
  /** Grows the replica to `size` bytes (never shrinks); the new range reads as zeroes. */
  | { op: 'resize'; volume: string; size: number }
  /** Deletes the replica and its files (the volume is being deleted). */
  | { op: 'drop'; volume: string };

/** Replica position: `appliedSeq` is readable, `durableSeq` survives power loss. */
export type ReplicaPosition = {
  readonly epoch: number;
  readonly appliedSeq: number;
  readonly durableSeq: number;
  /** Epoch of the entry at `appliedSeq` (0 when nothing applied); detects divergence. */
  readonly appliedEpoch: number;
  /** A rebuild copy is in progress (or was interrupted): the data is incomplete. */
  readonly rebuilding: boolean;
};

export type NodeInfo = {
  readonly nodeId: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly capacityBytes: number;
  readonly allocatedBytes: number;
  readonly freeBytes: number;
  readonly health: 'ok' | 'degraded';
  readonly checksumErrors: number;
  readonly volumes: number;
};

export type Response =
  | { op: 'position'; position: ReplicaPosition }
  | { op: 'data'; data: Buffer }
  | { op: 'entries'; baseEpoch: number; entries: WriteEntry[] }
  | { op: 'nodeInfo'; info: NodeInfo };

const statusCodes: StorageErrorCode[] = [
  'Protocol', // 0 is ok; index 0 unused
  'StaleEpoch',
  'SeqGap',
  'LogTruncated',
  'NotFound',
  'Checksum',
  'Invalid',
  'NoSpace',
  'Io',
  'Unavailable',
  'Protocol',
];

function statusOf(code: StorageErrorCode): number {
  const i = statusCodes.indexOf(code, 1);
  return i < 0 ? statusCodes.length - 1 : i;
}

/** Encodes a request as a list of buffers (header + optional payload, no copy of data). */
function encodeBatch(id: number, req: Extract<Request, { op: 'writeBatch' }>): Buffer[] {
  // Header, then per entry its header and its payload by reference (no copy of the data).
  const head = new BufWriter(64 + Buffer.byteLength(req.volume))
    .u32(0)
    .u8(Op.writeBatch)
    .u32(id)
    .str(req.volume)
    .u64(req.epoch)
    .u32(req.entries.length)
    .finish();
  const parts: Buffer[] = [head];
  let total = head.length - 4;
  for (const e of req.entries) {
    const h = new BufWriter(40);
    writeEntryHeader(h, e);
    const hb = h.u32(e.data?.length ?? 0).finish();
    parts.push(hb);
    total += hb.length;
    if (e.data !== undefined && e.data.length > 0) {
      parts.push(e.data);
      total += e.data.length;
    }
  }
  if (total > MAX_FRAME) throw new StorageError('Invalid', `frame of ${total} bytes exceeds ${MAX_FRAME}`);
  head.writeUInt32BE(total, 0);
  return parts;
}

export function encodeRequest(id: number, req: Request): Buffer[] {
  if (req.op === 'writeBatch') return encodeBatch(id, req);
  // Every request header fits in 64 bytes plus its volume name: one allocation, no growth.
  const w = new BufWriter(80 + (req.op === 'nodeInfo' ? 0 : Buffer.byteLength(req.volume)))
    .u32(0)
    .u8(Op[req.op])
    .u32(id);
  let payload: Buffer | undefined;
  switch (req.op) {
    case 'open':
      w.str(req.volume).u64(req.size).u64(req.epoch);
      break;
    case 'write': {
      const e = req.entry;
      w.str(req.volume).u64(req.epoch);
      writeEntryHeader(w, e);
      w.u8(req.fua ? 1 : 0);
      payload = e.data;
      break;
    }
    case 'read':
      w.str(req.volume).u64(req.offset).u32(req.length);
      break;
    case 'flush':
      w.str(req.volume).u64(req.epoch);
      break;
    case 'status':
      w.str(req.volume);
      break;
    case 'catchUp':
      w.str(req.volume).u64(req.fromSeq).u32(req.maxBytes);
      break;
    case 'nodeInfo':
      break;
    case 'rebuildStart':
      w.str(req.volume).u64(req.size).u64(req.epoch).u64(req.baseSeq).u64(req.baseEpoch);
      break;
    case 'fill':
      w.str(req.volume).u64(req.epoch).u64(req.offset);
      payload = req.data;
      break;
    case 'rebuildDone':
      w.str(req.volume).u64(req.epoch);
      break;
    case 'resize':
      w.str(req.volume).u64(req.size);
      break;
    case 'drop':
      w.str(req.volume);
      break;
  }
  return frame(w.finish(), payload);
}

function frame(header: Buffer, payload: Buffer | undefined): Buffer[] {
  const total = header.length - 4 + (payload?.length ?? 0);
  if (total > MAX_FRAME) throw new StorageError('Invalid', `frame of ${total} bytes exceeds ${MAX_FRAME}`);
  header.writeUInt32BE(total, 0);
  return payload === undefined || payload.length === 0 ? [header] : [header, payload];
}

function writeEntryHeader(w: BufWriter, e: WriteEntry): void {
  w.u64(e.epoch).u64(e.seq).u8(kindCodes[e.kind]).u64(e.offset).u32(e.length);
}

function readEntryHeader(r: BufReader): Omit<WriteEntry, 'data'> {
  const epoch = r.u64();
  const seq = r.u64();
  const kind = kindNames[r.u8()];
  if (kind === undefined) throw new StorageError('Protocol', 'unknown write kind');
  const offset = r.u64();
  const length = r.u32();
  return { epoch, seq, kind, offset, length };
}

/** Decodes a request body (the bytes after the length prefix). */
export function decodeRequest(body: Buffer): { id: number; req: Request } {
  const r = new BufReader(body);
  const op = r.u8();
  const id = r.u32();
  switch (op) {
    case Op.open:
      return { id, req: { op: 'open', volume: r.str(), size: r.u64(), epoch: r.u64() } };
    case Op.write: {
      const volume = r.str();
      const epoch = r.u64();
      const h = readEntryHeader(r);
      const fua = r.u8() === 1;
      const data = h.kind === 'data' ? r.rest() : undefined;
      if (data !== undefined && data.length !== h.length)
        throw new StorageError('Protocol', 'write length mismatch');
      return { id, req: { op: 'write', volume, epoch, entry: { ...h, data }, fua } };
    }
    case Op.writeBatch: {
      const volume = r.str();
      const epoch = r.u64();
      const count = r.u32();
      const entries: WriteEntry[] = [];
      for (let i = 0; i < count; i++) {
        const h = readEntryHeader(r);
        const n = r.u32();
        const data = h.kind === 'data' ? r.bytes(n) : undefined;
        if (data !== undefined && data.length !== h.length)
          throw new StorageError('Protocol', 'write length mismatch');
        entries.push({ ...h, data });
      }
      return { id, req: { op: 'writeBatch', volume, epoch, entries } };
    }
    case Op.read:
      return { id, req: { op: 'read', volume: r.str(), offset: r.u64(), length: r.u32() } };
    case Op.flush:
      return { id, req: { op: 'flush', volume: r.str(), epoch: r.u64() } };
    case Op.status:
      return { id, req: { op: 'status', volume: r.str() } };
    case Op.catchUp:
      return { id, req: { op: 'catchUp', volume: r.str(), fromSeq: r.u64(), maxBytes: r.u32() } };
    case Op.nodeInfo:
      return { id, req: { op: 'nodeInfo' } };
    case Op.rebuildStart:
      return {
        id,
        req: {
          op: 'rebuildStart',
          volume: r.str(),
          size: r.u64(),
          epoch: r.u64(),
          baseSeq: r.u64(),
          baseEpoch: r.u64(),
        },
      };
    case Op.fill:
      return { id, req: { op: 'fill', volume: r.str(), epoch: r.u64(), offset: r.u64(), data: r.rest() } };
    case Op.rebuildDone:
      return { id, req: { op: 'rebuildDone', volume: r.str(), epoch: r.u64() } };
    case Op.resize:
      return { id, req: { op: 'resize', volume: r.str(), size: r.u64() } };
    case Op.drop:
      return { id, req: { op: 'drop', volume: r.str() } };
    default:
      throw new StorageError('Protocol', `unknown op ${op}`);
  }
}

const respOps = { position: 1, data: 2, entries: 3, nodeInfo: 4 } as const;

export function encodeResponse(id: number, res: Response): Buffer[] {
  const w = new BufWriter().u32(0).u8(respOps[res.op]).u32(id).u16(0);
  switch (res.op) {
    case 'position': {
      const p = res.position;
      w.u64(p.epoch)
        .u64(p.appliedSeq)
        .u64(p.durableSeq)
        .u64(p.appliedEpoch)
        .u8(p.rebuilding ? 1 : 0);
      return frame(w.finish(), undefined);
    }
    case 'data':
      return frame(w.finish(), res.data);
    case 'entries': {
      w.u64(res.baseEpoch).u32(res.entries.length);
      for (const e of res.entries) {
        writeEntryHeader(w, e);
        w.u32(e.data?.length ?? 0);
        if (e.data !== undefined) w.bytes(e.data);
      }
      return frame(w.finish(), undefined);
    }
    case 'nodeInfo':
      w.str(JSON.stringify(res.info));
      return frame(w.finish(), undefined);
  }
}

export function encodeError(id: number, err: StorageError): Buffer[] {
  const w = new BufWriter().u32(0).u8(0).u32(id).u16(statusOf(err.code)).str(err.message.slice(0, 1024));
  if (err instanceof StaleEpochError) w.u64(err.currentEpoch).u64(0);
  if (err instanceof SeqGapError) w.u64(0).u64(err.appliedSeq);
  return frame(w.finish(), undefined);
}

/** A decoded error response: the code plus, for epoch/gap errors, the replica's numbers. */
export type ErrorReply = {
  readonly code: StorageErrorCode;
  readonly message: string;
  readonly currentEpoch: number;
  readonly appliedSeq: number;
};

export function decodeResponse(body: Buffer): { id: number; result: Response | ErrorReply } {
  const r = new BufReader(body);
  const op = r.u8();
  const id = r.u32();
  const status = r.u16();
  if (status !== 0) {
    const code = statusCodes[status] ?? 'Protocol';
    const message = r.str();
    const extra =
      r.remaining >= 16 ? { currentEpoch: r.u64(), appliedSeq: r.u64() } : { currentEpoch: 0, appliedSeq: 0 };
    return { id, result: { code, message, ...extra } };
  }
  switch (op) {
    case respOps.position:
      return {
        id,
        result: {
          op: 'position',
          position: {
            epoch: r.u64(),
            appliedSeq: r.u64(),
            durableSeq: r.u64(),
            appliedEpoch: r.u64(),
            rebuilding: r.u8() === 1,
          },
        },
      };
    case respOps.data:
      return { id, result: { op: 'data', data: r.rest() } };
    case respOps.entries: {
      const baseEpoch = r.u64();
      const count = r.u32();
      const entries: WriteEntry[] = [];
      for (let i = 0; i < count; i++) {
        const h = readEntryHeader(r);
        const n = r.u32();
        entries.push({ ...h, data: h.kind === 'data' ? r.bytes(n) : undefined });
      }
      return { id, result: { op: 'entries', baseEpoch, entries } };
    }
    case respOps.nodeInfo:
      return { id, result: { op: 'nodeInfo', info: JSON.parse(r.str(1 << 20)) as NodeInfo } };
    default:
      throw new StorageError('Protocol', `unknown response op ${op}`);
  }
}

export function isErrorReply(x: Response | ErrorReply): x is ErrorReply {
  return 'code' in x;
}
