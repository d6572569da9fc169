import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock, settle } from './clock.ts';
import { AlreadyExistsError, ConflictError, UnavailableError } from './errors.ts';
import { microTime, runLeaderElection, type Lease, type LeaseClient } from './leader-election.ts';

/** An in-memory Lease with the API server's optimistic concurrency (resourceVersion checks). */
function memoryLease() {
  let stored: Lease | undefined;
  let rv = 0;
  const failing = new Set<string>();
  const calls = { get: 0, replace: 0 };
  const lockFor = (who: string): LeaseClient => ({
    async get() {
      calls.get++;
      if (failing.has(who)) throw new UnavailableError('partitioned');
      return stored;
    },
    async create(lease) {
      if (failing.has(who)) throw new UnavailableError('partitioned');
      if (stored !== undefined) throw new AlreadyExistsError('exists');
      stored = { ...lease, metadata: { ...lease.metadata, resourceVersion: String(++rv) } };
      return stored;
    },
    async replace(lease) {
      calls.replace++;
      if (failing.has(who)) throw new UnavailableError('partitioned');
      if (stored?.metadata.resourceVersion !== lease.metadata.resourceVersion)
        throw new ConflictError('stale');
      stored = { ...lease, metadata: { ...lease.metadata, resourceVersion: String(++rv) } };
      return stored;
    },
  });
  /** Another writer (e.g. kubectl) changes the stored Lease behind the holder's back. */
  const touch = (): void => {
    if (stored !== undefined)
      stored = { ...stored, metadata: { ...stored.metadata, resourceVersion: String(++rv) } };
  };
  return { lockFor, failing, calls, touch, current: () => stored };
}

function candidates(clock: ManualClock, lease: ReturnType<typeof memoryLease>) {
  const leaders = new Set<string>();
  const history: string[] = [];
  const start = (identity: string, signal: AbortSignal) =>
    runLeaderElection(
      {
        lock: lease.lockFor(identity),
        namespace: 'meridian-system',
        name: 'controllers',
        identity,
        clock,
        random: () => 0,
        onStartedLeading: (s) => {
          assert.equal(leaders.size, 0, `${identity} started leading while ${[...leaders].join()} leads`);
          leaders.add(identity);
          history.push(`+${identity}`);
          s.addEventListener('abort', () => {
            leaders.delete(identity);
            history.push(`-${identity}`);
          });
        },
      },
      signal,
    );
  return { leaders, history, start };
}

test('microTime has microsecond precision', () => {
  assert.equal(microTime(Date.UTC(2024, 0, 2, 3, 4, 5, 678)), '2024-01-02T03:04:05.678000Z');
});

test('one of two candidates leads; a graceful stop releases so the other takes over at once', async () => {
  const clock = new ManualClock(1_000_000);
  const lease = memoryLease();
  const c = candidates(clock, lease);
  const stopA = new AbortController();
  const stopB = new AbortController();
  const a = c.start('a', stopA.signal);
  await settle();
  const b = c.start('b', stopB.signal);
  await clock.advance(30_000);
  assert.deepEqual([...c.leaders], ['a'], 'a keeps renewing; b never takes a live lease');
  assert.equal(lease.current()?.spec?.holderIdentity, 'a');
  assert.equal(lease.current()?.spec?.leaseDurationSeconds, 15);

  stopA.abort();
  assert.equal(await a, 'released');
  assert.equal(lease.current()?.spec?.holderIdentity, '', 'released');
  await clock.advance(2_000); // b's next retry, long before the 15 s expiry
  assert.deepEqual([...c.leaders], ['b']);
  assert.equal(lease.current()?.spec?.leaseTransitions, 1);

  stopB.abort();
  assert.equal(await b, 'released');
  assert.deepEqual(c.history, ['+a', '-a', '+b', '-b']);
});

test('a leader that cannot renew steps down after renewDeadline, before a successor may take over', async () => {
  const clock = new ManualClock(1_000_000);
  const lease = memoryLease();
  const c = candidates(clock, lease);
  const stopA = new AbortController();
  const stopB = new AbortController();
  const a = c.start('a', stopA.signal);
  await settle();
  const b = c.start('b', stopB.signal);
  await clock.advance(4_000);
  const cutAt = clock.now();
  lease.failing.add('a'); // a is partitioned from the API server
  let lostAt = 0;
  void a.then(() => (lostAt = clock.now()));
  // Step in 500 ms increments; the assertion inside onStartedLeading catches any overlap.
  let takenAt = 0;
  for (let t = 0; t < 30_000 && takenAt === 0; t += 500) {
    await clock.advance(500);
    if (c.leaders.has('b')) takenAt = clock.now();
  }
  assert.equal(await a, 'lost');
  assert.ok(lostAt - cutAt <= 10_000 + 2_000, `a stepped down ${lostAt - cutAt} ms after the cut`);
  assert.ok(takenAt > lostAt, 'b only leads after a stopped');
  assert.ok(takenAt - cutAt >= 15_000 - 2_000, `b waited for expiry (${takenAt - cutAt} ms)`);
  assert.equal(lease.current()?.spec?.holderIdentity, 'b');
  stopB.abort();
  await b;
});

test('aborting before winning resolves cancelled without ever leading', async () => {
  const clock = new ManualClock();
  const lease = memoryLease();
  const c = candidates(clock, lease);
  const stopA = new AbortController();
  const a = c.start('a', stopA.signal);
  await settle();
  const stopB = new AbortController();
  const b = c.start('b', stopB.signal);
  await clock.advance(3_000);
  stopB.abort();
  assert.equal(await b, 'cancelled');
  assert.deepEqual(c.history, ['+a']);
  stopA.abort();
  await a;
});

test('rejects timings that cannot be safe', async () => {
  await assert.rejects(
    runLeaderElection(
      {
        lock: memoryLease().lockFor('x'),
        namespace: 'n',
        name: 'l',
        identity: 'x',
        leaseDurationMs: 5_000,
        renewDeadlineMs: 10_000,
        onStartedLeading: () => {},
      },
      new AbortController().signal,
    ),
    RangeError,
  );
});

test('the leader renews with one PUT from the record it wrote; a conflict falls back to reading the Lease', async () => {
  const clock = new ManualClock(1_000_000);
  const lease = memoryLease();
  const c = candidates(clock, lease);
  const stop = new AbortController();
  const a = c.start('a', stop.signal);
  await settle();
  assert.ok(c.leaders.has('a'));
  const before = { ...lease.calls };
  await clock.advance(10_000); // five renewals at the 2 s retry period
  assert.equal(lease.calls.get - before.get, 0, 'no GET while renewing what it wrote');
  assert.equal(lease.calls.replace - before.replace, 5);
  lease.touch();
  await clock.advance(2_000);
  assert.equal(lease.calls.get - before.get, 1, 'the conflicting renewal reads the Lease again');
  assert.ok(c.leaders.has('a'), 'and, still the holder, keeps leading');
  assert.equal(lease.current()?.spec?.holderIdentity, 'a');
  stop.abort();
  assert.equal(await a, 'released');
});
