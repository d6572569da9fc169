import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AlreadyExistsError,
  ConflictError,
  fromResponse,
  fromStatus,
  GoneError,
  InvalidError,
  isRetryable,
  NotFoundError,
  ProtocolError,
  TooManyRequestsError,
  UnavailableError,
} from './errors.ts';

test('409 is AlreadyExists or Conflict depending on the Status reason', () => {
  const exists = fromResponse(409, {
    kind: 'Status',
    reason: 'AlreadyExists',
    message: 'x exists',
    code: 409,
  });
  assert.ok(exists instanceof AlreadyExistsError);
  assert.equal(exists.code, 'AlreadyExists');
  assert.equal(exists.message, 'x exists');
  const conflict = fromResponse(409, { kind: 'Status', reason: 'Conflict', message: 'stale', code: 409 });
  assert.ok(conflict instanceof ConflictError);
  assert.equal(conflict.httpStatus, 409);
});

test('422 carries the fields named by the Status causes', () => {
  const err = fromResponse(422, {
    kind: 'Status',
    reason: 'Invalid',
    message: 'Deployment.apps "web" is invalid',
    details: { causes: [{ reason: 'FieldValueInvalid', field: 'spec.replicas', message: 'must be >= 0' }] },
  });
  assert.ok(err instanceof InvalidError);
  assert.equal(err.field, 'spec.replicas');
  assert.equal(err.causes.length, 1);
});

test('429 prefers the Retry-After header, else details.retryAfterSeconds', () => {
  const a = fromResponse(429, { kind: 'Status', details: { retryAfterSeconds: 3 } }, '7');
  assert.ok(a instanceof TooManyRequestsError);
  assert.equal(a.retryAfterMs, 7000);
  const b = fromResponse(429, { kind: 'Status', details: { retryAfterSeconds: 3 } });
  assert.ok(b instanceof TooManyRequestsError);
  assert.equal(b.retryAfterMs, 3000);
});

test('status codes map to their classes; non-JSON bodies become the message', () => {
  assert.ok(fromResponse(404, 'nope') instanceof NotFoundError);
  assert.equal(fromResponse(404, 'nope').message, 'nope');
  assert.ok(fromResponse(410, {}) instanceof GoneError);
  assert.ok(fromResponse(503, '') instanceof UnavailableError);
  assert.equal(fromResponse(503, '').message, 'HTTP 503');
  assert.equal(fromResponse(405, {}).code, 'Unknown');
});

test('fromStatus maps a watch ERROR object by its code', () => {
  const err = fromStatus({
    kind: 'Status',
    code: 410,
    reason: 'Expired',
    message: 'too old resource version',
  });
  assert.ok(err instanceof GoneError);
  assert.equal(err.status?.reason, 'Expired');
  assert.ok(fromStatus(42) instanceof ProtocolError);
});

test('isRetryable: transport/5xx/429/conflict yes, 4xx validation no', () => {
  assert.equal(isRetryable(new Error('ECONNRESET')), true);
  assert.equal(isRetryable(fromResponse(503, '')), true);
  assert.equal(isRetryable(fromResponse(422, {})), false);
  assert.equal(isRetryable(fromResponse(404, {})), false);
});
