/**
 * `meridian describe <type>/<name>`: where one hub object went and why — its binding's
 * scheduler decision for every cluster (with reasons and scores), the replicas, apply state
 * and health in each, the overrides applied per cluster, conflicts, the binding's conditions
 * and the recent Events on the object and its binding; and its failover state and history —
 * graceful evictions in progress, clusters application failover evicted it from, and every
 * failover decision still in the hub's Events (evictions, their ends, rebalancing steps).
 */
import type { Command } from 'commander';
import {
  Annotations,
  Kinds,
  Labels,
  type ClusterDecision,
  type Condition,
  type Placement,
  type Work,
} from '../api/index.ts';
import { labelValue } from '../controllers/binding/render.ts';
import { DEPENDENCY_LABEL, bindingName } from '../controllers/detector/binding-for.ts';
import { Resources } from '../controllers/resources.ts';
import type { ApiClient, ResourceType } from '../kube/api-client.ts';
import { NotFoundError } from '../kube/errors.ts';
import type { KubeObject } from '../kube/wire.ts';
import { notFound, reportErrors, usageError } from './exit-codes.ts';
import type { AnyBinding } from './get.ts';
import { listAll, withHub } from './hub-kubeconfig.ts';
import { age, outputOption, render, type OutputFormat } from './output.ts';
import { formatTable } from './placement-report.ts';
import { parseTypeAndName, resolveType } from './resource-types.ts';

const EVENTS: ResourceType = {
  group: '',
  version: 'v1',
  resource: 'events',
  scope: 'Namespaced',
  kind: 'Event',
};
/** How many of the most recent Events `describe` shows. */
export const MAX_EVENTS = 20;
/** How many failover decisions (Events) `describe` shows, most recent last. */
export const MAX_FAILOVER_HISTORY = 50;

/** Event reasons of failover decisions (scheduler, application failover, rebalancing). */
export const FAILOVER_EVENT_REASONS: ReadonlySet<string> = new Set([
  'ClusterEvicted',
  'GracefulEvictionEnded',
  'ApplicationFailover',
  'ApplicationFailoverHeld',
  'EvictionLifted',
  'Rebalanced',
]);

/** A core/v1 Event as the hub returns it (events.k8s.io Events read through core/v1). */
export type CoreEvent = KubeObject & {
  readonly type?: string;
  readonly reason?: string;
  readonly message?: string;
  readonly count?: number;
  readonly eventTime?: string;
  readonly lastTimestamp?: string;
  readonly series?: { readonly count?: number; readonly lastObservedTime?: string };
  readonly involvedObject?: { readonly kind?: string; readonly name?: string };
};

/** One cluster in a description: the scheduler's decision, and what happened there. */
export interface ClusterDescription {
  readonly name: string;
  /** The scheduler's outcome; `null` when it recorded none for this cluster. */
  readonly decision: ClusterDecision['outcome'] | null;
  /** The cluster is in the binding's `spec.clusters` (it gets a Work). */
  readonly target: boolean;
  readonly score: number | null;
  /** The cluster's share, for kinds with replicas. */
  readonly replicas: number | null;
  readonly reasons: readonly string[];
  readonly applied: boolean | null;
  readonly appliedMessage: string | null;
  readonly health: string | null;
  readonly readyReplicas: number | null;
  /** `namespace/name` of its Work on the hub. */
  readonly work: string | null;
  /** The overriders that changed the object for this cluster, in the order applied. */
  readonly overrides: readonly string[];
}

