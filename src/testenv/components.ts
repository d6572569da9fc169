import { join } from 'node:path';
import type { ClusterPki } from './cluster-pki.ts';
import { waitUntilHealthy } from './probe.ts';
import type { ManagedProcess, Supervisor } from './supervisor.ts';

/** Controllers a hub runs: API housekeeping only, no workload controllers (the hub stores templates). */
export const hubControllers = [
  'namespace-controller',
  'garbage-collector-controller',
  'serviceaccount-controller',
  'serviceaccount-token-controller',
  'clusterrole-aggregation-controller',
  'root-ca-certificate-publisher-controller',
  'certificatesigningrequest-signing-controller',
  'certificatesigningrequest-approving-controller',
  'certificatesigningrequest-cleaner-controller',
  'bootstrap-signer-controller',
  'token-cleaner-controller',
  'ttl-after-finished-controller',
];

export interface EtcdOptions {
  readonly dataDir: string;
  readonly clientPort: number;
  readonly peerPort: number;
  /** Skip fsync: for throwaway test environments only, never for a hub whose state must survive. */
  readonly unsafeNoFsync: boolean;
}

export async function startEtcd(
  sup: Supervisor,
  binDir: string,
  logDir: string,
  o: EtcdOptions,
): Promise<ManagedProcess> {
  const client = `http://127.0.0.1:${o.clientPort}`;
  const peer = `http://127.0.0.1:${o.peerPort}`;
  const proc = sup.start('etcd', join(binDir, 'etcd'), {
    logPath: join(logDir, 'etcd.log'),
    args: [
      '--name=meridian',
      `--data-dir=${o.dataDir}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=meridian=${peer}`,
      '--quota-backend-bytes=8589934592',
      '--auto-compaction-retention=5m',
      '--log-level=warn',
      ...(o.unsafeNoFsync ? ['--unsafe-no-fsync'] : []),
    ],
  });
  await waitUntilHealthy({ url: `${client}/health` }, proc);
  return proc;
}

export interface ApiServerOptions {
  readonly name: string;
  readonly pki: ClusterPki;
  readonly port: number;
  readonly etcdUrl: string;
  /** Each API server keeps its state under its own prefix of the shared etcd. */
  readonly etcdPrefix: string;
  readonly extraArgs?: readonly string[];
}

export function apiServerArgs(o: ApiServerOptions): string[] {
  const p = o.pki;
  return [
    `--etcd-servers=${o.etcdUrl}`,
    `--etcd-prefix=${o.etcdPrefix}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    // Endpoints may not hold loopback addresses; nothing in these clusters needs the
    // `kubernetes` Service's endpoints, so do not maintain them.
    '--endpoint-reconciler-type=none',
    `--secure-port=${o.port}`,
    `--tls-cert-file=${p.apiServer.certPath}`,
    `--tls-private-key-file=${p.apiServer.keyPath}`,
    `--client-ca-file=${p.ca.certPath}`,
    `--service-account-issuer=https://${o.name}.clusters.meridian.local`,
    `--service-account-key-file=${p.serviceAccount.publicKeyPath}`,
    `--service-account-signing-key-file=${p.serviceAccount.privateKeyPath}`,
    '--service-cluster-ip-range=10.96.0.0/16',
    '--authorization-mode=RBAC',
    // Pull-mode agents bootstrap with a single-use bootstrap token (`meridian join --mode Pull`).
    '--enable-bootstrap-token-auth',
    '--allow-privileged=true',
    '--profiling=false',
    `--kubelet-client-certificate=${p.apiServerKubeletClient.certPath}`,
    `--kubelet-client-key=${p.apiServerKubeletClient.keyPath}`,
    '--kubelet-preferred-address-types=InternalIP',
    `--requestheader-client-ca-file=${p.frontProxyCa.certPath}`,
    '--requestheader-allowed-names=front-proxy-client',
    '--requestheader-username-headers=X-Remote-User',
    '--requestheader-group-headers=X-Remote-Group',
    '--requestheader-extra-headers-prefix=X-Remote-Extra-',
    `--proxy-client-cert-file=${p.frontProxyClient.certPath}`,
    `--proxy-client-key-file=${p.frontProxyClient.keyPath}`,
    ...(o.extraArgs ?? []),
  ];
}

