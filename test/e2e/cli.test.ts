// The read commands of the `meridian` CLI — clusters, get, describe, kubeconfig — run as a
// user runs them (the real binary, as a child process) against the real hub and members,
// with the real `meridian join` and `meridian controllers` doing the work they report on.
// Assertions are on what a person or a script sees: table columns and values, the JSON
// shape, messages and exit codes. Clusters are joined under names unique to this run, so
// other test files sharing the hub never show up in (or disturb) what is asserted here.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { kubectl } from '../../src/testenv/kubectl.ts';
import { eventually } from '../support/eventually.ts';
import { uniqueName, useEnvironment } from '../support/environment.ts';
import { meridian, startControllers, type CliResult, type ControllersProcess } from '../support/meridian.ts';

const env = useEnvironment();
const run = randomBytes(3).toString('hex');
const runLabel = `meridian.dev/test-run=${run}`;
const runSelector = { labelSelector: { matchLabels: { 'meridian.dev/test-run': run } } };
const WAIT = { timeoutMs: 300_000, intervalMs: 1_000 };
let controllers: ControllersProcess | undefined;
let scratch: string;

/** This run's name for each member (member name + run id). */
const clusterName = (member: string) => `${member}-${run}`;
/** The run's clusters, in the environment's member order: A, B and C below. */
const names = () => env.get().members.map((m) => clusterName(m.name));

const yaml = (...docs: object[]) => docs.map((d) => stringify(d)).join('---\n');
const hub = (args: string[], input?: string) =>
  env.get().kubectl('hub', args, input === undefined ? {} : { input });
/** `meridian <args> --kubeconfig <hub>`. */
const cli = (...args: string[]): Promise<CliResult> =>
  meridian([...args, '--kubeconfig', env.get().hub.kubeconfig]);

