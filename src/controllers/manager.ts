import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { ApiClient } from '../kube/api-client.ts';
import { InformerFactory } from '../kube/informer-factory.ts';
import { leaseClient, runLeaderElection } from '../kube/leader-election.ts';
import type { Logger } from '../kube/log.ts';
import { createRecorder } from '../kube/recorder.ts';
import { startAgentIdentityController } from './agent-identity/controller.ts';
import { startBindingController } from './binding/controller.ts';
import { ensureNamespace, installCrds } from './bootstrap/install-crds.ts';
import { startClusterController } from './cluster/controller.ts';
import type { AgentSignerFiles, ControllerContext, ControllerSettings, StartController } from './context.ts';
import { startDetector } from './detector/controller.ts';
import { startExecutionController } from './execution/controller.ts';
import { startFailoverController } from './failover/controller.ts';
import { createMemberRegistry } from './members/registry.ts';
import { startScheduler } from './scheduler/controller.ts';
import { startStatusController } from './status/controller.ts';

/** Every controller, by the name `--controllers` uses. Order is start order. */
export const controllers = {
  cluster: startClusterController,
  detector: startDetector,
  scheduler: startScheduler,
  binding: startBindingController,
  execution: startExecutionController,
  status: startStatusController,
  failover: startFailoverController,
  'agent-identity': startAgentIdentityController,
} as const satisfies Record<string, StartController>;

export type ControllerName = keyof typeof controllers;

/** The namespace of Meridian's own objects on the hub (its leader-election Lease). */
export const SYSTEM_NAMESPACE = 'meridian-system';
const LEASE_NAME = 'meridian-controllers';

/**
 * Parses a `--controllers` value as kube-controller-manager does: a comma-separated list of
 * names, `*` for all, `-name` to leave one out. Unknown names are an error naming them.
 */
export function selectControllers(spec: string): ControllerName[] {
  const names = Object.keys(controllers) as ControllerName[];
  const parts = spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = parts
    .map((p) => p.replace(/^-/, ''))
    .filter((p) => p !== '*' && !names.includes(p as ControllerName));
  if (unknown.length > 0)
    throw new Error(`unknown controller(s): ${unknown.join(', ')} (known: ${names.join(', ')})`);
  const all = parts.includes('*');
  return names.filter((n) => (all || parts.includes(n)) && !parts.includes(`-${n}`));
}

export interface ManagerOptions {
  readonly hub: ApiClient;
  readonly log: Logger;
  /** Default `*`. */
  readonly controllers?: string;
  /** Default true: only the Lease holder runs controllers, so several replicas are safe. */
  readonly leaderElection?: boolean;
  readonly identity?: string;
  readonly metrics?: Registry;
  readonly signal: AbortSignal;
  /** Shorter lease timings for tests; production keeps client-go's 15/10/2 s. */
  readonly leaseTimings?: { leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number };
  /** Cluster health and failover timings (probe, taint grace and stabilisation, eviction timeout). */
  readonly settings?: ControllerSettings;
  /** The hub CA for issuing pull-mode agent certificates (the `agent-identity` controller). */
  readonly agentSigner?: AgentSignerFiles;
}

/**
 * Runs meridian-controllers: installs the CRDs on the hub, then (as Lease leader when
 * leader election is on) starts the selected controllers with one shared context until
 * `signal` aborts or leadership is lost. Resolves `'lost'` when leadership was lost (callers
 * should exit, as client-go controllers do), otherwise `'stopped'`.
 */
export async function runManager(opts: ManagerOptions): Promise<'stopped' | 'lost'> {
  const selected = selectControllers(opts.controllers ?? '*');
  const { hub, log, signal } = opts;
  const metrics = opts.metrics ?? new Registry();
  if (opts.metrics === undefined) collectDefaultMetrics({ register: metrics });
  const identity = opts.identity ?? `${hostname()}-${randomBytes(4).toString('hex')}`;
  await installCrds(hub, signal);
  await ensureNamespace(hub, SYSTEM_NAMESPACE, { signal });

  const runAll = async (leading: AbortSignal): Promise<void> => {
    const informers = new InformerFactory(hub, leading, log);
    const members = createMemberRegistry({ informers, log, signal: leading });
    const ctx: ControllerContext = {
      hub,
      informers,
      members,
      recorder: createRecorder(hub, 'meridian-controllers', identity, log),
      log,
      metrics,
      signal: leading,
      ...(opts.settings && { settings: opts.settings }),
      ...(opts.agentSigner && { agentSigner: opts.agentSigner }),
    };
    log.info({ controllers: selected, identity }, 'starting controllers');
    await Promise.all(
      selected.map((name) =>
        controllers[name](ctx).catch((err: unknown) => {
          if (!leading.aborted) log.error({ err, controller: name }, 'controller stopped with an error');
        }),
      ),
    );
  };

  if (opts.leaderElection === false) {
    await runAll(signal);
    return 'stopped';
  }
  // The Lease has its own connections and no rate limit: a renewal queued behind the
  // controllers' own writes misses its deadline under load, and the process exits.
  const leaseHub = hub.dedicated({ userAgent: 'meridian-controllers/leader-election' });
  const outcome = await runLeaderElection(
    {
      lock: leaseClient(leaseHub),
      namespace: SYSTEM_NAMESPACE,
      name: LEASE_NAME,
      identity,
      ...opts.leaseTimings,
      onStartedLeading: (leading) => runAll(leading),
      onNewLeader: (who) => log.info({ leader: who }, 'leader observed'),
      log,
    },
    signal,
  ).finally(() => leaseHub.close());
  return outcome === 'lost' ? 'lost' : 'stopped';
}
