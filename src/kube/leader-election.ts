/**
 * Lease-based leader election (client-go `tools/leaderelection` over a coordination.k8s.io/v1
 * Lease).
 *
 * Guarantees, given clocks that advance at about the same rate (not synchronised clocks):
 * - Every write to the Lease carries the resourceVersion that was read, so two candidates
 *   cannot both acquire the same term: the loser gets `409 Conflict` and keeps waiting.
 * - A candidate only takes a Lease held by someone else after it has watched the record stay
 *   unchanged for `leaseDuration` on *its own* clock (the holder's timestamps are not trusted).
 * - The leader stops leading (aborts the signal given to `onStartedLeading`) once it has failed
 *   to renew for `renewDeadline` (< `leaseDuration`), counting from the *start* of its last
 *   successful renew, so it has stepped down before anyone else may take over.
 * - On graceful stop (`signal` aborted) the leader waits for `onStartedLeading` to settle, then
 *   releases the Lease (empty holder) so a successor need not wait for expiry.
 * Caveat: a paused process (GC, SIGSTOP) longer than `leaseDuration - renewDeadline` can still
 * overlap with a successor; guard external side effects with the Lease's resourceVersion where
 * it matters.
 */
import type { ApiClient, ResourceType } from './api-client.ts';
import { systemClock, type Clock } from './clock.ts';
import { AlreadyExistsError, ConflictError, NotFoundError } from './errors.ts';
import { silentLogger, type Logger } from './log.ts';
import type { ObjectMeta } from './wire.ts';

export interface LeaseSpec {
  readonly holderIdentity?: string;
  readonly leaseDurationSeconds?: number;
  /** MicroTime: RFC 3339 with microseconds. */
  readonly acquireTime?: string;
  readonly renewTime?: string;
  readonly leaseTransitions?: number;
}

export interface Lease {
  readonly apiVersion: 'coordination.k8s.io/v1';
  readonly kind: 'Lease';
  readonly metadata: ObjectMeta;
  readonly spec?: LeaseSpec;
}

/** The three calls election needs; `leaseClient()` implements them over `ApiClient`. */
export interface LeaseClient {
  /** Resolves `undefined` when the Lease does not exist. */
  get(namespace: string, name: string, signal: AbortSignal): Promise<Lease | undefined>;
  /** Rejects with `AlreadyExistsError` if it exists. */
  create(lease: Lease, signal: AbortSignal): Promise<Lease>;
  /** Rejects with `ConflictError` when `metadata.resourceVersion` is stale. */
  replace(lease: Lease, signal: AbortSignal): Promise<Lease>;
}

export const LEASES: ResourceType = {
  group: 'coordination.k8s.io',
  version: 'v1',
  resource: 'leases',
  scope: 'Namespaced',
  kind: 'Lease',
};

export function leaseClient(client: ApiClient): LeaseClient {
  return {
    async get(namespace, name, signal) {
      try {
        return await client.get<Lease>(LEASES, { namespace, name }, { signal });
      } catch (err) {
        if (err instanceof NotFoundError) return undefined;
        throw err;
      }
    },
    create: (lease, signal) => client.create(LEASES, lease, { signal }),
    replace: (lease, signal) => client.replace(LEASES, lease, { signal }),
  };
}

export interface LeaderElectionOptions {
  readonly lock: LeaseClient;
  readonly namespace: string;
  readonly name: string;
  /** Unique per candidate (e.g. pod name + random suffix). */
  readonly identity: string;
  /** Defaults 15 s / 10 s / 2 s, as client-go. Requires leaseDuration > renewDeadline > retryPeriod. */
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  /** Runs while leading; `signal` aborts when leadership ends. May return a promise. */
  readonly onStartedLeading: (signal: AbortSignal) => void | Promise<void>;
  readonly onStoppedLeading?: () => void;
  /** Called when the observed holder changes (including to ourselves). */
  readonly onNewLeader?: (identity: string) => void;
  readonly clock?: Clock;
  readonly random?: () => number;
  readonly log?: Logger;
}

/** How an election run ended. */
export type ElectionOutcome = 'cancelled' | 'released' | 'lost';

/** MicroTime as the API expects it: `2006-01-02T15:04:05.000000Z`. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/**
 * Campaigns until leader, leads until `signal` aborts (⇒ `released`) or renewal fails for
 * `renewDeadline` (⇒ `lost`); resolves `cancelled` if aborted before winning. One term per
 * call: after `lost`, exit the process or call again.
 */