/** What `meridian describe -o json|yaml` prints. */
export interface Description {
  readonly object: {
    readonly apiVersion: string;
    readonly kind: string;
    readonly namespace: string | null;
    readonly name: string;
    /** False when only its binding is left (the object is being deleted). */
    readonly exists: boolean;
    readonly replicas: number | null;
  };
  /** `null` when nothing propagates the object. */
  readonly binding: {
    readonly kind: string;
    readonly namespace: string | null;
    readonly name: string;
  } | null;
  readonly policy: { readonly kind: string; readonly namespace: string | null; readonly name: string } | null;
  /** Placed with the workloads that reference it (propagateDeps), not by a policy of its own. */
  readonly dependency: boolean;
  /** How replicas are divided: `Duplicated`, `Divided (Weighted: static weights)`…; `null` without a binding. */
  readonly replicaScheduling: string | null;
  /** The `clusterAffinities` term that won, when the policy has several. */
  readonly affinityTerm: string | null;
  readonly lastScheduledTime: string | null;
  readonly clusters: readonly ClusterDescription[];
  /** Clusters whose Work could not apply because another owner's object is in the way. */
  readonly conflicts: readonly { readonly cluster: string; readonly message: string }[];
  /** Clusters whose Work failed to apply for another reason (rejected, unreachable…). */
  readonly applyErrors: readonly {
    readonly cluster: string;
    readonly reason: string;
    readonly message: string;
  }[];
  readonly conditions: readonly {
    readonly type: string;
    readonly status: string;
    readonly reason: string;
    readonly message: string;
    readonly lastTransitionTime: string;
  }[];
  /** Failover state and history of the binding; `null` without a binding. */
  readonly failover: {
    /** Graceful evictions in progress: the copy on `cluster` is kept until its replacement is healthy. */
    readonly evictions: readonly {
      readonly cluster: string;
      readonly reason: string;
      readonly purgeMode: string;
      readonly replicas: number | null;
      readonly since: string;
      readonly gracePeriodSeconds: number | null;
      readonly message: string;
    }[];
    /** Clusters application failover evicted the binding from (not candidates until lifted). */
    readonly evictedClusters: readonly {
      readonly cluster: string;
      readonly reason: string;
      readonly since: string;
      readonly message: string;
    }[];
    /** Failover decisions still in the hub's Events, oldest first. */
    readonly history: readonly {
      readonly time: string | null;
      readonly type: string;
      readonly reason: string;
      readonly message: string;
      readonly count: number;
    }[];
  } | null;
  /** The most recent Events on the object and its binding, oldest first. */
  readonly events: readonly {
    readonly time: string | null;
    readonly type: string;
    readonly reason: string;
    readonly object: string;
    readonly message: string;
    readonly count: number;
  }[];
}

/** In words: how a placement divides replicas (kinds without replicas are copied whole). */
export function replicaSchedulingText(placement: Placement | undefined, replicated: boolean): string {
  if (!replicated) return 'copied whole to each cluster (no replicas)';
  const rs = placement?.replicaScheduling;
  if (rs === undefined || rs.replicaSchedulingType === 'Duplicated')
    return 'Duplicated (all replicas in each cluster)';
  const pref = rs.replicaDivisionPreference;
  if (pref === 'Aggregated') return 'Divided (Aggregated: as few clusters as fit)';
  if (pref === 'Weighted') {
    const w = rs.weightPreference;
    if (w?.dynamicWeight !== undefined) return `Divided (Weighted: ${w.dynamicWeight})`;
    if (w?.staticWeightList !== undefined) return 'Divided (Weighted: static weights)';
  }
  return 'Divided (equal weights)';
}

function eventTime(e: CoreEvent): string | null {
  return (
    e.series?.lastObservedTime ?? e.lastTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp ?? null
  );
}

function overridesOf(work: Work): string[] {
  const manifest = work.spec.workload.manifests[0] as KubeObject | undefined;
  const text = manifest?.metadata?.annotations?.[Annotations.appliedOverrides];
  if (text === undefined) return [];
  try {
    const list: unknown = JSON.parse(text);
    return Array.isArray(list) ? list.map(String) : [text];
  } catch {
    return [text];
  }
}

const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);
const byName = <T extends { readonly cluster: string }>(a: T, b: T) => (a.cluster < b.cluster ? -1 : 1);

