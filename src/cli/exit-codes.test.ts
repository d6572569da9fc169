import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ForbiddenError, NotFoundError, UnauthorizedError, UnavailableError } from '../kube/errors.ts';
import { CliError, ExitCodes, hubError } from './exit-codes.ts';

const SERVER = 'https://127.0.0.1:6443';
const FROM = '/tmp/hub.kubeconfig';

test('hub failures exit 2 with a message naming the hub and what to check', () => {
  const down = hubError(new UnavailableError('transport: connect ECONNREFUSED 127.0.0.1:6443'), SERVER, FROM);
  assert.equal(down.exitCode, ExitCodes.failure);
  assert.equal(
    down.message,
    `cannot reach the hub at ${SERVER} (connect ECONNREFUSED 127.0.0.1:6443); ` +
      `check that it is running and that ${FROM} points at it (--kubeconfig, $KUBECONFIG)`,
  );
  assert.match(
    hubError(new UnauthorizedError('Unauthorized'), SERVER, FROM).message,
    /refused the credentials in/,
  );
  assert.match(hubError(new ForbiddenError('nope'), SERVER, FROM).message, /forbids this/);
  assert.match(hubError(new NotFoundError('404'), SERVER, FROM).message, /CRDs installed/);
  assert.equal(hubError(new Error('boom'), SERVER, FROM).exitCode, ExitCodes.failure);
});

test('a CliError keeps its own exit code', () => {
  const e = new CliError(ExitCodes.notFound, 'no cluster named x');
  assert.equal(hubError(e, SERVER, FROM), e);
});
