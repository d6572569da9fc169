// The in-cluster install: deploy/ manifests, the Helm chart and `meridian init`, checked
// against the real API servers of the test environment — server-side dry-run (every field
// validated by the server, nothing persisted) of each manifest, and `meridian init` run for
// real into a kwok member acting as the host cluster, where the Deployments get (simulated)
// Ready pods.
//
// Helm is not packaged in Debian, so the chart is rendered by the small renderer below,
// which implements exactly the template features the chart uses (`.Values`, `.Release`,
// `.Chart`, `quote`, `default`, `if`/`end` with whitespace trimming) and fails on anything
// else; the rendered objects must equal the plain manifests', so the two cannot drift.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { Plurals } from '../../src/api/constants.ts';
import { REQUIRED_ACCESS } from '../../src/dashboard/auth.ts';
import { WatchedResources } from '../../src/dashboard/fleet-state.ts';
import { RELAY_NODE_FLAGS } from '../../src/cli/relay-gc.ts';
import type { KubeObject } from '../../src/kube/wire.ts';
import { useEnvironment } from '../support/environment.ts';
import { eventually } from '../support/eventually.ts';
import { meridian } from '../support/meridian.ts';
import { bundleCli } from '../../scripts/bundle.ts';

const env = useEnvironment();
const root = fileURLToPath(new URL('../../', import.meta.url));
const deploy = join(root, 'deploy');
const chart = join(deploy, 'helm', 'meridian');
const WAIT = { timeoutMs: 300_000, intervalMs: 1_000 };