/** The description of an object from what the hub holds about it (pure; `describe` gathers the inputs). */
export function describeObject(input: {
  readonly object: {
    readonly apiVersion: string;
    readonly kind: string;
    readonly namespace?: string;
    readonly name: string;
  };
  readonly template: (KubeObject & { readonly spec?: { readonly replicas?: unknown } }) | undefined;
  readonly binding: AnyBinding | undefined;
  readonly works: readonly Work[];
  readonly events: readonly CoreEvent[];
}): Description {
  const { object, template, binding: b, works } = input;
  const replicated = b?.spec.replicas !== undefined;
  const decisions = new Map((b?.status?.schedulingDecisions ?? []).map((d) => [d.clusterName, d]));
  const targets = new Map((b?.spec.clusters ?? []).map((c) => [c.name, c.replicas]));
  const statuses = new Map((b?.status?.aggregatedStatus ?? []).map((s) => [s.clusterName, s]));
  const workOf = new Map(
    works.map((w) => [w.metadata.labels?.[Labels.cluster] ?? '', w] as const).filter(([c]) => c !== ''),
  );
  const names = [
    ...new Set([...decisions.keys(), ...targets.keys(), ...statuses.keys(), ...workOf.keys()]),
  ].sort();
  const clusters = names.map((name): ClusterDescription => {
    const d = decisions.get(name);
    const s = statuses.get(name);
    const w = workOf.get(name);
    const share = targets.get(name);
    return {
      name,
      decision: d?.outcome ?? null,
      target: targets.has(name),
      score: d?.score ?? null,
      replicas: replicated && share !== undefined ? share : null,
      reasons: d?.reasons ?? [],
      applied: s?.applied ?? null,
      appliedMessage: s?.applied === true ? null : (s?.appliedMessage ?? null),
      health: s?.health ?? null,
      readyReplicas: replicated && targets.has(name) ? (num(s?.status?.['readyReplicas']) ?? 0) : null,
      work: w === undefined ? null : `${w.metadata.namespace}/${w.metadata.name}`,
      overrides: w === undefined ? [] : overridesOf(w),
    };
  });
  const conflicts: { cluster: string; message: string }[] = [];
  const applyErrors: { cluster: string; reason: string; message: string }[] = [];
  for (const [cluster, w] of workOf) {
    const applied = w.status?.conditions?.find((c) => c.type === 'Applied');
    if (applied?.status !== 'False') continue;
    if (applied.reason === 'Conflict') conflicts.push({ cluster, message: applied.message });
    else applyErrors.push({ cluster, reason: applied.reason, message: applied.message });
  }
  const bindingRef =
    b === undefined
      ? null
      : {
          kind: b.kind,
          namespace: b.kind === Kinds.ClusterResourceBinding ? null : (b.metadata.namespace ?? null),
          name: b.metadata.name ?? '',
        };
  const ref = b?.spec.policyRef;
  const all = [...input.events]
    .map((e) => ({
      time: eventTime(e),
      type: e.type ?? 'Normal',
      reason: e.reason ?? '',
      object: `${e.involvedObject?.kind ?? '?'}/${e.involvedObject?.name ?? '?'}`,
      message: e.message ?? '',
      count: e.series?.count ?? e.count ?? 1,
    }))
    .sort((x, y) => Date.parse(x.time ?? '') - Date.parse(y.time ?? '') || (x.reason < y.reason ? -1 : 1));
  const events = all.slice(-MAX_EVENTS);
  const failover =
    b === undefined
      ? null
      : {
          evictions: (b.spec.gracefulEvictionTasks ?? []).map((t) => ({
            cluster: t.fromCluster,
            reason: t.reason,
            purgeMode: t.purgeMode,
            replicas: t.replicas ?? null,
            since: t.creationTimestamp,
            gracePeriodSeconds: t.gracePeriodSeconds ?? null,
            message: t.message ?? '',
          })),
          evictedClusters: (b.spec.evictedClusters ?? []).map((e) => ({
            cluster: e.name,
            reason: e.reason,
            since: e.evictionTime,
            message: e.message ?? '',
          })),
          history: all
            .filter((e) => FAILOVER_EVENT_REASONS.has(e.reason))
            .slice(-MAX_FAILOVER_HISTORY)
            .map(({ time, type, reason, message, count }) => ({ time, type, reason, message, count })),
        };
  const templateReplicas = num(template?.spec?.replicas);
  return {
    object: {
      apiVersion: object.apiVersion,
      kind: object.kind,
      namespace: object.namespace ?? null,
      name: object.name,
      exists: template !== undefined,
      replicas: templateReplicas ?? b?.spec.replicas ?? null,
    },
    binding: bindingRef,
    policy: ref === undefined ? null : { kind: ref.kind, namespace: ref.namespace ?? null, name: ref.name },
    dependency: b?.metadata.labels?.[DEPENDENCY_LABEL] === 'true',
    replicaScheduling: b === undefined ? null : replicaSchedulingText(b.spec.placement, replicated),
    affinityTerm: b?.status?.schedulerObservedAffinityName ?? null,
    lastScheduledTime: b?.status?.lastScheduledTime ?? null,
    clusters,
    conflicts: conflicts.sort(byName),
    applyErrors: applyErrors.sort(byName),
    conditions: (b?.status?.conditions ?? []).map((c: Condition) => ({
      type: c.type,
      status: c.status,
      reason: c.reason,
      message: c.message,
      lastTransitionTime: c.lastTransitionTime,
    })),
    failover,
    events,
  };
}