export async function startApiServer(
  sup: Supervisor,
  binDir: string,
  logDir: string,
  o: ApiServerOptions,
): Promise<ManagedProcess> {
  const proc = sup.start(`${o.name}/kube-apiserver`, join(binDir, 'kube-apiserver'), {
    logPath: join(logDir, 'kube-apiserver.log'),
    args: apiServerArgs(o),
  });
  await waitUntilHealthy(
    { url: `https://127.0.0.1:${o.port}/readyz`, caPath: o.pki.ca.certPath, client: o.pki.admin },
    proc,
  );
  return proc;
}

export interface ComponentOptions {
  readonly name: string;
  readonly pki: ClusterPki;
  readonly kubeconfig: string;
  readonly port: number;
}

export async function startControllerManager(
  sup: Supervisor,
  binDir: string,
  logDir: string,
  o: ComponentOptions & { readonly controllers: readonly string[] },
): Promise<ManagedProcess> {
  const proc = sup.start(`${o.name}/kube-controller-manager`, join(binDir, 'kube-controller-manager'), {
    logPath: join(logDir, 'kube-controller-manager.log'),
    args: [
      `--kubeconfig=${o.kubeconfig}`,
      `--authentication-kubeconfig=${o.kubeconfig}`,
      `--authorization-kubeconfig=${o.kubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${o.port}`,
      '--leader-elect=false',
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${o.pki.serviceAccount.privateKeyPath}`,
      `--root-ca-file=${o.pki.ca.certPath}`,
      `--cluster-signing-cert-file=${o.pki.ca.certPath}`,
      `--cluster-signing-key-file=${o.pki.ca.keyPath}`,
      `--cluster-name=${o.name}`,
      `--controllers=${o.controllers.join(',')}`,
    ],
  });
  await waitUntilHealthy({ url: `https://127.0.0.1:${o.port}/healthz` }, proc);
  return proc;
}

export async function startScheduler(
  sup: Supervisor,
  binDir: string,
  logDir: string,
  o: ComponentOptions,
): Promise<ManagedProcess> {
  const proc = sup.start(`${o.name}/kube-scheduler`, join(binDir, 'kube-scheduler'), {
    logPath: join(logDir, 'kube-scheduler.log'),
    args: [
      `--kubeconfig=${o.kubeconfig}`,
      `--authentication-kubeconfig=${o.kubeconfig}`,
      `--authorization-kubeconfig=${o.kubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${o.port}`,
      '--leader-elect=false',
    ],
  });
  await waitUntilHealthy({ url: `https://127.0.0.1:${o.port}/healthz` }, proc);
  return proc;
}

export async function startKwok(
  sup: Supervisor,
  binDir: string,
  logDir: string,
  o: ComponentOptions & { readonly configFiles: readonly string[] },
): Promise<ManagedProcess> {
  const proc = sup.start(`${o.name}/kwok`, join(binDir, 'kwok'), {
    logPath: join(logDir, 'kwok.log'),
    args: [
      `--kubeconfig=${o.kubeconfig}`,
      ...o.configFiles.map((f) => `--config=${f}`),
      '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
      '--node-ip=127.0.0.1',
      `--node-port=${o.port}`,
      `--server-address=127.0.0.1:${o.port}`,
      `--tls-cert-file=${o.pki.kwok.certPath}`,
      `--tls-private-key-file=${o.pki.kwok.keyPath}`,
      '--node-lease-duration-seconds=40',
    ],
  });
  await waitUntilHealthy({ url: `https://127.0.0.1:${o.port}/healthz` }, proc);
  return proc;
}