/** Runs `meridian` and parses its JSON output, failing with its stderr when it did not exit 0. */
async function cliJson<T>(...args: string[]): Promise<T> {
  const r = await cli(...args, '-o', 'json');
  assert.equal(r.code, 0, `meridian ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** A kubectl-style table as one record per row, keyed by header (cells have no spaces). */
function tableRows(stdout: string): Record<string, string>[] {
  const [header, ...rows] = stdout.trimEnd().split('\n');
  const keys = (header ?? '').trim().split(/\s+/);
  return rows.map((line) => {
    const cells = line.trim().split(/\s+/);
    return Object.fromEntries(keys.map((k, i) => [k, cells[i] ?? '']));
  });
}

/** The lines of one section (`Clusters:`, `Events:`…) of `meridian describe`'s text. */
function section(text: string, title: string): string[] {
  const start = text.split('\n').indexOf(`${title}:`);
  assert.ok(start >= 0, `no ${title} section in:\n${text}`);
  const lines: string[] = [];
  for (const line of text.split('\n').slice(start + 1)) {
    if (!line.startsWith('  ')) break;
    lines.push(line.slice(2));
  }
  return lines;
}

function deployment(ns: string, name: string, replicas: number) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns, labels: { app: name } },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            { name: 'app', image: 'nginx:1.27', resources: { requests: { cpu: '100m', memory: '64Mi' } } },
          ],
        },
      },
    },
  };
}

const configMap = (ns: string, name: string, owner = 'meridian') => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: ns },
  data: { owner },
});

function policy(ns: string, name: string, selectors: object[], placement: object = {}) {
  return {
    apiVersion: 'meridian.dev/v1alpha1',
    kind: 'PropagationPolicy',
    metadata: { name, namespace: ns },
    spec: { resourceSelectors: selectors, placement: { clusterAffinity: runSelector, ...placement } },
  };
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.ok(address !== null && typeof address === 'object');
  return address.port;
}

interface ClusterItem {
  name: string;
  mode: string;
  ready: { status: string; reason: string | null; message: string | null };
  kubernetesVersion: string | null;
  region: string | null;
  provider: string | null;
  nodes: { ready: number; total: number } | null;
  capacity: Record<'cpu' | 'memory' | 'pods', { allocatable: string | null; available: string | null }>;
  labels: Record<string, string>;
}

interface BindingItem {
  namespace: string | null;
  resource: { apiVersion: string; kind: string; name: string };
  binding: { kind: string; name: string };
  policy: { kind: string; namespace: string | null; name: string } | null;
  replicas: number | null;
  ready: { ready: number; desired: number } | null;
  scheduled: { status: string };
  fullyApplied: { status: string };
  clusters: { name: string; replicas: number | null; applied: boolean | null; health: string | null }[];
}

interface DescriptionJson {
  object: { kind: string; namespace: string | null; name: string; exists: boolean; replicas: number | null };
  binding: { kind: string; namespace: string | null; name: string } | null;
  policy: { kind: string; namespace: string | null; name: string } | null;
  replicaScheduling: string | null;
  clusters: {
    name: string;
    decision: string | null;
    target: boolean;
    replicas: number | null;
    reasons: string[];
    applied: boolean | null;
    work: string | null;
    overrides: string[];
  }[];
  conflicts: { cluster: string; message: string }[];
  conditions: { type: string; status: string; reason: string }[];
  events: { type: string; reason: string; object: string; message: string }[];
}

before(async () => {
  const e = env.get();
  scratch = await mkdtemp(join(tmpdir(), 'meridian-cli-test-'));
  for (const m of e.members) {
    const r = await meridian([
      'join',
      clusterName(m.name),
      '--kubeconfig',
      m.kubeconfig,
      '--hub-kubeconfig',
      e.hub.kubeconfig,
      '--labels',
      runLabel,
    ]);
    assert.equal(r.code, 0, `meridian join ${clusterName(m.name)}: ${r.stderr}`);
  }
  controllers = startControllers(e.hub);
  await eventually(async () => {
    const { items } = await cliJson<{ items: ClusterItem[] }>('clusters', '-l', runLabel);
    assert.deepEqual(
      items.map((c) => [c.name, c.ready.status]),
      names()
        .sort()
        .map((n) => [n, 'True']),
    );
  }, WAIT);
});

after(async () => {
  // Removed while the controllers still run, so their finalizers are released.
  for (const name of names()) await hub(['delete', 'cluster', name, '--wait=false', '--ignore-not-found']);
  await eventually(async () => {
    const left = await hub(['get', 'clusters', '-l', runLabel, '-o', 'name']);
    assert.equal(left.stdout.trim(), '');
  }, WAIT).catch(async (err: unknown) => {
    process.stderr.write(`[cli-test] clusters not removed: ${String(err)}\n`);
    // Never leave a Cluster stuck on a finalizer for the next test file.
    for (const name of names())
      await hub(['patch', 'cluster', name, '--type=merge', '-p', '{"metadata":{"finalizers":null}}']).catch(
        () => {},
      );
  });
  await controllers?.stop();
  if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
});

describe('meridian clusters', () => {
  test('the table shows each joined cluster with mode, Ready, version, region, provider, nodes and capacity', async () => {
    const r = await cli('clusters', '-l', runLabel);
    assert.equal(r.code, 0, r.stderr);
    const [header] = r.stdout.split('\n');
    assert.deepEqual(header?.trim().split(/\s+/), [
      'NAME',
      'MODE',
      'READY',
      'VERSION',
      'REGION',
      'PROVIDER',
      'NODES',
      'CPU',
      'MEMORY',
      'PODS',
    ]);
    const rows = tableRows(r.stdout);
    assert.deepEqual(
      rows.map((row) => row['NAME']),
      names().sort(),
    );
    for (const m of env.get().members) {
      const row = rows.find((x) => x['NAME'] === clusterName(m.name));
      assert.ok(row, `no row for ${clusterName(m.name)}:\n${r.stdout}`);
      assert.equal(row['MODE'], 'Push');
      assert.equal(row['READY'], 'True');
      assert.match(row['VERSION'] ?? '', /^v1\.\d+\.\d+/);
      assert.equal(row['REGION'], m.labels['topology.kubernetes.io/region']);
      assert.equal(row['PROVIDER'], m.labels['meridian.dev/provider']);
      assert.match(row['NODES'] ?? '', /^(\d+)\/\1$/, 'every node Ready');
      assert.match(row['CPU'] ?? '', /^[\d.]+m?\/[\d.]+$/);
      assert.match(row['MEMORY'] ?? '', /^[\d.]+(Gi|Mi|Ki)\/[\d.]+(Gi|Mi|Ki)$/);
      assert.match(row['PODS'] ?? '', /^\d+\/\d+$/);
    }
  });

  test('-o json and -o yaml give every cluster as an item with readiness, topology and capacity', async () => {
    const { items } = await cliJson<{ items: ClusterItem[] }>('clusters', '-l', runLabel);
    const [a] = env.get().members;
    const item = items.find((c) => c.name === clusterName(a!.name));
    assert.ok(item);
    assert.equal(item.mode, 'Push');
    assert.equal(item.ready.status, 'True');
    assert.equal(item.ready.reason, 'ClusterReady');
    assert.equal(item.region, a!.labels['topology.kubernetes.io/region']);
    assert.equal(item.labels['meridian.dev/test-run'], run);
    assert.ok(item.nodes !== null && item.nodes.total > 0);
    for (const resource of ['cpu', 'memory', 'pods'] as const) {
      assert.notEqual(item.capacity[resource].allocatable, null, resource);
      assert.notEqual(item.capacity[resource].available, null, resource);
    }
    const y = await cli('clusters', clusterName(a!.name), '-o', 'yaml');
    assert.equal(y.code, 0, y.stderr);
    const fromYaml = parse(y.stdout) as { items: ClusterItem[] };
    assert.deepEqual(
      fromYaml.items.map((c) => c.name),
      [clusterName(a!.name)],
    );
  });

  test('a cluster that does not exist exits 3 and says how to list them; the hub comes from $KUBECONFIG too', async () => {
    const r = await meridian(['clusters', `nope-${run}`], {
      ...process.env,
      KUBECONFIG: env.get().hub.kubeconfig,
    });
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, '');
    assert.match(
      r.stderr,
      new RegExp(`error: no cluster named nope-${run} on the hub; \`meridian clusters\` lists them`),
    );
  });
});