const qualified = (ns: string | null, name: string) => (ns === null ? name : `${ns}/${name}`);
const indent = (text: string) => text.replace(/^/gm, '  ');

/** The human form, in kubectl describe's layout: fields, then sections with tables. */
export function formatDescription(d: Description, now: number = Date.now()): string {
  const o = d.object;
  const lines: [string, string][] = [
    [
      'Object',
      `${o.kind} ${qualified(o.namespace, o.name)} (${o.apiVersion})` +
        (o.replicas === null ? '' : `, ${o.replicas} replica(s)`) +
        (o.exists ? '' : ' — deleted from the hub; its binding is being removed'),
    ],
  ];
  if (d.binding === null) {
    lines.push([
      'Binding',
      '<none>: no PropagationPolicy or ClusterPropagationPolicy selects this object, so it stays on the hub ' +
        '(or `meridian controllers` are not running)',
    ]);
  } else {
    lines.push(['Binding', `${d.binding.kind} ${qualified(d.binding.namespace, d.binding.name)}`]);
    lines.push([
      'Policy',
      d.policy !== null
        ? `${d.policy.kind} ${qualified(d.policy.namespace, d.policy.name)}`
        : d.dependency
          ? '<none>: a dependency, placed on the clusters of the workloads that use it (propagateDeps)'
          : '<none>',
    ]);
    lines.push(['Replicas', d.replicaScheduling ?? '-']);
    const scheduled = d.conditions.find((c) => c.type === 'Scheduled');
    lines.push([
      'Scheduled',
      scheduled === undefined
        ? 'not yet'
        : `${scheduled.status} (${scheduled.reason}): ${scheduled.message}` +
          (d.affinityTerm === null ? '' : `; affinity term ${d.affinityTerm}`) +
          (d.lastScheduledTime === null ? '' : `; last scheduled ${age(d.lastScheduledTime, now)} ago`),
    ]);
  }
  const width = Math.max(...lines.map(([k]) => k.length)) + 3;
  const out = [lines.map(([k, v]) => `${`${k}:`.padEnd(width)}${v}`).join('\n')];

  if (d.binding !== null) {
    const yesNo = (v: boolean | null) => (v === null ? '-' : v ? 'yes' : 'no');
    out.push(
      `Clusters:\n${indent(
        d.clusters.length === 0
          ? '<none> (not scheduled yet)'
          : formatTable(
              ['CLUSTER', 'DECISION', 'REPLICAS', 'SCORE', 'APPLIED', 'HEALTH', 'READY', 'REASONS'],
              d.clusters.map((c) => [
                c.name,
                c.decision ?? (c.target ? 'Selected' : '-'),
                c.replicas === null ? '-' : String(c.replicas),
                c.score === null ? '-' : String(c.score),
                c.target ? yesNo(c.applied) : '-',
                c.target ? (c.health ?? '-') : '-',
                c.readyReplicas === null || c.replicas === null ? '-' : `${c.readyReplicas}/${c.replicas}`,
                [
                  ...c.reasons,
                  ...(c.target && c.applied !== true && c.appliedMessage ? [c.appliedMessage] : []),
                ].join('; ') || '-',
              ]),
            ),
      )}`,
    );
    const overrides = d.clusters.flatMap((c) => c.overrides.map((ov) => [c.name, ov]));
    out.push(
      `Overrides:\n${indent(overrides.length === 0 ? '<none>' : formatTable(['CLUSTER', 'OVERRIDER'], overrides))}`,
    );
    out.push(
      `Conflicts:\n${indent(
        d.conflicts.length === 0
          ? '<none>'
          : formatTable(
              ['CLUSTER', 'MESSAGE'],
              d.conflicts.map((c) => [c.cluster, c.message]),
            ),
      )}`,
    );
    if (d.applyErrors.length > 0) {
      out.push(
        `Apply errors:\n${indent(
          formatTable(
            ['CLUSTER', 'REASON', 'MESSAGE'],
            d.applyErrors.map((e) => [e.cluster, e.reason, e.message]),
          ),
        )}`,
      );
    }
    out.push(
      `Conditions:\n${indent(
        d.conditions.length === 0
          ? '<none>'
          : formatTable(
              ['TYPE', 'STATUS', 'REASON', 'AGE', 'MESSAGE'],
              d.conditions.map((c) => [
                c.type,
                c.status,
                c.reason,
                age(c.lastTransitionTime, now),
                c.message || '-',
              ]),
            ),
      )}`,
    );
    const f = d.failover;
    if (f !== null && f.evictions.length + f.evictedClusters.length + f.history.length > 0) {
      const parts: string[] = [];
      if (f.evictions.length > 0) {
        parts.push(
          `Graceful evictions (old copy kept until the replacement is healthy):\n${indent(
            formatTable(
              ['CLUSTER', 'REASON', 'PURGE', 'REPLICAS', 'AGE', 'GRACE', 'MESSAGE'],
              f.evictions.map((e) => [
                e.cluster,
                e.reason,
                e.purgeMode,
                e.replicas === null ? '-' : String(e.replicas),
                age(e.since, now),
                e.gracePeriodSeconds === null ? '-' : `${e.gracePeriodSeconds}s`,
                e.message || '-',
              ]),
            ),
          )}`,
        );
      }
      if (f.evictedClusters.length > 0) {
        parts.push(
          `Evicted clusters (application failover; not candidates until lifted):\n${indent(
            formatTable(
              ['CLUSTER', 'REASON', 'AGE', 'MESSAGE'],
              f.evictedClusters.map((e) => [e.cluster, e.reason, age(e.since, now), e.message || '-']),
            ),
          )}`,
        );
      }
      if (f.history.length > 0) {
        parts.push(
          `History:\n${indent(
            formatTable(
              ['AGE', 'TYPE', 'REASON', 'MESSAGE'],
              f.history.map((e) => [
                age(e.time ?? undefined, now),
                e.type,
                e.reason,
                e.count > 1 ? `${e.message} (x${e.count})` : e.message,
              ]),
            ),
          )}`,
        );
      }
      out.push(`Failover:\n${indent(parts.join('\n'))}`);
    }
  }
  out.push(
    `Events:\n${indent(
      d.events.length === 0
        ? '<none>'
        : formatTable(
            ['AGE', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE'],
            d.events.map((e) => [
              age(e.time ?? undefined, now),
              e.type,
              e.reason,
              e.object,
              e.count > 1 ? `${e.message} (x${e.count})` : e.message,
            ]),
          ),
    )}`,
  );
  return out.join('\n\n');
}

