/**
 * Wiring of the agent identity controller: CSRs of signer `meridian.dev/agent` (selected by
 * field) are the primary kind; a Cluster changing requeues nothing by itself (a request for a
 * cluster that does not exist yet is denied, not held). Runs only when the manager was given
 * the hub CA (`agentSigner`); otherwise it logs that agent certificates are not issued here.
 */
import { readFile } from 'node:fs/promises';
import { AGENT_SIGNER_NAME, DEFAULT_AGENT_CERT_TTL_SECONDS } from '../../api/agent-identity.ts';
import type { Cluster } from '../../api/index.ts';
import { defineController } from '../../kube/controller.ts';
import type { StartController } from '../context.ts';
import { CLUSTERS } from '../members/registry.ts';
import { AgentIdentityReconciler, CSRS, type Csr } from './reconcile.ts';
import { loadSigningCa } from './sign.ts';

export const CONTROLLER_NAME = 'agent-identity';

export const startAgentIdentityController: StartController = async (ctx) => {
  const files = ctx.agentSigner;
  if (files === undefined) {
    ctx.log.info(
      {},
      'agent-identity: no signing CA configured; pull-mode agent certificates are not issued here',
    );
    return;
  }
  const ca = await loadSigningCa(await readFile(files.caCertFile), await readFile(files.caKeyFile));
  const csrs = ctx.informers.informer<Csr>(CSRS, { fieldSelector: `spec.signerName=${AGENT_SIGNER_NAME}` });
  const clusters = ctx.informers.informer<Cluster>(CLUSTERS);
  const controller = defineController({
    name: CONTROLLER_NAME,
    for: {
      store: csrs,
      apiVersion: 'certificates.k8s.io/v1',
      kind: 'CertificateSigningRequest',
      scope: 'Cluster',
    },
    watches: [{ source: clusters, map: () => [] }],
    reconciler: new AgentIdentityReconciler({
      hub: ctx.hub,
      csrs,
      clusters,
      ca,
      certTtlSeconds: files.certTtlSeconds ?? DEFAULT_AGENT_CERT_TTL_SECONDS,
    }),
    workers: 2,
    log: ctx.log,
  });
  await controller.run(ctx.signal);
};