describe('meridian get and describe', () => {
  let ns: string;

  before(async () => {
    // A divided Deployment (A 2 : B 1, so C gets nothing), an override for B only, a ConfigMap
    // on every cluster, and a ConfigMap no policy selects.
    const [a, b] = names();
    ns = uniqueName('cli');
    await hub(['create', 'namespace', ns]);
    await hub(
      ['apply', '-f', '-'],
      yaml(
        deployment(ns, 'web', 6),
        configMap(ns, 'settings'),
        configMap(ns, 'lonely'),
        policy(ns, 'web', [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }], {
          replicaScheduling: {
            replicaSchedulingType: 'Divided',
            replicaDivisionPreference: 'Weighted',
            weightPreference: {
              staticWeightList: [
                { targetCluster: { clusterNames: [a] }, weight: 2 },
                { targetCluster: { clusterNames: [b] }, weight: 1 },
              ],
            },
          },
        }),
        policy(ns, 'settings', [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'settings' }]),
        {
          apiVersion: 'meridian.dev/v1alpha1',
          kind: 'OverridePolicy',
          metadata: { name: 'mirror', namespace: ns },
          spec: {
            resourceSelectors: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }],
            overrideRules: [
              {
                targetCluster: { clusterNames: [b] },
                overriders: {
                  imageOverrider: [{ component: 'Registry', operator: 'replace', value: 'mirror.example' }],
                },
              },
            ],
          },
        },
      ),
    );
    await eventually(async () => {
      const { items } = await cliJson<{ items: BindingItem[] }>('get', '-n', ns);
      const web = items.find((i) => i.resource.kind === 'Deployment');
      assert.deepEqual(web?.ready, { ready: 6, desired: 6 });
      const settings = items.find((i) => i.resource.name === 'settings');
      assert.deepEqual(
        settings?.clusters.map((c) => c.applied),
        [true, true, true],
      );
    }, WAIT);
  });

  test('get: a row per propagated object, a column per cluster with ready/desired or applied, and totals', async () => {
    const [a, b, c] = names();
    const r = await cli('get', '-n', ns);
    assert.equal(r.code, 0, r.stderr);
    const [header] = r.stdout.split('\n');
    assert.deepEqual(header?.trim().split(/\s+/), [
      'OBJECT',
      ...[a!, b!, c!].sort().map((n) => n.toUpperCase()),
      'READY',
      'SCHEDULED',
      'APPLIED',
      'HEALTHY',
    ]);
    const rows = tableRows(r.stdout);
    assert.deepEqual(
      rows.map((row) => row['OBJECT']),
      ['ConfigMap/settings', 'Deployment/web'],
      'sorted, and the unpropagated ConfigMap is not listed',
    );
    const web = rows[1]!;
    assert.equal(web[a!.toUpperCase()], '4/4');
    assert.equal(web[b!.toUpperCase()], '2/2');
    assert.equal(web[c!.toUpperCase()], '-');
    assert.deepEqual(
      [web['READY'], web['SCHEDULED'], web['APPLIED'], web['HEALTHY']],
      ['6/6', 'True', '2/2', '2/2'],
    );
    const settings = rows[0]!;
    for (const n of [a!, b!, c!]) assert.equal(settings[n.toUpperCase()], 'applied');
    assert.deepEqual(
      [settings['READY'], settings['SCHEDULED'], settings['APPLIED'], settings['HEALTHY']],
      ['-', 'True', '3/3', '3/3'],
    );
  });

  test('get <type>/<name> -o json: one item with its policy and per-cluster replicas, applied and health', async () => {
    const [a, b] = names();
    const { items } = await cliJson<{ items: BindingItem[] }>('get', 'deploy/web', '-n', ns);
    assert.equal(items.length, 1);
    const web = items[0]!;
    assert.equal(web.namespace, ns);
    assert.deepEqual(web.resource, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' });
    assert.deepEqual(web.binding, { kind: 'ResourceBinding', name: 'web-deployment' });
    assert.deepEqual(web.policy, { kind: 'PropagationPolicy', namespace: ns, name: 'web' });
    assert.equal(web.replicas, 6);
    assert.equal(web.scheduled.status, 'True');
    assert.equal(web.fullyApplied.status, 'True');
    assert.deepEqual(
      web.clusters.map((c) => [c.name, c.replicas, c.applied, c.health]).sort(),
      [
        [a, 4, true, 'Healthy'],
        [b, 2, true, 'Healthy'],
      ].sort(),
    );
    // The same object found by the binding type, and by a type only.
    assert.equal(
      (await cliJson<{ items: BindingItem[] }>('get', 'rb', 'web-deployment', '-n', ns)).items.length,
      1,
    );
    assert.deepEqual(
      (await cliJson<{ items: BindingItem[] }>('get', 'configmaps', '-n', ns)).items.map(
        (i) => i.resource.name,
      ),
      ['settings'],
    );
  });

  test('get -A adds a NAMESPACE column and lists this namespace among the others', async () => {
    const r = await cli('get', '-A', '-l', 'meridian.dev/policy-name=web');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^NAMESPACE\s+OBJECT\s/);
    const row = tableRows(r.stdout).find((x) => x['NAMESPACE'] === ns);
    assert.equal(row?.['OBJECT'], 'Deployment/web');
  });

  test('get of an object that is missing or not propagated exits 3 and says which', async () => {
    const missing = await cli('get', 'deployment/nope', '-n', ns);
    assert.equal(missing.code, 3, missing.stderr);
    assert.match(missing.stderr, new RegExp(`error: no deployment ${ns}/nope on the hub`));
    const lonely = await cli('get', 'cm/lonely', '-n', ns);
    assert.equal(lonely.code, 3, lonely.stderr);
    assert.match(lonely.stderr, new RegExp(`configmap ${ns}/lonely is not propagated: no PropagationPolicy`));
    const empty = await cli('get', '-n', `${ns}-empty`);
    assert.equal(empty.code, 0, 'an empty list is not an error');
    assert.equal(empty.stdout, '');
    assert.match(empty.stderr, /No bindings in namespace/);
    assert.deepEqual(await cliJson('get', '-n', `${ns}-empty`), { items: [] });
  });

  test('describe: every cluster with the scheduler decision and why, the override, conditions and events', async () => {
    const [a, b, c] = names();
    const r = await cli('describe', 'deployment/web', '-n', ns);
    assert.equal(r.code, 0, r.stderr);
    const text = r.stdout;
    assert.match(text, new RegExp(`^Object:\\s+Deployment ${ns}/web \\(apps/v1\\), 6 replica\\(s\\)$`, 'm'));
    assert.match(text, new RegExp(`^Binding:\\s+ResourceBinding ${ns}/web-deployment$`, 'm'));
    assert.match(text, new RegExp(`^Policy:\\s+PropagationPolicy ${ns}/web$`, 'm'));
    assert.match(text, /^Replicas:\s+Divided \(Weighted: static weights\)$/m);
    assert.match(text, /^Scheduled:\s+True \(Success\)/m);

    const clusters = section(text, 'Clusters');
    assert.match(
      clusters[0] ?? '',
      /^CLUSTER\s+DECISION\s+REPLICAS\s+SCORE\s+APPLIED\s+HEALTH\s+READY\s+REASONS$/,
    );
    const rowOf = (name: string) => clusters.find((l) => l.startsWith(`${name} `)) ?? '';
    assert.match(rowOf(a!), /^\S+\s+Selected\s+4\s+\d+\s+yes\s+Healthy\s+4\/4\s+score \d+/);
    assert.match(rowOf(b!), /^\S+\s+Selected\s+2\s+\d+\s+yes\s+Healthy\s+2\/2\s+score \d+/);
    assert.match(
      rowOf(c!),
      /^\S+\s+NotSelected\s+-\s+\S+\s+-\s+-\s+-\s+.*replica division .*assigned no replicas/,
    );

    const overrides = section(text, 'Overrides');
    assert.match(
      overrides[1] ?? '',
      new RegExp(
        `^${b}\\s+OverridePolicy/${ns}/mirror: overrideRules\\[0\\]\\.overriders\\.imageOverrider\\[0\\]$`,
      ),
    );
    assert.equal(overrides.length, 2, 'only the cluster the override targets');
    assert.deepEqual(section(text, 'Conflicts'), ['<none>']);
    const conditions = section(text, 'Conditions').join('\n');
    assert.match(conditions, /^Scheduled\s+True\s+Success\s/m);
    assert.match(conditions, /^FullyApplied\s+True\s+FullyApplied\s/m);
    assert.match(
      section(text, 'Events').join('\n'),
      /\sNormal\s+Scheduled\s+ResourceBinding\/web-deployment\s+placed on /,
    );
  });

  test('describe -o json: the same facts as data, per cluster with its Work', async () => {
    const [a, b, c] = names();
    const d = await cliJson<DescriptionJson>('describe', 'deployment', 'web', '-n', ns);
    assert.deepEqual(d.object, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      namespace: ns,
      name: 'web',
      exists: true,
      replicas: 6,
    });
    assert.deepEqual(d.binding, { kind: 'ResourceBinding', namespace: ns, name: 'web-deployment' });
    assert.deepEqual(d.policy, { kind: 'PropagationPolicy', namespace: ns, name: 'web' });
    const byName = new Map(d.clusters.map((x) => [x.name, x]));
    assert.deepEqual(
      [a!, b!, c!].map((n) => [byName.get(n)?.decision, byName.get(n)?.target, byName.get(n)?.replicas]),
      [
        ['Selected', true, 4],
        ['Selected', true, 2],
        ['NotSelected', false, null],
      ],
    );
    assert.equal(byName.get(a!)?.work, `meridian-cluster-${a}/rb.${ns}.web-deployment`);
    assert.deepEqual(byName.get(a!)?.overrides, []);
    assert.equal(byName.get(b!)?.overrides.length, 1);
    assert.ok(byName.get(c!)?.reasons.some((x) => /assigned no replicas/.test(x)));
    assert.deepEqual(d.conflicts, []);
    assert.ok(
      d.events.some((e) => e.reason === 'Scheduled' && e.object === 'ResourceBinding/web-deployment'),
    );
  });

  test('describe shows a conflict with an object someone else created in a member', async () => {
    const [, , c] = names();
    const member = env.get().members[2]!;
    const onMember = (args: string[], input?: string) =>
      kubectl(env.get().info.binDir, member.kubeconfig, args, input === undefined ? {} : { input });
    // (The namespace is already there for the ConfigMap Meridian put on every cluster.)
    await onMember(
      ['apply', '-f', '-'],
      yaml(
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
        configMap(ns, 'taken', 'local-team'),
      ),
    );
    await hub(
      ['apply', '-f', '-'],
      yaml(
        configMap(ns, 'taken'),
        policy(ns, 'taken', [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'taken' }], {
          clusterAffinity: { ...runSelector, clusterNames: [c] },
        }),
      ),
    );
    const d = await eventually(async () => {
      const got = await cliJson<DescriptionJson>('describe', 'configmap/taken', '-n', ns);
      assert.equal(got.conflicts.length, 1, JSON.stringify(got.conflicts));
      return got;
    }, WAIT);
    assert.equal(d.conflicts[0]?.cluster, c);
    const r = await cli('describe', 'configmap/taken', '-n', ns);
    assert.equal(r.code, 0, r.stderr);
    const conflicts = section(r.stdout, 'Conflicts');
    assert.match(conflicts[0] ?? '', /^CLUSTER\s+MESSAGE$/);
    assert.match(conflicts[1] ?? '', new RegExp(`^${c}\\s+\\S`));
    assert.match(section(r.stdout, 'Conditions').join('\n'), /^FullyApplied\s+False\s+NotFullyApplied\s/m);
  });

  test('describe of an object no policy selects says so (exit 0); of a missing one exits 3', async () => {
    const lonely = await cli('describe', 'cm/lonely', '-n', ns);
    assert.equal(lonely.code, 0, lonely.stderr);
    assert.match(
      lonely.stdout,
      /^Binding:\s+<none>: no PropagationPolicy or ClusterPropagationPolicy selects this object/m,
    );
    const d = await cliJson<DescriptionJson>('describe', 'cm/lonely', '-n', ns);
    assert.equal(d.binding, null);
    assert.deepEqual(d.clusters, []);
    const missing = await cli('describe', 'deployment/nope', '-n', ns);
    assert.equal(missing.code, 3, missing.stderr);
    assert.equal(missing.stdout, '');
    assert.match(
      missing.stderr,
      new RegExp(
        `error: no deployment ${ns}/nope on the hub \\(kubectl get deployments -n ${ns} lists them\\)`,
      ),
    );
  });
});

