#!/usr/bin/env node
/**
 * A volume frontend process: opens one replicated volume on its storage nodes and
 * exports it over NBD. Prints one JSON line `{"port":N,"epoch":E}` once serving; exits
 * cleanly on SIGTERM/SIGINT (a SIGKILL loses nothing flushed: see docs/storage.md).
 *
 *   node src/storage/frontend/main.ts --volume vol1 --size 1073741824 \
 *     --replica n1=10.0.0.1:7401 --replica n2=10.0.0.2:7401 --replica n3=10.0.0.3:7401 \
 *     --ack fastest --durability 2 --port 10809 [--tls on|require --tls-certificates DIR [--tls-verify-peer]]
 *
 * With `--hub-kubeconfig FILE [--namespace NS]` it reports its replicas' state, lag and
 * latency to the Volume's status; without `--replica` flags it also takes the size, ack
 * mode, durability and replicas from the Volume and its StorageNodes.
 */
import { parseArgs } from 'node:util';
import { NbdServer } from '../nbd/nbd-server.ts';
import { loadTlsDir } from '../nbd/tls-files.ts';
import { ReplicatedVolume, type AckMode, type ReplicaSpec } from '../volume/replicated-volume.ts';
import type { ApiClient } from '../../kube/api-client.ts';
import type { VolumePolicy } from '../placement/policy.ts';
import { VolumeReporter } from '../ops/volume-reporter.ts';
import { ReplicaReplacer } from '../volume/replica-replacer.ts';
import { parseFrontendArgs } from './args.ts';
import { hubClient, poolFromHub, volumeFromHub } from './from-hub.ts';

const { values } = parseArgs({
  options: {
    volume: { type: 'string' },
    size: { type: 'string' },
    replica: { type: 'string', multiple: true, default: [] },
    ack: { type: 'string', default: 'fastest' },
    durability: { type: 'string' },
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    tls: { type: 'string', default: 'off' },
    'tls-certificates': { type: 'string' },
    'tls-verify-peer': { type: 'boolean', default: false },
    'hub-kubeconfig': { type: 'string' },
    namespace: { type: 'string', default: 'default' },
    'report-interval-ms': { type: 'string', default: '2000' },
    'replace-lost-after-ms': { type: 'string' },
  },
});
let config: ReturnType<typeof parseFrontendArgs>;
let hub: Awaited<ReturnType<typeof hubClient>> | undefined;
let rules = new Map<string, number>();
let policy: VolumePolicy | undefined;
try {
  const kubeconfig = values['hub-kubeconfig'];
  if (kubeconfig !== undefined) {
    hub = await hubClient(kubeconfig);
    if (values.replica.length === 0 && values.volume !== undefined) {
      // Everything but the NBD side comes from the Volume and its StorageNodes.
      const fromHub = await volumeFromHub(hub, values.namespace, values.volume);
      rules = fromHub.rules;
      policy = fromHub.policy;
      const c = fromHub.config;
      values.size = String(c.sizeBytes);
      values.replica = c.replicas.map((r) => `${r.nodeId}=${r.endpoint.host}:${r.endpoint.port}`);
      values.ack = c.ack;
      values.durability = String(c.durability);
    }
  }
  config = parseFrontendArgs(values);
} catch (e) {
  process.stderr.write(`meridian volume frontend: ${(e as Error).message}\n`);
  process.exit(2);
}
const replicas: ReplicaSpec[] = config.replicas.map((r) => ({ nodeId: r.nodeId, endpoint: r.endpoint }));
// TLS material first: a missing file is reported before any replica is touched.
const tls =
  config.tlsCertificates === undefined || config.tls === 'off'
    ? undefined
    : await loadTlsDir(
        config.tlsCertificates,
        config.tls === 'require' ? 'require' : 'optional',
        config.tlsVerifyPeer,
      );
const volume = await ReplicatedVolume.open({
  id: config.volume,
  sizeBytes: config.sizeBytes,
  replicas,
  ackMode: config.ack satisfies AckMode,
  durability: config.durability,
});
const server = new NbdServer({ exports: new Map([[config.volume, volume]]), ...(tls ? { tls } : {}) });
const port = await server.listen(config.port, config.host);
// With the hub as directory: a replica lost for longer than --replace-lost-after-ms is
// rebuilt on another node of the pool that the policy allows (docs/storage.md).
const lostAfter = values['replace-lost-after-ms'];
const replacer =
  hub === undefined || policy === undefined || lostAfter === undefined
    ? undefined
    : new ReplicaReplacer({
        volume,
        policy,
        sizeBytes: config.sizeBytes,
        rules,
        nodes: () => poolFromHub(hub as ApiClient, values.namespace),
        lostAfterMs: Number(lostAfter),
        onDecision: (d) => {
          const verdict = d.placement.ok ? `→ ${d.placement.replicas[0]?.nodeId ?? '?'}` : d.placement.reason;
          const outcome =
            d.result === undefined ? 'refused' : d.result === 'rebuilt' ? 'rebuilt' : d.result.error;
          process.stderr.write(`replica ${d.lost} lost: ${verdict}: ${outcome}\n`);
          void reporter?.report();
        },
      });
const reporter =
  hub === undefined
    ? undefined
    : new VolumeReporter(
        hub,
        { namespace: values.namespace, name: config.volume },
        volume,
        () => replacer?.rules ?? rules,
        Number(values['report-interval-ms']),
      );
await reporter?.report();
process.stdout.write(JSON.stringify({ port, epoch: volume.epoch }) + '\n');
const stop = (): void => {
  reporter?.stop();
  replacer?.stop();
  server
    .close()
    .then(() => volume.flush())
    .finally(() => volume.close())
    .then(
      () => process.exit(0),
      () => process.exit(1),
    );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