const docsOf = (text: string): KubeObject[] =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null && typeof o === 'object' && o.kind !== undefined);
const filesIn = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => join(dir, f));
const manifests = (dir: string): KubeObject[] => filesIn(dir).flatMap((f) => docsOf(readFileSync(f, 'utf8')));
const yaml = (objs: readonly KubeObject[]) => objs.map((o) => stringify(o)).join('---\n');
const key = (o: KubeObject) => `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;

// ---- the chart renderer ----------------------------------------------------------------------

type Scope = Record<string, unknown>;

function lookup(scope: Scope, path: string): unknown {
  if (!path.startsWith('.')) throw new Error(`unsupported template term ${path}`);
  let v: unknown = scope;
  for (const part of path.slice(1).split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Scope)[part];
  }
  return v;
}

/** A pipeline: `<path> [| quote] [| default <path>]`. */
function evaluate(scope: Scope, expr: string): unknown {
  const [first, ...fns] = expr.split('|').map((s) => s.trim());
  let v = lookup(scope, first as string);
  for (const fn of fns) {
    const [name, arg] = fn.split(/\s+/);
    if (name === 'quote') v = JSON.stringify(v === undefined || v === null ? '' : String(v));
    else if (name === 'default' && arg !== undefined) v = truthy(v) ? v : lookup(scope, arg);
    else throw new Error(`unsupported template function ${fn}`);
  }
  return v;
}

const truthy = (v: unknown) => !(v === undefined || v === null || v === false || v === '' || v === 0);

/** Renders one template file: `{{- x }}` / `{{ x -}}` trim whitespace as Go templates do. */
function renderTemplate(text: string, scope: Scope): string {
  const trimmed = text.replace(/\s*\{\{-/g, '{{').replace(/-\}\}\s*/g, '}}');
  const parts = trimmed.split(/\{\{\s*(.*?)\s*\}\}/s);
  const out: string[] = [];
  const emitting: boolean[] = [];
  const on = () => emitting.every(Boolean);
  parts.forEach((part, i) => {
    if (i % 2 === 0) {
      if (on()) out.push(part);
    } else if (part.startsWith('if ')) emitting.push(truthy(evaluate(scope, part.slice(3))));
    else if (part === 'end') assert.ok(emitting.pop() !== undefined, 'unbalanced {{ end }}');
    else if (on()) out.push(String(evaluate(scope, part) ?? ''));
  });
  assert.equal(emitting.length, 0, 'unclosed {{ if }}');
  return out.join('');
}

function renderChart(namespace: string, values: Scope = {}): KubeObject[] {
  const meta = parse(readFileSync(join(chart, 'Chart.yaml'), 'utf8')) as { appVersion: string };
  const defaults = parse(readFileSync(join(chart, 'values.yaml'), 'utf8')) as Scope;
  const merge = (a: Scope, b: Scope): Scope => {
    const out: Scope = { ...a };
    for (const [k, v] of Object.entries(b))
      out[k] =
        v !== null && typeof v === 'object' && !Array.isArray(v)
          ? merge((a[k] ?? {}) as Scope, v as Scope)
          : v;
    return out;
  };
  const scope: Scope = {
    Values: merge(defaults, values),
    Release: { Namespace: namespace, Name: 'meridian' },
    Chart: { AppVersion: meta.appVersion },
  };
  return filesIn(join(chart, 'templates')).flatMap((f) =>
    docsOf(renderTemplate(readFileSync(f, 'utf8'), scope)),
  );
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

// ---- the tests ---------------------------------------------------------------------------------

/** `kubectl apply --server-side --dry-run=server` of `objs` on `cluster`: the server validates every field. */
async function dryRun(cluster: string, objs: readonly KubeObject[]): Promise<string> {
  const r = await env.get().kubectl(
    cluster,
    // --force-conflicts: the hub is shared, and other suites (the dashboard's, `meridian up`)
    // own the same cluster-scoped objects (the viewer's ClusterRoleBinding) under the field
    // manager `meridian`. A dry run changes nothing either way; validation is what is judged.
    [
      'apply',
      '--server-side',
      '--dry-run=server',
      '--force-conflicts',
      '--field-manager=meridian-test',
      '-f',
      '-',
    ],
    {
      input: yaml(objs),
    },
  );
  return r.stdout;
}

/** The one object the hub manifests put outside their namespace: reading the hub's front-proxy settings. */
const inKubeSystem = (o: KubeObject) => o.kind === 'RoleBinding' && o.metadata?.namespace === 'kube-system';

interface Access {
  verb: string;
  group?: string;
  resource: string;
  namespace?: string;
  name?: string;
}

/**
 * Whether `cluster`'s RBAC lets ServiceAccount `namespace/name` do `access`: a real
 * SubjectAccessReview, with the groups every ServiceAccount token carries.
 */
async function serviceAccountMay(
  cluster: string,
  sa: { namespace: string; name: string },
  access: Access,
): Promise<boolean> {
  const review = {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SubjectAccessReview',
    spec: {
      user: `system:serviceaccount:${sa.namespace}:${sa.name}`,
      groups: ['system:serviceaccounts', `system:serviceaccounts:${sa.namespace}`, 'system:authenticated'],
      resourceAttributes: access,
    },
  };
  const r = await env.get().kubectl(cluster, ['create', '-f', '-', '-o', 'jsonpath={.status.allowed}'], {
    input: JSON.stringify(review),
  });
  return r.stdout.trim() === 'true';
}

/** Asserts `sa` may do each of `allowed` and none of `denied` on `cluster`. */
async function assertAccess(
  cluster: string,
  sa: { namespace: string; name: string },
  allowed: readonly Access[],
  denied: readonly Access[],
): Promise<void> {
  for (const a of allowed)
    assert.ok(await serviceAccountMay(cluster, sa, a), `${sa.name} may ${JSON.stringify(a)}`);
  for (const a of denied)
    assert.ok(!(await serviceAccountMay(cluster, sa, a)), `${sa.name} may not ${JSON.stringify(a)}`);
}

/** Applies the Namespace objects for real (a dry-run cannot create the namespace the rest need). */
async function createNamespaces(cluster: string, objs: readonly KubeObject[]): Promise<void> {
  const namespaces = objs.filter((o) => o.kind === 'Namespace');
  if (namespaces.length > 0)
    await env.get().kubectl(cluster, ['apply', '--server-side', '--field-manager=meridian-test', '-f', '-'], {
      input: yaml(namespaces),
    });
}

describe('deploy/ manifests, Helm chart and container images', () => {
  test('the hub manifests and CRDs pass server-side dry-run on the hub API server', async () => {
    const objs = [...manifests(join(deploy, 'crds')), ...manifests(join(deploy, 'hub'))];
    const kinds = new Set(objs.map((o) => o.kind));
    for (const k of [
      'CustomResourceDefinition',
      'Namespace',
      'ServiceAccount',
      'ClusterRole',
      'ClusterRoleBinding',
      'Deployment',
      'Service',
    ])
      assert.ok(kinds.has(k), `deploy/hub has a ${k}`);
    await createNamespaces('hub', objs);
    const out = await dryRun('hub', objs);
    for (const o of objs) {
      const kind = (o.kind as string).toLowerCase();
      const name = (o.metadata?.name as string).replace(/\./g, '\\.');
      const line = new RegExp(
        `^${kind}(\\.[a-z0-9.]+)?/${name} serverside-applied \\(server dry run\\)$`,
        'm',
      );
      assert.match(out, line, `${key(o)}: ${out}`);
    }
  });

  test('the controllers and the gateway are leader-elected / probed Deployments with their own ServiceAccounts', () => {
    const objs = manifests(join(deploy, 'hub'));
    const deployment = (name: string) =>
      objs.find((o) => o.kind === 'Deployment' && o.metadata?.name === name) as KubeObject & {
        spec: {
          replicas: number;
          template: {
            spec: { serviceAccountName: string; containers: { args: string[]; readinessProbe?: object }[] };
          };
        };
      };
    const controllers = deployment('meridian-controllers');
    assert.ok(controllers.spec.replicas >= 2, 'several controllers, one leader');
    // Leader election is the controllers' default; nothing may turn it off.
    assert.ok(!controllers.spec.template.spec.containers[0]?.args.includes('--no-leader-elect'));
    for (const d of [controllers, deployment('meridian-gateway')]) {
      const sa = d.spec.template.spec.serviceAccountName;
      assert.ok(
        objs.some((o) => o.kind === 'ServiceAccount' && o.metadata?.name === sa),
        sa,
      );
      assert.ok(
        objs.some((o) => o.kind === 'ClusterRoleBinding' && JSON.stringify(o).includes(`"name":"${sa}"`)),
        sa,
      );
      assert.ok(d.spec.template.spec.containers[0]?.readinessProbe, `${d.metadata?.name} readiness probe`);
    }
  });

  test('the agent manifests pass server-side dry-run on a member API server', async () => {
    const objs = manifests(join(deploy, 'agent'));
    await createNamespaces(env.get().members[0]!.name, objs);
    const out = await dryRun(env.get().members[0]!.name, objs);
    assert.match(out, /deployment\.apps\/meridian-agent serverside-applied \(server dry run\)/);
    assert.match(out, /clusterrole\.rbac\.authorization\.k8s\.io\/meridian-agent serverside-applied/);
    // The credential comes from a Secret reference, whatever kind of credential it holds.
    const agent = objs.find((o) => o.kind === 'Deployment') as unknown as {
      spec: { template: { spec: { volumes: { secret?: { secretName: string } }[] } } };
    };
    assert.ok(
      agent.spec.template.spec.volumes.some((v) => v.secret?.secretName === 'meridian-agent-credentials'),
    );
  });

  test("the agent's RBAC lets it impersonate, report capacity (nodes, pods) and apply Works, and nothing more", async () => {
    // Applied for real (the ClusterRole and its binding only), checked by the member's own
    // authorizer, then removed.
    const member = env.get().members[0]!.name;
    const rbac = manifests(join(deploy, 'agent')).filter(
      (o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding',
    );
    assert.equal(rbac.length, 2);
    await env.get().kubectl(member, ['apply', '--server-side', '--field-manager=meridian-test', '-f', '-'], {
      input: yaml(rbac),
    });
    try {
      const sa = { namespace: 'meridian-agent', name: 'meridian-agent' };
      await assertAccess(
        member,
        sa,
        [
          // The capacity summary's informers (src/agent/resource-summary.ts).
          { verb: 'list', resource: 'nodes' },
          { verb: 'watch', resource: 'nodes' },
          { verb: 'list', resource: 'pods' },
          { verb: 'watch', resource: 'pods' },
          // The APIs report (CRDs), the tunnel (impersonation), applying Works of any kind.
          { verb: 'watch', group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions' },
          { verb: 'impersonate', resource: 'users' },
          { verb: 'impersonate', resource: 'groups' },
          { verb: 'patch', group: 'apps', resource: 'deployments', namespace: 'shop' },
          { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'clusterroles' },
          { verb: 'delete', group: 'example.com', resource: 'widgets', namespace: 'shop' },
        ],
        [
          { verb: 'escalate', group: 'rbac.authorization.k8s.io', resource: 'clusterroles' },
          { verb: 'bind', group: 'rbac.authorization.k8s.io', resource: 'clusterroles' },
          { verb: 'approve', group: 'certificates.k8s.io', resource: 'signers' },
        ],
      );
    } finally {
      await env
        .get()
        .kubectl(member, [
          'delete',
          'clusterrolebinding/meridian-agent',
          'clusterrole/meridian-agent',
          '--ignore-not-found',
        ]);
    }
  });

  test('the Helm chart renders the same objects as the plain manifests, and they pass server-side dry-run', async () => {
    const plainHub = manifests(join(deploy, 'hub')).filter((o) => o.kind !== 'Namespace');
    const hub = renderChart('meridian-system');
    assert.deepEqual(hub.map(key).sort(), plainHub.map(key).sort());
    assert.deepEqual(hub, plainHub);
    const plainAgent = manifests(join(deploy, 'agent')).filter((o) => o.kind !== 'Namespace');
    const agent = renderChart('meridian-agent', { hub: { enabled: false }, agent: { enabled: true } });
    assert.deepEqual(agent, plainAgent);
    // Values reach the objects.
    const custom = renderChart('fleet', {
      image: { registry: 'registry.example.com/m', tag: '9.9' },
      hub: { controllers: { replicas: 3 }, gateway: { serviceType: 'LoadBalancer' } },
    });
    const controllers = custom.find(
      (o) => o.kind === 'Deployment' && o.metadata?.name === 'meridian-controllers',
    );
    assert.match(
      JSON.stringify(controllers),
      /"replicas":3,.*"image":"registry\.example\.com\/m\/meridian-controllers:9\.9"/,
    );
    assert.ok(
      custom.every(
        (o) => o.metadata?.namespace === undefined || o.metadata.namespace === 'fleet' || inKubeSystem(o),
      ),
    );
    // hub.gateway.dashboard=false: the gateway without --dashboard, and no viewer identity.
    const withoutDashboard = structuredClone(plainHub).filter(
      (o) => o.metadata?.name !== 'meridian-dashboard-viewer',
    );
    for (const o of withoutDashboard)
      if (o.kind === 'Deployment' && o.metadata?.name === 'meridian-gateway') {
        const c = (o as unknown as { spec: { template: { spec: { containers: { args: string[] }[] } } } })
          .spec.template.spec.containers[0]!;
        assert.ok(c.args.includes('--dashboard'), 'the plain gateway serves the dashboard');
        c.args = c.args.filter((a) => a !== '--dashboard');
      }
    assert.deepEqual(
      renderChart('meridian-system', { hub: { gateway: { dashboard: false } } }),
      withoutDashboard,
    );
    const ns = `chart-${randomBytes(3).toString('hex')}`;
    await createNamespaces('hub', [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }]);
    try {
      const out = await dryRun('hub', renderChart(ns, { hub: { gateway: { serviceType: 'LoadBalancer' } } }));
      assert.match(out, /deployment\.apps\/meridian-gateway serverside-applied \(server dry run\)/);
    } finally {
      await env.get().kubectl('hub', ['delete', 'namespace', ns, '--wait=false']);
    }
    // The chart's crds/ is deploy/crds itself.
    assert.deepEqual(readdirSync(join(chart, 'crds')).sort(), readdirSync(join(deploy, 'crds')).sort());
  });

  test('each component has a Node 26 image whose entry point is its command in the bundle', async (t) => {
    const images = join(deploy, 'images');
    // What the images run: the bundle scripts/bundle.ts writes (dist/cli/main.mjs), without
    // node_modules — so it is run here from a directory that has none.
    const image = await mkdtemp(join(tmpdir(), 'meridian-image-'));
    t.after(() => rm(image, { recursive: true, force: true }));
    const bundled = await bundleCli(join(image, 'dist', 'cli', 'main.mjs'));
    for (const component of ['controllers', 'gateway', 'agent']) {
      const file = readFileSync(join(images, `${component}.Containerfile`), 'utf8');
      const froms = [...file.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
      assert.ok(
        froms.length > 0 && froms.every((f) => /node:26/.test(f ?? '')),
        `${component}: ${froms.join(', ')}`,
      );
      const entry = /^ENTRYPOINT (\[.*\])$/m.exec(file)?.[1];
      // The processes that relay bulk bytes start with a larger heap (src/cli/relay-gc.ts).
      const nodeFlags = component === 'controllers' ? [] : RELAY_NODE_FLAGS;
      assert.deepEqual(JSON.parse(entry ?? '[]'), ['node', ...nodeFlags, 'dist/cli/main.mjs', component]);
      assert.match(file, /^RUN node scripts\/bundle\.ts/m, `${component}: builds the bundle`);
      assert.match(file, /^COPY --from=build \/app\/dist \.\/dist$/m, `${component}: ships the bundle`);
      for (const m of file.matchAll(/^COPY (?!--from)(.+) \S+$/gm))
        for (const src of (m[1] as string).split(' '))
          assert.ok(readdirSync(join(root, src, '..')).length > 0, src);
      // The command exists and takes every flag the manifests pass it.
      const help = await meridian([component, '--help'], process.env, {
        entry: bundled,
        cwd: image,
        nodeFlags,
      });
      assert.equal(help.code, 0, help.stderr);
      const args = [...manifests(join(deploy, 'hub')), ...manifests(join(deploy, 'agent'))]
        .filter((o) => o.kind === 'Deployment' && o.metadata?.name === `meridian-${component}`)
        .flatMap(
          (o) =>
            (o as unknown as { spec: { template: { spec: { containers: { args: string[] }[] } } } }).spec
              .template.spec.containers[0]?.args ?? [],
        );
      assert.ok(args.length > 0, component);
      for (const a of args)
        assert.ok(help.stdout.includes(a.split('=')[0] as string), `${component} --help lists ${a}`);
    }
  });
});

describe('meridian init', () => {
  const ns = `meridian-init-${randomBytes(3).toString('hex')}`;
  const host = () => env.get().members[1]!;
  after(async () => {
    await env.get().kubectl(host().name, ['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']);
  });

  test('wrong arguments exit 1; an unreachable host cluster exits 2 and says what to check', async () => {
    const missing = await meridian(['init', '--kubeconfig', '/nonexistent/kubeconfig']);
    assert.equal(missing.code, 1);
    assert.match(
      missing.stderr,
      /^error: cannot read the host cluster kubeconfig \/nonexistent\/kubeconfig/m,
    );
    const badNs = await meridian(['init', '--kubeconfig', host().kubeconfig, '-n', 'Not_A_Namespace']);
    assert.equal(badNs.code, 1);
    assert.match(badNs.stderr, /invalid --namespace "Not_A_Namespace"/);
    const noHub = await meridian([
      'init',
      '--kubeconfig',
      host().kubeconfig,
      '--hub-kubeconfig',
      '/nonexistent',
    ]);
    assert.equal(noHub.code, 1);
    assert.match(noHub.stderr, /hub kubeconfig \/nonexistent does not exist/);
    // The member's kubeconfig, pointed at a port nothing listens on.
    const dir = await mkdtemp(join(tmpdir(), 'meridian-init-'));
    try {
      const kc = parse(readFileSync(host().kubeconfig, 'utf8')) as {
        clusters: { cluster: { server: string } }[];
      };
      for (const c of kc.clusters) c.cluster.server = `https://127.0.0.1:${await closedPort()}`;
      await writeFile(join(dir, 'kubeconfig'), stringify(kc));
      const down = await meridian(['init', '--kubeconfig', join(dir, 'kubeconfig'), '-n', ns]);
      assert.equal(down.code, 2);
      assert.match(
        down.stderr,
        /^error: cannot reach the hub at https:\/\/127\.0\.0\.1:\d+ .*check --kubeconfig/m,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('--dry-run prints the CRDs and hub manifests for review', async () => {
    const r = await meridian([
      'init',
      '--kubeconfig',
      host().kubeconfig,
      '--dry-run',
      '-n',
      ns,
      '--image-tag',
      'dev',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const objs = docsOf(r.stdout);
    assert.ok(
      objs.some((o) => o.kind === 'CustomResourceDefinition' && o.metadata?.name === 'clusters.meridian.dev'),
    );
    assert.match(
      JSON.stringify(objs.find((o) => o.metadata?.name === 'meridian-gateway' && o.kind === 'Deployment')),
      /meridian-gateway:dev"/,
    );
    assert.ok(
      objs
        .filter(
          (o) =>
            o.kind !== 'CustomResourceDefinition' &&
            o.kind !== 'ClusterRole' &&
            o.kind !== 'ClusterRoleBinding' &&
            o.kind !== 'Namespace' &&
            !inKubeSystem(o),
        )
        .every((o) => o.metadata?.namespace === ns),
    );
  });

  test('installs into a host cluster: Deployments get Ready pods, Secrets made once, re-running keeps them', async () => {
    const args = [
      'init',
      '--kubeconfig',
      host().kubeconfig,
      '-n',
      ns,
      '--hub-kubeconfig',
      env.get().hub.kubeconfig,
      '--gateway-host',
      'gateway.example.com',
    ];
    const r = await meridian(args);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Deployment\/meridian-controllers \(meridian-init-\w+\) applied/);
    const kubectl = (a: string[]) => env.get().kubectl(host().name, a);
    // kwok runs the pods (simulated): the rollout completes as in a real cluster.
    await eventually(async () => {
      const d = await kubectl([
        'get',
        'deploy',
        '-n',
        ns,
        '-o',
        'jsonpath={range .items[*]}{.metadata.name}={.status.readyReplicas}/{.spec.replicas} {end}',
      ]);
      assert.equal(d.stdout.trim(), 'meridian-controllers=2/2 meridian-gateway=1/1');
    }, WAIT);
    const secret = async (name: string) =>
      JSON.parse((await kubectl(['get', 'secret', name, '-n', ns, '-o', 'json'])).stdout) as {
        data?: Record<string, string>;
      };
    const hubConfig = Buffer.from(
      (await secret('meridian-hub-kubeconfig')).data?.kubeconfig ?? '',
      'base64',
    ).toString();
    assert.ok(hubConfig.includes(env.get().hub.server), 'the controllers are pointed at the dedicated hub');
    const tls = await secret('meridian-gateway-tls');
    assert.deepEqual(Object.keys(tls.data ?? {}).sort(), ['ca.crt', 'serving-ca.crt', 'tls.crt', 'tls.key']);
    const { X509Certificate } = await import('node:crypto');
    const cert = new X509Certificate(Buffer.from(tls.data?.['tls.crt'] ?? '', 'base64'));
    assert.match(cert.subjectAltName ?? '', /DNS:gateway\.example\.com/);
    assert.match(cert.subjectAltName ?? '', new RegExp(`DNS:meridian-gateway\\.${ns}\\.svc`));
    assert.ok(
      cert.verify(new X509Certificate(Buffer.from(tls.data?.['serving-ca.crt'] ?? '', 'base64')).publicKey),
    );
    // The CRDs went to the hub.
    await env.get().kubectl('hub', ['get', 'crd', 'clusters.meridian.dev']);

    // The RBAC, as the host's authorizer decides it (a host that is the hub gives the pods
    // these rights there; here the hub is dedicated, the host's RBAC is what was installed).
    // The gateway: read the fleet the dashboard watches, review tokens and access, read the
    // front-proxy settings; write nothing.
    const watched = Object.values(WatchedResources).flatMap((r) =>
      ['list', 'watch'].map((verb) => ({ verb, group: r.group, resource: r.resource })),
    );
    await assertAccess(
      host().name,
      { namespace: ns, name: 'meridian-gateway' },
      [
        ...watched,
        { verb: 'create', group: 'authentication.k8s.io', resource: 'tokenreviews' },
        { verb: 'create', group: 'authorization.k8s.io', resource: 'subjectaccessreviews' },
        {
          verb: 'get',
          resource: 'configmaps',
          namespace: 'kube-system',
          name: 'extension-apiserver-authentication',
        },
      ],
      [
        { verb: 'update', group: 'meridian.dev', resource: 'clusters' },
        { verb: 'create', group: 'meridian.dev', resource: 'works', namespace: 'default' },
        { verb: 'get', resource: 'secrets', namespace: ns },
        { verb: 'get', resource: 'configmaps', namespace: 'kube-system', name: 'kube-root-ca.crt' },
      ],
    );
    // The dashboard viewer: what the dashboard asks of a signed-in user, every Meridian kind
    // read-only, nothing else.
    const viewer = { namespace: ns, name: 'meridian-dashboard-viewer' };
    await assertAccess(
      host().name,
      viewer,
      [
        ...REQUIRED_ACCESS,
        ...Object.values(Plurals).map((resource) => ({ verb: 'watch', group: 'meridian.dev', resource })),
        { verb: 'list', group: 'events.k8s.io', resource: 'events' },
      ],
      [
        { verb: 'create', group: 'meridian.dev', resource: 'propagationpolicies', namespace: 'default' },
        { verb: 'delete', group: 'meridian.dev', resource: 'clusters' },
        { verb: 'get', resource: 'secrets', namespace: ns },
        { verb: 'list', group: 'apps', resource: 'deployments' },
      ],
    );
    // It can sign in: the ServiceAccount exists and the API server issues it a token.
    const token = await kubectl([
      'create',
      'token',
      '-n',
      ns,
      'meridian-dashboard-viewer',
      '--duration',
      '10m',
    ]);
    assert.match(token.stdout.trim(), /^[\w-]+\.[\w-]+\.[\w-]+$/);

    const again = await meridian(args);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(await secret('meridian-gateway-tls'), tls, 'the gateway certificate is kept');
  });
});