describe('meridian kubeconfig', () => {
  test('prints a kubeconfig that reaches the member, named after the cluster', async () => {
    const [a] = names();
    const member = env.get().members[0]!;
    const r = await cli('kubeconfig', a!);
    assert.equal(r.code, 0, r.stderr);
    const config = parse(r.stdout) as {
      'current-context': string;
      clusters: { name: string; cluster: { server: string } }[];
    };
    assert.equal(config['current-context'], a);
    assert.equal(config.clusters[0]?.cluster.server, member.server);
    const path = join(scratch, 'printed.kubeconfig');
    await writeFile(path, r.stdout);
    const nodes = await kubectl(env.get().info.binDir, path, ['get', 'nodes', '-o', 'name']);
    const expected = await kubectl(env.get().info.binDir, member.kubeconfig, ['get', 'nodes', '-o', 'name']);
    assert.equal(nodes.stdout, expected.stdout, "the member's own nodes");
  });

  test('--file writes it with mode 0600 and refuses to replace a file without --force', async () => {
    const [, b] = names();
    const path = join(scratch, 'written.kubeconfig');
    const r = await cli('kubeconfig', b!, '--file', path);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`kubeconfig for cluster ${b} written to ${path}`));
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const ns = await kubectl(env.get().info.binDir, path, ['get', 'namespace', 'default', '-o', 'name']);
    assert.equal(ns.stdout.trim(), 'namespace/default');
    const again = await cli('kubeconfig', b!, '--file', path);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /exists; pass --force to replace it/);
    const forced = await cli('kubeconfig', b!, '--file', path, '--force', '-o', 'json');
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal((JSON.parse(await readFile(path, 'utf8')) as { kind: string }).kind, 'Config');
  });

  test('a cluster that does not exist exits 3', async () => {
    const r = await cli('kubeconfig', `nope-${run}`);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /no cluster named nope-\w+ on the hub; `meridian clusters` lists them/);
  });
});

