/**
 * The contract between the propagation benchmark (`run.ts`) and a multi-cluster control
 * plane under test. Meridian implements it in `./meridian.ts`; a peer system (Karmada, in
 * `bench/karmada/karmada.ts`, exported as `startKarmada`) implements the same shape, so one
 * run measures both on the same environment with the same workload and the same watches.
 *
 * What the runner does with it, in order:
 * 1. `start<System>(env)`: the system is running and its members (every `env.members[i]`)
 *    are joined and ready to receive workloads when the promise resolves.
 * 2. creates a fresh namespace through `kubeconfig`, then `applyPolicy(namespace, labels)`.
 * 3. creates the benchmark Deployments in that namespace through `kubeconfig` and measures,
 *    by watches on every member and on `kubeconfig`, when each one is on every member and
 *    when `kubeconfig` shows its aggregated ready status; samples `pids()` for memory.
 * 4. deletes the Deployments and the namespace, waits until the members are empty, then
 *    `stop()`: afterwards the next system starts on the same environment.
 */
import type { Environment } from '../../src/testenv/environment.ts';
import type { ResourceType } from '../../src/kube/api-client.ts';
import type { KubeObject } from '../../src/kube/wire.ts';

export interface PeerControlPlane {
  /** Short lower-case name used in reports, e.g. `meridian`, `karmada`. */
  readonly name: string;
  /** Admin kubeconfig of the API server users apply Deployments and the policy to. */
  readonly kubeconfig: string;
  /**
   * The system's controller processes, for peak resident memory (the runner adds their
   * descendants). Read at the end of the batch, so they must still be running then.
   */
  pids(): number[];
  /**
   * Optional: the API server(s) behind `kubeconfig`, for the report's API-server memory and
   * CPU columns. Omitted: the environment's `hub/kube-apiserver`.
   */
  apiServerPids?(): number[];
  /**
   * Creates the system's policy in `namespace` selecting every Deployment with all of
   * `labelSelector`'s labels, spreading them over all members of the environment as
   * `replicaScheduling: Divided` with equal static weights per member, so a Deployment
   * with `replicas: 3` (what the runner creates) runs one pod in each of the 3 members
   * and the aggregated `status.readyReplicas` on the API server reaches 3.
   */
  applyPolicy(namespace: string, labelSelector: Record<string, string>): Promise<void>;
  /**
   * Optional, for diagnosis only: the system's own intermediate objects to watch, so the
   * report can split the latency into stages (e.g. binding created → scheduled → per-cluster
   * work written). Not needed for the headline numbers.
   */
  stages?(namespace: string): readonly StageProbe[];
  /** Optional: anything the report should mention (e.g. a controller process restarted). */
  notes?(): readonly string[];
  /** Optional: system-specific numbers for the JSON result (e.g. event-loop delay). */
  metrics?(): Readonly<Record<string, number>>;
  /** Stops every process the system started and removes what it registered. Idempotent. */
  stop(): Promise<void>;
}

/** Starts a system on an environment (`startMeridian`, `startKarmada`). */
export type StartPeer = (env: Environment, opts?: PeerOptions) => Promise<PeerControlPlane>;

export interface PeerOptions {
  /** Extra `node` arguments for Node.js controller processes (e.g. `--cpu-prof`); ignored otherwise. */
  readonly nodeArgs?: readonly string[];
  /** Extra command-line arguments for the system's controllers (system-specific). */
  readonly args?: readonly string[];
  /** Directory for the system's logs and profiles. */
  readonly outDir?: string;
  readonly log?: (message: string) => void;
}

/**
 * One intermediate stage: a watch on the API server at `kubeconfig`, and how an event maps
 * to the benchmark Deployment it belongs to. The stage is reached for a Deployment when
 * `expected` distinct objects (by namespace/name) mapping to it satisfy `done`.
 */
export interface StageProbe {
  readonly name: string;
  readonly resource: ResourceType;
  /** Omitted: all namespaces. */
  readonly namespace?: string;
  readonly labelSelector?: string;
  /** The benchmark Deployment's name, or undefined when the object is not one of the run's. */
  readonly deploymentOf: (obj: KubeObject) => string | undefined;
  readonly done?: (obj: KubeObject) => boolean;
  readonly expected?: number;
}
