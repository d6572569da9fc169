// The fleet dashboard in a real browser (Debian's chromium through playwright-core), served
// by a real gateway mounting src/dashboard, on the shared hub + 3 kwok members with the real
// `meridian controllers` placing a test Deployment. The page is read as a person reads it:
// clusters by region, replicas per cluster, a scale on the hub showing up without a reload,
// and no data without a token the hub accepts. Screenshots go to .artifacts/screenshots/.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createDashboard, DASHBOARD_PATH } from '../../src/dashboard/server.ts';
import { ensureViewer, requestToken } from '../../src/dashboard/viewer.ts';
import { startGateway, type Gateway } from '../../src/gateway/gateway.ts';
import { staticTokens } from '../../src/gateway/tokens.ts';
import { ApiClient } from '../../src/kube/api-client.ts';
import { issueCertificate } from '../../src/testenv/pki.ts';
import { buildUi } from '../../ui/build.ts';
import { useEnvironment, uniqueName } from '../support/environment.ts';
import { eventually } from '../support/eventually.ts';
import { joinAll, startControllers, type ControllersProcess } from '../support/meridian.ts';

const env = useEnvironment();
const run = randomBytes(3).toString('hex');
const CHROMIUM = process.env.MERIDIAN_CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOTS = fileURLToPath(new URL('../../.artifacts/screenshots/', import.meta.url));
const WAIT_MS = 180_000;

let dir: string;
let hubClient: ApiClient;
let controllers: ControllersProcess | undefined;
let gateway: Gateway | undefined;
let browser: Browser | undefined;
let context: BrowserContext;
let page: Page;
let viewerToken: string;
let base: string;
let ns: string;
const stop = new AbortController();

const hub = (args: string[], input?: string) =>
  env.get().kubectl('hub', args, input === undefined ? {} : { input });

async function screenshot(name: string): Promise<void> {
  const path = join(SCREENSHOTS, `dashboard-${name}.png`);
  await page.screenshot({ path, fullPage: true });
  process.stdout.write(`# screenshot: ${path}\n`);
}

