import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { memberKubeconfig } from './kubeconfig.ts';

const stored = stringify({
  apiVersion: 'v1',
  kind: 'Config',
  clusters: [
    { name: 'other', cluster: { server: 'https://other:6443' } },
    { name: 'kwok', cluster: { server: 'https://127.0.0.1:40001', 'certificate-authority-data': 'Q0E=' } },
  ],
  users: [{ name: 'admin', user: { 'client-certificate-data': 'Q0VSVA==', 'client-key-data': 'S0VZ' } }],
  contexts: [
    { name: 'x', context: { cluster: 'other', user: 'admin' } },
    { name: 'member-admin', context: { cluster: 'kwok', user: 'admin', namespace: 'apps' } },
  ],
  'current-context': 'member-admin',
});

test("the stored kubeconfig's current context, renamed to the cluster, at the Cluster's endpoint", () => {
  assert.deepEqual(memberKubeconfig(stored, 'us-east', 'https://10.0.0.5:6443'), {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      { name: 'us-east', cluster: { server: 'https://10.0.0.5:6443', 'certificate-authority-data': 'Q0E=' } },
    ],
    users: [{ name: 'us-east', user: { 'client-certificate-data': 'Q0VSVA==', 'client-key-data': 'S0VZ' } }],
    contexts: [{ name: 'us-east', context: { cluster: 'us-east', user: 'us-east', namespace: 'apps' } }],
    'current-context': 'us-east',
  });
  const kept = memberKubeconfig(stored, 'us-east') as { clusters: { cluster: { server: string } }[] };
  assert.equal(kept.clusters[0]?.cluster.server, 'https://127.0.0.1:40001');
});

test('a stored kubeconfig that cannot reach anything says why', () => {
  assert.throws(() => memberKubeconfig('a: [', 'x'), /not YAML/);
  assert.throws(() => memberKubeconfig(stringify({ contexts: [] }), 'x'), /no current context/);
  assert.throws(
    () =>
      memberKubeconfig(
        stringify({
          contexts: [{ name: 'c', context: { cluster: 'gone', user: 'u' } }],
          'current-context': 'c',
        }),
        'x',
      ),
    /missing cluster gone/,
  );
});
