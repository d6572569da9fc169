/**
 * Storage errors. Every failure crossing a module boundary is a `StorageError` with a
 * stable `code`, so callers branch on `code`, never on message text.
 */
export type StorageErrorCode =
  | 'StaleEpoch'
  | 'SeqGap'
  | 'LogTruncated'
  | 'NotFound'
  | 'Checksum'
  | 'Invalid'
  | 'NoSpace'
  | 'Io'
  | 'Unavailable'
  | 'Protocol'
  | 'PlacementRefused';

export class StorageError extends Error {
  readonly code: StorageErrorCode;
  constructor(code: StorageErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageError';
    this.code = code;
  }
}

/** A replica rejected a request because the sender's epoch is older than the replica's. */
export class StaleEpochError extends StorageError {
  readonly currentEpoch: number;
  constructor(sent: number, current: number) {
    super('StaleEpoch', `epoch ${sent} is stale; replica is at epoch ${current}`);
    this.currentEpoch = current;
  }
}

/** A replica cannot apply a write because it is missing earlier sequence numbers. */
export class SeqGapError extends StorageError {
  readonly appliedSeq: number;
  constructor(sent: number, applied: number) {
    super('SeqGap', `write seq ${sent} does not follow applied seq ${applied}`);
    this.appliedSeq = applied;
  }
}
