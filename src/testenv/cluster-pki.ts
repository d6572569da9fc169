import { join } from 'node:path';
import {
  createCertificateAuthority,
  createServiceAccountKey,
  issueCertificate,
  type KeyPair,
} from './pki.ts';

/** Every credential one cluster's control plane and its clients need. Each cluster has its own CAs. */
export interface ClusterPki {
  readonly ca: KeyPair;
  readonly frontProxyCa: KeyPair;
  readonly apiServer: KeyPair;
  readonly apiServerKubeletClient: KeyPair;
  readonly frontProxyClient: KeyPair;
  readonly admin: KeyPair;
  readonly controllerManager: KeyPair;
  readonly scheduler: KeyPair;
  readonly kwok: KeyPair;
  readonly serviceAccount: { publicKeyPath: string; privateKeyPath: string };
}

const apiServerNames = ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc'];

export async function createClusterPki(dir: string, cluster: string): Promise<ClusterPki> {
  const [ca, frontProxyCa, serviceAccount] = await Promise.all([
    createCertificateAuthority(dir, 'ca'),
    createCertificateAuthority(dir, 'front-proxy-ca'),
    createServiceAccountKey(dir),
  ]);
  const [apiServer, apiServerKubeletClient, frontProxyClient, admin, controllerManager, scheduler, kwok] =
    await Promise.all([
      issueCertificate(ca, dir, 'apiserver', {
        commonName: `${cluster}-apiserver`,
        dnsNames: apiServerNames,
        ipAddresses: ['127.0.0.1', '10.96.0.1'],
        usage: 'server',
      }),
      issueCertificate(ca, dir, 'apiserver-kubelet-client', {
        commonName: 'kube-apiserver-kubelet-client',
        organizations: ['system:masters'],
        usage: 'client',
      }),
      issueCertificate(frontProxyCa, dir, 'front-proxy-client', {
        commonName: 'front-proxy-client',
        usage: 'client',
      }),
      issueCertificate(ca, dir, 'admin', {
        commonName: 'meridian-admin',
        organizations: ['system:masters'],
        usage: 'client',
      }),
      issueCertificate(ca, dir, 'controller-manager', {
        commonName: 'system:kube-controller-manager',
        usage: 'client',
      }),
      issueCertificate(ca, dir, 'scheduler', { commonName: 'system:kube-scheduler', usage: 'client' }),
      // kwok is both a client of the API server and the "kubelet" server for logs/exec.
      issueCertificate(ca, dir, 'kwok', {
        commonName: 'kwok',
        organizations: ['system:masters'],
        ipAddresses: ['127.0.0.1'],
        dnsNames: ['localhost'],
        usage: 'server-and-client',
      }),
    ]);
  return {
    ca,
    frontProxyCa,
    apiServer,
    apiServerKubeletClient,
    frontProxyClient,
    admin,
    controllerManager,
    scheduler,
    kwok,
    serviceAccount,
  };
}

export const pkiDir = (clusterDir: string) => join(clusterDir, 'pki');
