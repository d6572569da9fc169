// Pure parts (what connection a Cluster asks for) and, against the real hub and a real member
// of the test environment, the registry following Clusters and their Secrets.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { API_VERSION, clusterNamespace, type Cluster } from '../../api/index.ts';
import { ApiClient } from '../../kube/api-client.ts';
import { InformerFactory } from '../../kube/informer-factory.ts';
import { silentLogger } from '../../kube/log.ts';
import { startEnvironment, type EnvironmentInfo } from '../../testenv/environment.ts';
import { ensureNamespace, installCrds, NAMESPACES } from '../bootstrap/install-crds.ts';
import {
  CLUSTERS,
  SECRETS,
  createMemberRegistry,
  desiredConnection,
  memberKubeConfig,
  type Desired,
  type Secret,
} from './registry.ts';

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters: [{ name: m, cluster: { server: 'https://127.0.0.1:6443' } }]
users: [{ name: u, user: { token: abc } }]
contexts: [{ name: m, context: { cluster: m, user: u } }]
current-context: m
`;

const cluster = (spec: Partial<Cluster['spec']> = {}): Cluster => ({
  apiVersion: API_VERSION,
  kind: 'Cluster',
  metadata: { name: 'c1' },
  spec: {
    syncMode: 'Push',
    apiEndpoint: 'https://127.0.0.1:6443',
    secretRef: { namespace: 'meridian-cluster-c1', name: 's' },
    ...spec,
  },
});
const secret = (kubeconfig: string | undefined): Secret => ({
  metadata: { name: 's', namespace: 'meridian-cluster-c1' },
  data: kubeconfig === undefined ? {} : { kubeconfig: Buffer.from(kubeconfig).toString('base64') },
});

describe('desiredConnection', () => {
  test('no Cluster, or a Pull Cluster: no connection and nothing to report', () => {
    assert.deepEqual(desiredConnection(undefined, undefined), { kind: 'none' });
    assert.deepEqual(desiredConnection(cluster({ syncMode: 'Pull' }), secret(KUBECONFIG)), { kind: 'none' });
  });
  test('a Secret still being listed is pending, not a failure', () => {
    assert.equal(desiredConnection(cluster(), 'unknown').kind, 'pending');
  });
  test('failures name the Secret and what is wrong', () => {
    const missing = desiredConnection(cluster(), undefined);
    assert.deepEqual(missing, { kind: 'failed', message: 'Secret meridian-cluster-c1/s not found' });
    const noKey = desiredConnection(cluster(), secret(undefined));
    assert.equal(noKey.kind, 'failed');
    assert.match((noKey as { message: string }).message, /has no data key "kubeconfig"/);
    const noRef = desiredConnection(cluster({ secretRef: undefined }) as Cluster, undefined);
    assert.deepEqual(noRef, { kind: 'failed', message: 'spec.secretRef is not set' });
  });
  test('the fingerprint changes with the kubeconfig or the endpoint, and only then', () => {
    const a = desiredConnection(cluster(), secret(KUBECONFIG));
    const same = desiredConnection(cluster(), secret(KUBECONFIG));
    const otherCreds = desiredConnection(cluster(), secret(KUBECONFIG.replace('abc', 'xyz')));
    const otherEndpoint = desiredConnection(
      cluster({ apiEndpoint: 'https://10.0.0.1:6443' }),
      secret(KUBECONFIG),
    );
    assert.equal(a.kind, 'connect');
    const fp = (d: Desired): string => (d.kind === 'connect' ? d.fingerprint : '');
    assert.equal(fp(a), fp(same));
    assert.notEqual(fp(a), fp(otherCreds));
    assert.notEqual(fp(a), fp(otherEndpoint));
  });
});

describe('memberKubeConfig', () => {
  test('spec.apiEndpoint overrides the server, credentials kept', () => {
    const kc = memberKubeConfig(KUBECONFIG, 'https://10.0.0.9:443');
    assert.equal(kc.getCurrentCluster()?.server, 'https://10.0.0.9:443');
    assert.equal(kc.getCurrentUser()?.token, 'abc');
  });
  test('a broken kubeconfig is a TypeError saying so', () => {
    assert.throws(() => memberKubeConfig(':\n  - [', undefined), /kubeconfig does not parse/);
    assert.throws(() => memberKubeConfig('apiVersion: v1\nkind: Config\n', undefined), /no current context/);
  });
});

describe('registry on the real hub', () => {
  let info: EnvironmentInfo;
  let stopEnv: (() => Promise<void>) | undefined;
  let hub: ApiClient;
  const name = `reg-${randomBytes(3).toString('hex')}`;
  const ns = clusterNamespace(name);

  before(async () => {
    const shared = process.env['MERIDIAN_TEST_ENV'];
    if (shared) info = JSON.parse(readFileSync(shared, 'utf8')) as EnvironmentInfo;
    else {
      const { defaultMembers } = await import('../../testenv/topology.ts');
      const env = await startEnvironment({ members: defaultMembers.slice(0, 1) });
      stopEnv = () => env.stop();
      info = env.info();
    }
    const kc = new KubeConfig();
    kc.loadFromFile(info.hub.kubeconfig);
    hub = await ApiClient.fromKubeConfig(kc);
    await installCrds(hub, AbortSignal.timeout(60_000));
    await ensureNamespace(hub, ns);
  });

  after(async () => {
    await hub?.delete(CLUSTERS, { name }).catch(() => {});
    await hub?.delete(NAMESPACES, { name: ns }).catch(() => {});
    await hub?.close();
    await stopEnv?.();
  });

  test('connects when Cluster and Secret exist, reconnects when credentials change, disconnects on delete', async () => {
    const abort = new AbortController();
    const informers = new InformerFactory(hub, abort.signal, silentLogger);
    const registry = createMemberRegistry({ informers, log: silentLogger, signal: abort.signal });
    const events: string[] = [];
    /** Resolves once `check` holds, re-checked on every registry notification for `name`. */
    const until = (what: string, check: () => boolean): Promise<void> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timed out: ${what} (events: ${events.join(',')})`)),
          60_000,
        );
        const done = (): void => {
          clearTimeout(timer);
          off();
          resolve();
        };
        const off = registry.subscribe((c) => {
          if (c !== name) return;
          events.push(registry.connectionStatus(name).state);
          if (check()) done();
        });
        if (check()) done();
      });
    try {
      const member = info.members[0]!;
      const c: Cluster = {
        apiVersion: API_VERSION,
        kind: 'Cluster',
        metadata: { name },
        spec: { syncMode: 'Push', apiEndpoint: member.server, secretRef: { namespace: ns, name: 'creds' } },
      };
      await hub.apply(CLUSTERS, c, { fieldManager: 'test', force: true });
      await until('failed: no Secret', () => registry.connectionStatus(name).state === 'failed');
      assert.match(JSON.stringify(registry.connectionStatus(name)), /Secret .*\/creds not found/);

      const kubeconfig = readFileSync(member.kubeconfig, 'utf8');
      const putSecret = (text: string) =>
        hub.apply(
          SECRETS,
          {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name: 'creds', namespace: ns },
            data: { kubeconfig: Buffer.from(text).toString('base64') },
          } as Secret,
          { fieldManager: 'test', force: true },
        );
      await putSecret(kubeconfig);
      await until('connected', () => registry.get(name) !== undefined);
      const first = registry.get(name)!;
      assert.deepEqual(registry.names().includes(name), true);
      const v = (await first.client.request('GET', '/version')) as { gitVersion: string };
      assert.match(v.gitVersion, /^v1\.37\./);

      await putSecret(`${kubeconfig}\n# rotated\n`);
      await until('reconnected', () => registry.get(name) !== undefined && registry.get(name) !== first);

      await hub.delete(CLUSTERS, { name });
      await until('disconnected', () => registry.get(name) === undefined);
      assert.equal(registry.connectionStatus(name).state, 'none');
    } finally {
      abort.abort();
    }
  });
});