async function getOrUndefined<K extends KubeObject>(
  client: ApiClient,
  rt: ResourceType,
  ref: { namespace?: string; name: string },
): Promise<K | undefined> {
  try {
    return await client.get<K>(rt, ref);
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

interface Options {
  readonly namespace?: string;
  readonly output: OutputFormat;
  readonly kubeconfig?: string;
}

/** Gathers what the hub holds about the object and describes it; exit 3 when neither it nor a binding exists. */
export async function runDescribe(first: string, second: string | undefined, opts: Options): Promise<void> {
  const parsed = parseTypeAndName(first, second, 'describe');
  if (parsed.name === undefined) {
    throw usageError(`name the object: meridian describe ${parsed.type}/<name>`);
  }
  const name = parsed.name;
  const description = await withHub(opts.kubeconfig, async (hub) => {
    const type = await resolveType(hub.client, parsed.type);
    const namespace = opts.namespace ?? hub.namespace;
    const isBinding =
      type.group === Resources.ResourceBinding.group &&
      (type.kind === Kinds.ResourceBinding || type.kind === Kinds.ClusterResourceBinding);
    let binding: AnyBinding | undefined;
    let template: KubeObject | undefined;
    let object: { apiVersion: string; kind: string; namespace?: string; name: string };
    if (isBinding) {
      binding = await getOrUndefined<AnyBinding>(hub.client, type, {
        ...(type.scope === 'Cluster' ? {} : { namespace }),
        name,
      });
      if (binding === undefined) {
        const where = type.scope === 'Cluster' ? name : `${namespace}/${name}`;
        throw notFound(`no ${type.kind} ${where} on the hub; \`meridian get -A\` lists the bindings`);
      }
      const r = binding.spec.resource;
      object = {
        apiVersion: r.apiVersion,
        kind: r.kind,
        ...(r.namespace ? { namespace: r.namespace } : {}),
        name: r.name,
      };
      const rt = await hub.client.resolve(r.apiVersion, r.kind).catch((err: unknown) => {
        if (err instanceof NotFoundError) return undefined;
        throw err;
      });
      if (rt !== undefined)
        template = await getOrUndefined(hub.client, rt, {
          ...(r.namespace ? { namespace: r.namespace } : {}),
          name: r.name,
        });
    } else {
      const ns = type.scope === 'Cluster' ? {} : { namespace };
      template = await getOrUndefined(hub.client, type, { ...ns, name });
      object = {
        apiVersion:
          template?.apiVersion ?? (type.group === '' ? type.version : `${type.group}/${type.version}`),
        kind: type.kind,
        ...ns,
        name,
      };
      binding = await getOrUndefined<AnyBinding>(
        hub.client,
        type.scope === 'Cluster' ? Resources.ClusterResourceBinding : Resources.ResourceBinding,
        { ...ns, name: bindingName({ kind: type.kind, metadata: { name } }) },
      );
      if (template === undefined && binding === undefined) {
        const where = type.scope === 'Cluster' ? name : `${namespace}/${name}`;
        throw notFound(
          `no ${type.kind.toLowerCase()} ${where} on the hub` +
            (type.scope === 'Cluster' ? '' : ` (kubectl get ${type.resource} -n ${namespace} lists them)`),
        );
      }
    }
    const works =
      binding === undefined
        ? []
        : await listAll<Work>(hub.client, Resources.Work, {
            labelSelector:
              `${Labels.bindingName}=${labelValue(binding.metadata.name ?? '')},` +
              (binding.kind === Kinds.ClusterResourceBinding
                ? `!${Labels.bindingNamespace}`
                : `${Labels.bindingNamespace}=${binding.metadata.namespace ?? ''}`),
          });
    const events: CoreEvent[] = [];
    for (const o of [template, binding as KubeObject | undefined]) {
      const uid = o?.metadata?.uid;
      if (uid === undefined) continue;
      events.push(
        ...(await listAll<CoreEvent>(hub.client, EVENTS, {
          ...(o?.metadata?.namespace ? { namespace: o.metadata.namespace } : {}),
          fieldSelector: `involvedObject.uid=${uid}`,
        })),
      );
    }
    return describeObject({ object, template, binding, works, events });
  });
  process.stdout.write(render(opts.output, description, () => formatDescription(description)));
}

/** Adds `meridian describe` to `program`. */
export function registerDescribe(program: Command): void {
  program
    .command('describe')
    .description(
      'show where an object went and why: scheduler decisions per cluster, overrides, conflicts, events',
    )
    .argument('<type/name>', 'the hub object, e.g. deployment/web (or rb/web-deployment for a binding)')
    .argument('[name]', 'the name, when the type is given on its own (describe deployment web)')
    .option('-n, --namespace <ns>', "namespace (default: the kubeconfig context's, else default)")
    .addOption(outputOption())
    .option('--kubeconfig <file>', 'hub kubeconfig (default: $KUBECONFIG, then ~/.kube/config)')
    .addHelpText(
      'after',
      `
Shows the object's binding (the policy that claimed it, how replicas are divided), then per
cluster the scheduler's decision (Selected, Filtered with each failing filter's reason, or
NotSelected and why), score and replicas, whether its Work applied, health and ready
replicas; the overriders that changed the object in each cluster; conflicts with objects
already in a member; the binding's conditions; and the last ${MAX_EVENTS} Events on the object
and its binding. An object no policy selects is shown as not propagated (exit 0).
-o json|yaml prints the same as one document (docs/cli.md).

Exit codes: 0 described; 1 usage (e.g. an unknown type); 2 hub unreachable or refused;
3 neither the object nor a binding for it exists.

Examples:
  meridian describe deployment/frontend -n shop
  meridian describe rb/frontend-deployment -n shop -o yaml`,
    )
    .action(
      reportErrors(async (first: string, second: string | undefined, opts: Options) => {
        await runDescribe(first, second, opts);
      }),
    );
}