export async function runLeaderElection(
  opts: LeaderElectionOptions,
  signal: AbortSignal,
): Promise<ElectionOutcome> {
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? Math.random;
  const log = opts.log ?? silentLogger;
  const leaseMs = opts.leaseDurationMs ?? 15_000;
  const renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
  const retryMs = opts.retryPeriodMs ?? 2_000;
  if (!(leaseMs > renewDeadlineMs && renewDeadlineMs > retryMs)) {
    throw new RangeError('need leaseDuration > renewDeadline > retryPeriod');
  }
  const leaseSeconds = Math.ceil(leaseMs / 1000);
  const { identity, namespace, name, lock } = opts;
  let observed:
    { readonly spec: LeaseSpec; readonly rv: string | undefined; readonly at: number } | undefined;

  const observe = (lease: Lease, at: number): void => {
    const spec = lease.spec ?? {};
    const changed = observed?.rv !== lease.metadata.resourceVersion;
    if (observed === undefined || changed) {
      if ((observed?.spec.holderIdentity ?? '') !== (spec.holderIdentity ?? '') && spec.holderIdentity) {
        opts.onNewLeader?.(spec.holderIdentity);
      }
      observed = { spec, rv: lease.metadata.resourceVersion, at };
    }
  };

  /** The Lease as our last successful write left it, while we hold it. */
  let held: Lease | undefined;

  const tryAcquireOrRenew = async (sig: AbortSignal): Promise<boolean> => {
    const now = clock.now();
    // Fast path (client-go's too): the leader renews from the record it last wrote, one PUT
    // instead of a GET and a PUT, which halves the round trips a busy hub must answer within
    // the renew deadline. A conflict means someone else wrote it: read and decide below.
    if (held !== undefined) {
      try {
        const renewed = await lock.replace(
          { ...held, spec: { ...held.spec, leaseDurationSeconds: leaseSeconds, renewTime: microTime(now) } },
          sig,
        );
        observe(renewed, now);
        held = renewed;
        return true;
      } catch (err) {
        held = undefined;
        if (!(err instanceof ConflictError)) throw err;
      }
    }
    const current = await lock.get(namespace, name, sig);
    const fresh: LeaseSpec = {
      holderIdentity: identity,
      leaseDurationSeconds: leaseSeconds,
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    if (current === undefined) {
      try {
        const created = await lock.create(
          { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { namespace, name }, spec: fresh },
          sig,
        );
        observe(created, now);
        held = created;
        return true;
      } catch (err) {
        if (err instanceof AlreadyExistsError || err instanceof ConflictError) return false;
        throw err;
      }
    }
    observe(current, now);
    const spec = current.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const durationMs = (spec.leaseDurationSeconds ?? leaseSeconds) * 1000;
    const expired = (observed?.at ?? now) + durationMs <= now;
    if (holder !== '' && holder !== identity && !expired) return false;
    const next: LeaseSpec =
      holder === identity
        ? { ...spec, leaseDurationSeconds: leaseSeconds, renewTime: microTime(now) }
        : { ...fresh, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 };
    try {
      const updated = await lock.replace({ ...current, spec: next }, sig);
      observe(updated, now);
      held = updated;
      return true;
    } catch (err) {
      if (err instanceof ConflictError) return false;
      throw err;
    }
  };

  /** One attempt, bounded by `timeoutMs`; failures count as "not acquired". */
  const attempt = async (timeoutMs: number): Promise<boolean> => {
    const timeout = new AbortController();
    const timer = clock.setTimer(timeoutMs, () => timeout.abort(new Error('lease request timed out')));
    try {
      return await tryAcquireOrRenew(AbortSignal.any([signal, timeout.signal]));
    } catch (err) {
      if (!signal.aborted) log.warn({ err, lease: `${namespace}/${name}`, identity }, 'lease update failed');
      return false;
    } finally {
      timer.cancel();
    }
  };

  // Campaign.
  for (;;) {
    if (signal.aborted) return 'cancelled';
    if (await attempt(renewDeadlineMs)) break;
    await clock.sleep(retryMs * (1 + 1.2 * random()), signal);
  }

  log.info({ lease: `${namespace}/${name}`, identity }, 'became leader');
  const leading = new AbortController();
  const work = Promise.resolve()
    .then(() => opts.onStartedLeading(leading.signal))
    .catch((err: unknown) => log.error({ err, identity }, 'onStartedLeading failed'));

  // Renew.
  let lastRenew = clock.now();
  let outcome: ElectionOutcome;
  for (;;) {
    await clock.sleep(retryMs, signal);
    if (signal.aborted) {
      outcome = 'released';
      break;
    }
    const started = clock.now();
    const remaining = renewDeadlineMs - (started - lastRenew);
    if (remaining > 0 && (await attempt(remaining))) {
      lastRenew = started;
      continue;
    }
    if (signal.aborted) {
      outcome = 'released';
      break;
    }
    if (clock.now() - lastRenew >= renewDeadlineMs) {
      outcome = 'lost';
      break;
    }
  }

  leading.abort(new Error(outcome === 'lost' ? 'leadership lost' : 'stopping'));
  await work;
  if (outcome === 'released') await release(opts, observed, clock, log);
  else log.warn({ lease: `${namespace}/${name}`, identity }, 'leadership lost');
  opts.onStoppedLeading?.();
  return outcome;
}

async function release(
  opts: LeaderElectionOptions,
  observed: { readonly spec: LeaseSpec; readonly rv: string | undefined } | undefined,
  clock: Clock,
  log: Logger,
): Promise<void> {
  if (observed === undefined || observed.spec.holderIdentity !== opts.identity) return;
  const now = microTime(clock.now());
  try {
    await opts.lock.replace(
      {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { namespace: opts.namespace, name: opts.name, resourceVersion: observed.rv },
        spec: {
          holderIdentity: '',
          leaseDurationSeconds: 1,
          acquireTime: now,
          renewTime: now,
          leaseTransitions: observed.spec.leaseTransitions ?? 0,
        },
      },
      // The run's signal is aborted by now; the release gets its own short deadline.
      AbortSignal.timeout(opts.renewDeadlineMs ?? 10_000),
    );
  } catch (err) {
    // Someone already took it (Conflict) or the server is gone: expiry will do the rest.
    log.warn({ err, identity: opts.identity }, 'lease release failed');
  }
}
