// Against the real hub of the test environment (the shared one when MERIDIAN_TEST_ENV names
// it, else a hub-only environment for this file).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { buildCrds, type CustomResourceDefinition } from '../../api/index.ts';
import { ApiClient } from '../../kube/api-client.ts';
import { NotFoundError } from '../../kube/errors.ts';
import type { KubeObject } from '../../kube/wire.ts';
import { startEnvironment, type EnvironmentInfo } from '../../testenv/environment.ts';
import { CRDS, CrdInstallError, NAMESPACES, crdState, ensureNamespace, installCrds } from './install-crds.ts';

let hub: ApiClient;
let stopEnv: (() => Promise<void>) | undefined;

before(async () => {
  let info: EnvironmentInfo;
  const shared = process.env['MERIDIAN_TEST_ENV'];
  if (shared) info = JSON.parse(readFileSync(shared, 'utf8')) as EnvironmentInfo;
  else {
    const env = await startEnvironment({ members: [] });
    stopEnv = () => env.stop();
    info = env.info();
  }
  const kc = new KubeConfig();
  kc.loadFromFile(info.hub.kubeconfig);
  hub = await ApiClient.fromKubeConfig(kc);
});

after(async () => {
  await hub?.close();
  await stopEnv?.();
});

type Crd = KubeObject & { status?: { conditions?: { type: string; status: string }[] } };

test('installs every Meridian CRD, Established, and is idempotent', async () => {
  const names = await installCrds(hub, AbortSignal.timeout(90_000));
  assert.deepEqual(
    names,
    buildCrds().map((c) => c.metadata.name),
  );
  for (const name of names) {
    const crd = await hub.get<Crd>(CRDS, { name });
    assert.equal(crdState(crd).state, 'established', `${name} established`);
  }
  const again = await installCrds(hub, AbortSignal.timeout(90_000));
  assert.deepEqual(again, names);
  // The kinds are usable at once.
  const rt = await hub.resolve('meridian.dev/v1alpha1', 'Cluster');
  assert.equal(rt.resource, 'clusters');
});

test('a CRD the hub rejects fails with an error naming it', async () => {
  const good = buildCrds()[0]!;
  const bad: CustomResourceDefinition = {
    ...good,
    metadata: { name: `widgets.bad-${randomBytes(3).toString('hex')}.example.com` },
    // The name does not match <plural>.<group>: the API server refuses it.
  };
  await assert.rejects(installCrds(hub, AbortSignal.timeout(30_000), { crds: [bad] }), (err: unknown) => {
    assert.ok(err instanceof CrdInstallError);
    assert.equal(err.crd, bad.metadata.name);
    assert.match(
      err.message,
      new RegExp(`CRD ${bad.metadata.name.replaceAll('.', '\\.')}: rejected by the hub`),
    );
    return true;
  });
  await assert.rejects(hub.get(CRDS, { name: bad.metadata.name }), NotFoundError);
});

test('ensureNamespace creates once, labels, and tolerates repeats', async () => {
  const name = `ensure-${randomBytes(3).toString('hex')}`;
  try {
    await ensureNamespace(hub, name, { labels: { a: 'b' } });
    await ensureNamespace(hub, name, { labels: { a: 'b' } });
    const ns = await hub.get(NAMESPACES, { name });
    assert.equal(ns.metadata?.labels?.['a'], 'b');
  } finally {
    await hub.delete(NAMESPACES, { name }).catch(() => {});
  }
});
