/**
 * Typed failures of the Kubernetes API, mapped from HTTP status + `Status` body in one place
 * (`fromResponse`). Expected outcomes are values; these are for failures. Every class carries
 * a stable `code` (switch on it or use `instanceof`) and keeps the original `Status` when there
 * was one.
 */

export interface StatusCause {
  readonly reason?: string;
  readonly message?: string;
  readonly field?: string;
}

/** `metav1.Status` as the API server sends it. */
export interface KubeStatus {
  readonly kind?: 'Status';
  readonly apiVersion?: string;
  readonly status?: 'Success' | 'Failure';
  readonly message?: string;
  readonly reason?: string;
  readonly code?: number;
  readonly details?: {
    readonly name?: string;
    readonly group?: string;
    readonly kind?: string;
    readonly uid?: string;
    readonly causes?: readonly StatusCause[];
    readonly retryAfterSeconds?: number;
  };
}

export type KubeErrorCode =
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Invalid'
  | 'BadRequest'
  | 'Forbidden'
  | 'Unauthorized'
  | 'Gone'
  | 'TooManyRequests'
  | 'Unavailable'
  | 'Terminal'
  | 'Protocol'
  | 'Unknown';

export interface KubeErrorOptions {
  readonly httpStatus?: number;
  readonly status?: KubeStatus;
  readonly cause?: unknown;
}

/** Base of every error this layer throws. */
export class KubeError extends Error {
  readonly code: KubeErrorCode;
  /** HTTP status when the error came from a response. */
  readonly httpStatus: number | undefined;
  /** The `Status` body when the server sent one. */
  readonly status: KubeStatus | undefined;

  constructor(code: KubeErrorCode, message: string, opts: KubeErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = `${code}Error`;
    this.code = code;
    this.httpStatus = opts.httpStatus;
    this.status = opts.status;
  }
}

export class NotFoundError extends KubeError {
  constructor(message: string, opts?: KubeErrorOptions) {
    super('NotFound', message, opts);
  }
}
export class AlreadyExistsError extends KubeError {
  constructor(message: string, opts?: KubeErrorOptions) {
    super('AlreadyExists', message, opts);
  }
}
/** Optimistic-concurrency failure (stale resourceVersion, failed precondition, apply conflict). */
export class ConflictError extends KubeError {
  constructor(message: string, opts?: KubeErrorOptions) {
    super('Conflict', message, opts);
  }
}
/** 422: the object was rejected; `causes` name the offending fields. */
export class InvalidError extends KubeError {
  readonly causes: readonly StatusCause[];
  /** The first offending field, e.g. `spec.replicas`, when the server named one. */
  readonly field: string | undefined;
  constructor(message: string, opts?: KubeErrorOptions) {
    super('Invalid', message, opts);
    this.causes = opts?.status?.details?.causes ?? [];
    this.field = this.causes.find((c) => c.field !== undefined)?.field;
  }
}
export class BadRequestError extends KubeError {
  constructor(message: string, opts?: KubeErrorOptions) {
    super('BadRequest', message, opts);
  }
}
export class ForbiddenError extends KubeError {
  constructor(message: string, opts?: KubeErrorOptions) {
    super('Forbidden', message, opts);
  }
}
export class UnauthorizedError extends KubeError {
  constructor(message: string, opts?: KubeErrorOptions) {
    super('Unauthorized', message, opts);
  }
}
/** 410 Expired: the resourceVersion or continue token is too old; re-list. */
export class GoneError extends KubeError {
  constructor(message: string, opts?: KubeErrorOptions) {
    super('Gone', message, opts);
  }
}
/** 429: back off for `retryAfterMs` (from `Retry-After` or `details.retryAfterSeconds`). */
export class TooManyRequestsError extends KubeError {
  readonly retryAfterMs: number | undefined;
  constructor(message: string, opts?: KubeErrorOptions & { readonly retryAfterMs?: number }) {
    super('TooManyRequests', message, opts);
    this.retryAfterMs = opts?.retryAfterMs;
  }
}
/** 5xx, timeouts and transport failures: retry with backoff. */
export class UnavailableError extends KubeError {
  constructor(message: string, opts?: KubeErrorOptions) {
    super('Unavailable', message, opts);
  }
}
/** A failure retrying cannot fix: controllers do not requeue it (STYLE.md §4). */
export class TerminalError extends KubeError {
  constructor(message: string, opts?: KubeErrorOptions) {
    super('Terminal', message, opts);
  }
}
/** The server answered in a shape this client does not understand (bad JSON, oversize line…). */
export class ProtocolError extends KubeError {
  constructor(message: string, opts?: KubeErrorOptions) {
    super('Protocol', message, opts);
  }
}

function asStatus(body: unknown): KubeStatus | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const b = body as Record<string, unknown>;
  return b['kind'] === 'Status' || typeof b['reason'] === 'string' ? (body as KubeStatus) : undefined;
}

/**
 * Maps a non-2xx response to the matching error class. `body` is the parsed JSON (or the
 * raw text when it was not JSON). `retryAfterHeader` is the `Retry-After` value, if any.
 */
export function fromResponse(httpStatus: number, body: unknown, retryAfterHeader?: string): KubeError {
  const status = asStatus(body);
  const text = typeof body === 'string' && body.length > 0 ? body.slice(0, 512) : undefined;
  const message = status?.message ?? text ?? `HTTP ${httpStatus}`;
  const opts: KubeErrorOptions = { httpStatus, ...(status === undefined ? {} : { status }) };
  const reason = status?.reason;
  switch (httpStatus) {
    case 400:
      return new BadRequestError(message, opts);
    case 401:
      return new UnauthorizedError(message, opts);
    case 403:
      return new ForbiddenError(message, opts);
    case 404:
      return new NotFoundError(message, opts);
    case 409:
      return reason === 'AlreadyExists'
        ? new AlreadyExistsError(message, opts)
        : new ConflictError(message, opts);
    case 410:
      return new GoneError(message, opts);
    case 422:
      return new InvalidError(message, opts);
    case 429: {
      const header = retryAfterHeader === undefined ? NaN : Number(retryAfterHeader);
      const seconds = Number.isFinite(header) ? header : status?.details?.retryAfterSeconds;
      return new TooManyRequestsError(message, {
        ...opts,
        ...(seconds === undefined ? {} : { retryAfterMs: seconds * 1000 }),
      });
    }
    default:
      if (httpStatus >= 500) return new UnavailableError(message, opts);
      return new KubeError('Unknown', message, opts);
  }
}

/** Maps a `Status` carried in a watch `ERROR` event (its `code` is the HTTP status). */
export function fromStatus(status: unknown): KubeError {
  const s = asStatus(status);
  if (s === undefined) return new ProtocolError('watch ERROR event without a Status object');
  return fromResponse(s.code ?? 500, s);
}

/** True for errors worth retrying after a backoff: transport failures, 429, 5xx, conflicts. */
export function isRetryable(err: unknown): boolean {
  if (!(err instanceof KubeError)) return true;
  return err.code === 'Unavailable' || err.code === 'TooManyRequests' || err.code === 'Conflict';
}