/** GET `path` on the gateway with optional bearer token / client certificate; status, headers and body. */
function get(
  path: string,
  opts: { token?: string; cert?: { certPath: string; keyPath: string } } = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return (async () => {
    const tls = opts.cert && {
      cert: await readFile(opts.cert.certPath),
      key: await readFile(opts.cert.keyPath),
    };
    return new Promise((resolve, reject) => {
      const req = request(
        `${gateway!.url}${path}`,
        {
          rejectUnauthorized: false,
          ...tls,
          headers: opts.token === undefined ? {} : { Authorization: `Bearer ${opts.token}` },
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
  })();
}

const selector = {
  workload: (name: string) => `[data-testid=workload][data-object="Deployment/${ns}/${name}"]`,
  replicasIn: (name: string, cluster: string) =>
    `${selector.workload(name)} [data-testid=placement][data-cluster="${cluster}"] [data-testid=replicas]`,
};

/** Waits (on the page's own DOM updates) until `css` shows exactly `text`. */
async function waitForText(css: string, text: string): Promise<void> {
  await page
    .locator(css, { hasText: new RegExp(`^${text.replace(/[/.]/g, '\\$&')}$`) })
    .first()
    .waitFor({ timeout: WAIT_MS });
}

describe('fleet dashboard', () => {
  before(async () => {
    assert.ok(
      existsSync(CHROMIUM),
      `no chromium at ${CHROMIUM}: install Debian's chromium (scripts/debian-packages.txt) or set MERIDIAN_CHROMIUM`,
    );
    await buildUi({ ifStale: true });
    const e = env.get();
    dir = await mkdtemp(join(tmpdir(), 'meridian-dashboard-e2e-'));
    await mkdir(SCREENSHOTS, { recursive: true });

    await joinAll(e.hub, e.members, `meridian.dev/test-run=${run}`);
    controllers = startControllers(e.hub);

    const kc = new KubeConfig();
    kc.loadFromFile(e.hub.kubeconfig);
    hubClient = await ApiClient.fromKubeConfig(kc, { userAgent: 'meridian-dashboard-e2e' });
    await ensureViewer(hubClient);
    viewerToken = await requestToken(hubClient, 3600);

    const ca = { certPath: e.hub.caPath, keyPath: join(e.hub.dir, 'pki', 'ca.key') };
    const serving = await issueCertificate(ca, dir, 'gateway', {
      commonName: 'meridian-gateway',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      usage: 'server',
    });
    const dashboard = await createDashboard({ hub: hubClient, signal: stop.signal });
    gateway = await startGateway({
      host: '127.0.0.1',
      port: 0,
      tls: {
        cert: await readFile(serving.certPath),
        key: await readFile(serving.keyPath),
        clientCa: await readFile(e.hub.caPath),
      },
      agents: staticTokens(new Map()),
      dashboard: dashboard.handle,
    });
    base = `${gateway.url}${DASHBOARD_PATH}`;

    // A Deployment divided 1:1:1 over the three members, with an override for one of them.
    ns = uniqueName('dash');
    await hub(['create', 'namespace', ns]);
    await hub(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [
          {
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            metadata: { name: 'web', namespace: ns },
            spec: {
              replicas: 6,
              selector: { matchLabels: { app: 'web' } },
              template: {
                metadata: { labels: { app: 'web' } },
                spec: { containers: [{ name: 'web', image: 'docker.io/library/nginx:1.27' }] },
              },
            },
          },
          {
            apiVersion: 'meridian.dev/v1alpha1',
            kind: 'PropagationPolicy',
            metadata: { name: 'web', namespace: ns },
            spec: {
              resourceSelectors: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }],
              placement: {
                clusterAffinity: { labelSelector: { matchLabels: { 'meridian.dev/test-run': run } } },
                // As the demo's policy: one share in each of the three regions.
                spreadConstraints: [{ spreadByField: 'region', minGroups: 3, maxGroups: 3 }],
                replicaScheduling: {
                  replicaSchedulingType: 'Divided',
                  replicaDivisionPreference: 'Weighted',
                  weightPreference: {
                    staticWeightList: [
                      { targetCluster: { clusterNames: e.members.map((m) => m.name) }, weight: 1 },
                    ],
                  },
                },
              },
            },
          },
          {
            apiVersion: 'meridian.dev/v1alpha1',
            kind: 'OverridePolicy',
            metadata: { name: 'web-mirror', namespace: ns },
            spec: {
              resourceSelectors: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }],
              overrideRules: [
                {
                  targetCluster: { clusterNames: [e.members[1]!.name] },
                  overriders: {
                    imageOverrider: [{ component: 'Registry', operator: 'replace', value: 'mirror.example' }],
                  },
                },
              ],
            },
          },
        ],
      }),
    );
    await hub([
      'wait',
      '-n',
      ns,
      'deployment/web',
      '--for=jsonpath={.status.readyReplicas}=6',
      `--timeout=${WAIT_MS / 1000}s`,
    ]);

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // As root (CI, containers) chromium's sandbox cannot start.
      args: ['--no-sandbox', '--disable-dev-shm-usage'],
    });
    // The gateway's serving certificate is signed by the hub CA, which the browser does not know.
    context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 900 } });
    page = await context.newPage();
  });

  after(async () => {
    await browser?.close();
    stop.abort();
    await gateway?.close();
    await controllers?.stop();
    await hubClient?.close();
    if (ns !== undefined) await hub(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']);
    for (const m of env.get().members)
      await hub(['delete', 'cluster', m.name, '--wait=false', '--ignore-not-found']);
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  test('refuses the API without a token the hub accepts (401), or whose user may not read the fleet (403)', async () => {
    const none = await get(`${DASHBOARD_PATH}api/state`);
    assert.equal(none.status, 401);
    assert.match(String(none.headers['www-authenticate']), /^Bearer /);
    assert.equal((JSON.parse(none.body) as { reason: string }).reason, 'Unauthorized');
    assert.doesNotMatch(none.body, /us-east|eu-west|onprem/);

    const forged = await get(`${DASHBOARD_PATH}api/stream`, { token: 'not-a-real-token' });
    assert.equal(forged.status, 401);

    // A real hub identity without read access to the fleet.
    await hub(['create', 'serviceaccount', 'nobody', '-n', ns]);
    const nobody = await requestToken(hubClient, 600, { namespace: ns, name: 'nobody' });
    const denied = await get(`${DASHBOARD_PATH}api/state`, { token: nobody });
    assert.equal(denied.status, 403);
    assert.match(denied.body, /may not list/);

    // A hub-CA client certificate (as the gateway verifies it) stands for its CN.
    const e = env.get();
    const admin = {
      certPath: join(e.hub.dir, 'pki', 'admin.crt'),
      keyPath: join(e.hub.dir, 'pki', 'admin.key'),
    };
    const viaCert = await get(`${DASHBOARD_PATH}api/state`, { cert: admin });
    assert.equal(viaCert.status, 200, viaCert.body);
    assert.equal((JSON.parse(viaCert.body) as { user: string }).user, 'meridian-admin');
  });

  test('without a token the page asks for one; a token the hub refuses keeps it there', async () => {
    await page.goto(base);
    await page.getByTestId('login').waitFor({ timeout: WAIT_MS });
    assert.equal(await page.getByTestId('cluster-card').count(), 0);
    await page.getByTestId('token-input').fill('not-a-real-token');
    await page.getByTestId('sign-in').click();
    await page.getByTestId('login-error').waitFor({ timeout: WAIT_MS });
    assert.match(await page.getByTestId('login-error').innerText(), /did not accept/);
    await screenshot('login-refused');
  });

  test('with the viewer token: the three clusters, grouped by region, Ready, with version and capacity', async () => {
    await page.goto(base);
    await page.getByTestId('token-input').fill(viewerToken);
    await page.getByTestId('sign-in').click();
    const e = env.get();
    for (const m of e.members) {
      const card = page.locator(`[data-testid=cluster-card][data-cluster="${m.name}"]`);
      await card.waitFor({ timeout: WAIT_MS });
      const region = m.labels['topology.kubernetes.io/region']!;
      // The card sits in its region's tile, and the tile is labelled with the region.
      const tile = page.locator(`[data-testid=region][data-region="${region}"]`);
      assert.equal(await tile.locator(`[data-cluster="${m.name}"]`).count(), 1, `${m.name} under ${region}`);
      assert.match(await tile.locator('.region-name').innerText(), new RegExp(region));
      await waitForText(`[data-cluster="${m.name}"] [data-testid=cluster-health]`, 'Ready');
      assert.match(await card.getByTestId('cluster-version').innerText(), /^v1\.\d+/);
      assert.match(await card.getByTestId('cluster-provider').innerText(), /\S/);
      assert.match(await card.getByTestId('capacity-cpu').innerText(), /\d+(\.\d)? \/ \d+/);
      assert.match(await card.getByTestId('capacity-pods').innerText(), /\d+ \/ \d+/);
    }
    // The hub is shared with other suites that register clusters of their own, so the page
    // is held to the hub's Cluster list at the moment rather than to the three members.
    await eventually(
      async () => {
        const shown = (await page.getByTestId('cluster-name').allInnerTexts()).sort();
        const registered = (await hub(['get', 'clusters.meridian.dev', '-o', 'name'])).stdout
          .split('\n')
          .filter(Boolean)
          .map((n) => n.replace(/^.*\//, ''))
          .sort();
        assert.deepEqual(shown, registered);
      },
      { timeoutMs: WAIT_MS },
    );
    assert.equal(
      await page.getByTestId('user').innerText(),
      'system:serviceaccount:meridian-system:meridian-dashboard-viewer',
    );
    await screenshot('fleet');
  });

  test('workloads: the Deployment placed on each cluster with its replicas; a scale on the hub appears live', async () => {
    await page.getByTestId('tab-workloads').click();
    const e = env.get();
    for (const m of e.members) await waitForText(selector.replicasIn('web', m.name), '2/2');
    await waitForText(`${selector.workload('web')} [data-testid=total-replicas]`, '6/6');
    await screenshot('workloads');

    // Mark this document: a reload would make a new one without the mark.
    await page.evaluate(
      () => ((globalThis as unknown as { dashboardMark: string }).dashboardMark = 'same-page'),
    );
    let navigations = 0;
    page.on('framenavigated', (f) => f === page.mainFrame() && navigations++);
    await hub(['scale', '-n', ns, 'deployment/web', '--replicas=9']);
    for (const m of e.members) await waitForText(selector.replicasIn('web', m.name), '3/3');
    await waitForText(`${selector.workload('web')} [data-testid=total-replicas]`, '9/9');
    assert.equal(
      await page.evaluate(() => (globalThis as unknown as { dashboardMark?: string }).dashboardMark),
      'same-page',
    );
    assert.equal(navigations, 0);
    assert.equal(await page.getByTestId('live-status').innerText(), 'live');
    await screenshot('workloads-scaled');
  });

  test('a workload opens its binding: scheduler decisions per cluster and the override applied', async () => {
    await page.locator(`${selector.workload('web')} a`).click();
    await page.getByTestId('binding-detail').waitFor({ timeout: WAIT_MS });
    const e = env.get();
    for (const m of e.members) {
      const row = page.locator(`[data-testid=decision][data-cluster="${m.name}"]`);
      await row.waitFor({ timeout: WAIT_MS });
      assert.equal(await row.getByTestId('outcome').innerText(), 'Selected');
      assert.match(await row.innerText(), /\b3\b/, 'its share of the 9 replicas');
    }
    const overridden = e.members[1]!.name;
    const override = page.locator(`[data-testid=override][data-cluster="${overridden}"]`);
    await override.waitFor({ timeout: WAIT_MS });
    assert.match(await override.innerText(), /mirror\.example|imageOverrider|Registry/i);
    assert.equal(await page.locator('[data-testid=override]').count(), 1);
    await screenshot('binding');
  });

  test('drift in a member shows up live on the binding page as a DriftReverted warning', async () => {
    // Still on the binding page: someone scales the copy in one member behind Meridian's back.
    const member = env.get().members[0]!.name;
    await env.get().kubectl(member, ['scale', '-n', ns, 'deployment/web', '--replicas=1']);
    const drift = page.locator('[data-testid=events] tr', { hasText: 'DriftReverted' }).first();
    await drift.waitFor({ timeout: WAIT_MS });
    assert.match(await drift.innerText(), /Work\/|Deployment\/web/);
    await screenshot('binding-drift');
  });
});