describe('usage errors and an unreachable hub', () => {
  test('wrong arguments and options exit 1 with a message and a pointer to --help', async () => {
    for (const args of [
      ['get', '-o', 'xml'],
      ['clusters', '--bogus'],
      ['describe'],
      ['kubeconfig'],
      ['kubeconfig', 'x', '-o', 'table'],
    ]) {
      const r = await cli(...args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^error: /m, args.join(' '));
      assert.match(r.stderr, /--help/, args.join(' '));
    }
    const both = await cli('get', '-A', '-n', 'x');
    assert.equal(both.code, 1);
    assert.match(both.stderr, /error: give -n <namespace> or -A, not both/);
    const kind = await cli('describe', `widget${run}/x`);
    assert.equal(kind.code, 1);
    assert.match(
      kind.stderr,
      new RegExp(`the hub serves no resource type "widget${run}"; .*kubectl api-resources`),
    );
    const noName = await cli('describe', 'deployment');
    assert.equal(noName.code, 1);
    assert.match(noName.stderr, /name the object: meridian describe deployment\/<name>/);
  });

  test('a missing hub kubeconfig exits 1; an unreachable hub exits 2 and names it', async () => {
    const missing = await meridian(['clusters', '--kubeconfig', join(scratch, 'nope.kubeconfig')]);
    assert.equal(missing.code, 1);
    assert.match(
      missing.stderr,
      /no hub kubeconfig at .*nope\.kubeconfig: pass --kubeconfig <file> or set KUBECONFIG/,
    );

    const port = await closedPort();
    const config = parse(await readFile(env.get().hub.kubeconfig, 'utf8')) as {
      clusters: { cluster: { server: string } }[];
    };
    for (const c of config.clusters) c.cluster.server = `https://127.0.0.1:${port}`;
    const path = join(scratch, 'unreachable.kubeconfig');
    await writeFile(path, stringify(config));
    for (const args of [['clusters'], ['get', '-A'], ['describe', 'deployment/web'], ['kubeconfig', 'x']]) {
      const r = await meridian([...args, '--kubeconfig', path]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(
        r.stderr,
        new RegExp(
          `^error: cannot reach the hub at https://127\\.0\\.0\\.1:${port} \\(.*\\); check that it is running`,
        ),
        args.join(' '),
      );
    }
  });
});
