// A cluster proxy registered with the environment's hub as an aggregated API: gateway
// replicas (in this process) with the hub's front-proxy settings and SubjectAccessReview
// authorisation, the APIService pointing at the first one, and one agent per proxied cluster.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { startAgent, type RunningAgent } from '../../src/agent/agent.ts';
import { memberTargetFromKubeConfig, type MemberTarget } from '../../src/agent/member.ts';
import { jsonLinesAudit } from '../../src/gateway/audit.ts';
import {
  frontProxyFromHub,
  registerApiService,
  serviceDnsName,
  unregisterApiService,
} from '../../src/gateway/apiservice.ts';
import { startGateway, type Gateway, type GatewayOptions } from '../../src/gateway/gateway.ts';
import { subjectAccessReviewAuthorizer } from '../../src/gateway/hub-authorizer.ts';
import type { AuditRecord } from '../../src/gateway/proxy.ts';
import { staticTokens } from '../../src/gateway/tokens.ts';
import { ApiClient } from '../../src/kube/api-client.ts';
import type { ClusterInfo, EnvironmentInfo } from '../../src/testenv/environment.ts';
import { writeKubeconfig } from '../../src/testenv/kubeconfig.ts';
import { kubectl } from '../../src/testenv/kubectl.ts';
import { issueCertificate, type KeyPair } from '../../src/testenv/pki.ts';

export interface ProxyFixtureOptions {
  /** Proxied cluster name → the member it reaches (names unique per run: the APIService is global). */
  readonly clusters: ReadonlyMap<string, ClusterInfo>;
  /** Gateway replicas, peers of each other. Default 1. */
  readonly replicas?: number;
  /** Where agents dial; default the first replica. */
  readonly agentGatewayUrl?: () => string;
  /** Extra gateway options (e.g. an audit sink). */
  readonly gateway?: Partial<GatewayOptions>;
  /** Register the APIService for the first replica. Default true. */
  readonly register?: boolean;
  /** Start the agents. Default true. */
  readonly startAgents?: boolean;
  /** Where the replicas listen. Default 127.0.0.1. */
  readonly host?: string;
  /** More IP addresses for the gateway's serving certificate (where agents dial it). */
  readonly extraIps?: readonly string[];
}

export interface ProxyFixture {
  readonly dir: string;
  readonly hubCa: string;
  readonly gateways: Gateway[];
  readonly audits: AuditRecord[];
  /** The same records as JSON lines (`jsonLinesAudit`), as `meridian gateway --audit-log` writes them. */
  readonly auditLogPath: string;
  readonly agents: Map<string, RunningAgent>;
  /** Gateway serving/client certificate (CN meridian-gateway). */
  readonly gatewayCert: KeyPair;
  /** The hub's front-proxy client certificate (what the hub presents to the gateway). */
  readonly frontProxyClient: KeyPair;
  /** Registers the APIService with the hub dialling 127.0.0.1:`port` (default replica 0's); waits until Available. */
  register(port?: number): Promise<void>;
  /** Starts replica `i` again on its old port (after `gateways[i].close()`). */
  restartReplica(i: number): Promise<Gateway>;
  /** Starts an agent for `cluster` dialling `url` (default: agentGatewayUrl). */
  newAgent(cluster: string, url?: string): Promise<RunningAgent>;
  /** Writes `cluster`'s agent token to a file (for an agent started as a process). */
  tokenFile(cluster: string): Promise<string>;
  /** A hub-CA client certificate for `user` in `groups`. */
  user(user: string, groups?: readonly string[]): Promise<KeyPair>;
  /** A kubeconfig for `user` against the hub itself. */
  hubKubeconfig(user: string, creds: KeyPair): Promise<string>;
  kubectl(
    kubeconfig: string,
    args: readonly string[],
    opts?: { input?: string; timeoutMs?: number },
  ): ReturnType<typeof kubectl>;
  /** The hub as admin (kubectl). */
  hub(args: readonly string[], input?: string): ReturnType<typeof kubectl>;
  stop(): Promise<void>;
}

export async function startProxyFixture(env: EnvironmentInfo, o: ProxyFixtureOptions): Promise<ProxyFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'meridian-proxy-'));
  const ca = { certPath: env.hub.caPath, keyPath: join(env.hub.dir, 'pki', 'ca.key') };
  const hubCa = await readFile(env.hub.caPath, 'utf8');
  const gatewayCert = await issueCertificate(ca, dir, 'gateway', {
    commonName: 'meridian-gateway',
    dnsNames: [serviceDnsName({}), 'localhost'],
    ipAddresses: ['127.0.0.1', ...(o.extraIps ?? [])],
    usage: 'server-and-client',
  });
  const hub = (args: readonly string[], input?: string) =>
    kubectl(env.binDir, env.hub.kubeconfig, args, input === undefined ? {} : { input });
  // The gateway's own hub identity may review access and read the front-proxy settings (as
  // any aggregated API server: system:auth-delegator, extension-apiserver-authentication-reader).
  const rbac = (kind: string, name: string, role: string, namespace?: string) => ({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind,
    metadata: { name, ...(namespace === undefined ? {} : { namespace }) },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: kind.replace('Binding', ''), name: role },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'meridian-gateway' }],
  });
  await hub(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        rbac('ClusterRoleBinding', 'meridian-gateway:auth-delegator', 'system:auth-delegator'),
        rbac(
          'RoleBinding',
          'meridian-gateway:authentication-reader',
          'extension-apiserver-authentication-reader',
          'kube-system',
        ),
      ],
    }),
  );
  const gwKubeconfig = join(dir, 'gateway.kubeconfig');
  await writeKubeconfig(gwKubeconfig, {
    cluster: 'hub',
    server: env.hub.server,
    caPath: env.hub.caPath,
    user: 'meridian-gateway',
    credentials: gatewayCert,
  });
  const kc = new KubeConfig();
  kc.loadFromFile(gwKubeconfig);
  const hubClient = await ApiClient.fromKubeConfig(kc, { userAgent: 'meridian-gateway-e2e' });
  const frontProxy = await frontProxyFromHub(hubClient);
  const authorizer = subjectAccessReviewAuthorizer(hubClient);
  const tokens = new Map([...o.clusters.keys()].map((c) => [c, randomBytes(24).toString('base64url')]));
  const [cert, key] = await Promise.all([readFile(gatewayCert.certPath), readFile(gatewayCert.keyPath)]);
  const audits: AuditRecord[] = [];
  const auditLogPath = join(dir, 'audit.jsonl');
  const auditLog = createWriteStream(auditLogPath, { flags: 'a' });
  const auditLine = jsonLinesAudit(auditLog);
  const replicas = o.replicas ?? 1;
  const gateways: Gateway[] = [];
  const ports: number[] = [];
  const start = (i: number, port: number) =>
    startGateway({
      host: o.host ?? '127.0.0.1',
      port,
      tls: { cert, key, clientCa: hubCa },
      agents: staticTokens(tokens),
      audit: (r) => {
        audits.push(r);
        auditLine(r);
      },
      frontProxy,
      authorizer,
      ...(replicas > 1
        ? {
            peers: { urls: () => gateways.filter((_, j) => j !== i).map((g) => g.url), cert, key, ca: hubCa },
          }
        : {}),
      ...o.gateway,
    });
  for (let i = 0; i < replicas; i++) {
    const g = await start(i, 0);
    gateways.push(g);
    ports.push(g.port);
  }
  const targets: MemberTarget[] = [];
  const allAgents: RunningAgent[] = [];
  const agentUrl = o.agentGatewayUrl ?? (() => (gateways[0] as Gateway).url);
  const newAgent = async (cluster: string, url?: string): Promise<RunningAgent> => {
    const member = o.clusters.get(cluster);
    if (member === undefined) throw new Error(`no member for cluster ${cluster}`);
    const mkc = new KubeConfig();
    mkc.loadFromFile(member.kubeconfig);
    const target = await memberTargetFromKubeConfig(mkc);
    targets.push(target);
    const a = startAgent({
      cluster,
      gatewayUrl: url ?? agentUrl(),
      token: async () => tokens.get(cluster) ?? '',
      gatewayCa: hubCa,
      member: target,
      backoff: { initialMs: 200, maxMs: 2000 },
    });
    allAgents.push(a);
    return a;
  };
  const agents = new Map<string, RunningAgent>();
  if (o.startAgents ?? true) {
    for (const c of o.clusters.keys()) agents.set(c, await newAgent(c));
    await Promise.all([...agents.values()].map((a) => a.connected(AbortSignal.timeout(60_000))));
  }
  const register = async (port = (gateways[0] as Gateway).port): Promise<void> => {
    const akc = new KubeConfig();
    akc.loadFromFile(env.hub.kubeconfig);
    const admin = await ApiClient.fromKubeConfig(akc);
    await registerApiService(admin, { externalName: '127.0.0.1', port, caBundle: hubCa }).finally(() =>
      admin.close(),
    );
    await hub([
      'wait', '--for=condition=Available', 'apiservice/v1alpha1.proxy.meridian.dev', '--timeout=180s',
    ]); // prettier-ignore
  };
  if (o.register ?? true) await register();
  const users = new Map<string, Promise<KeyPair>>();
  return {
    dir,
    hubCa,
    gateways,
    audits,
    auditLogPath,
    agents,
    gatewayCert,
    frontProxyClient: {
      certPath: join(env.hub.dir, 'pki', 'front-proxy-client.crt'),
      keyPath: join(env.hub.dir, 'pki', 'front-proxy-client.key'),
    },
    async restartReplica(i) {
      const g = await start(i, ports[i] as number);
      gateways[i] = g;
      return g;
    },
    newAgent,
    register,
    async tokenFile(cluster) {
      const path = join(dir, `${cluster}.token`);
      await writeFile(path, tokens.get(cluster) ?? '', { mode: 0o600 });
      return path;
    },
    user(user, groups = []) {
      let p = users.get(user);
      if (p === undefined) {
        p = issueCertificate(ca, dir, `user-${user}`, {
          commonName: user,
          organizations: groups,
          usage: 'client',
        });
        users.set(user, p);
      }
      return p;
    },
    async hubKubeconfig(user, creds) {
      const path = join(dir, `${user}@hub.kubeconfig`);
      await writeKubeconfig(path, {
        cluster: 'hub',
        server: env.hub.server,
        caPath: env.hub.caPath,
        user,
        credentials: creds,
      });
      return path;
    },
    kubectl: (kubeconfig, args, opts) => kubectl(env.binDir, kubeconfig, args, opts),
    hub,
    async stop() {
      // A registered APIService without its gateway would leave the hub's discovery incomplete
      // for the test files that run after this one.
      const akc = new KubeConfig();
      akc.loadFromFile(env.hub.kubeconfig);
      const admin = await ApiClient.fromKubeConfig(akc);
      await unregisterApiService(admin).finally(() => admin.close());
      await Promise.all(allAgents.map((a) => a.stop()));
      await Promise.all(gateways.map((g) => g.close()));
      for (const t of targets) t.close();
      await hubClient.close();
      await new Promise((resolve) => auditLog.end(resolve));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A long-running kubectl (watch, logs -f, port-forward) whose output is collected. */
export function spawnKubectl(
  binDir: string,
  kubeconfig: string,
  args: readonly string[],
  extraEnv: Readonly<Record<string, string>> = {},
) {
  return spawnCollected(join(binDir, 'kubectl'), ['--kubeconfig', kubeconfig, ...args], extraEnv);
}

/** A long-running command whose output is collected, with `until` to wait on stdout. */
export function spawnCollected(
  file: string,
  args: readonly string[],
  extraEnv: Readonly<Record<string, string>> = {},
) {
  const child: ChildProcessWithoutNullStreams = spawn(file, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...extraEnv },
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    out: () => out,
    err: () => err,
    /** Resolves once stdout satisfies `pred`; rejects if kubectl exits first or after `ms`. */
    until(pred: (s: string) => boolean, ms = 60_000): Promise<string> {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (pred(out)) {
            cleanup();
            resolve(out);
          }
        };
        const onExit = (code: number | null): void => {
          cleanup();
          reject(new Error(`${file} ${args.join(' ')} exited (${code}) early: ${err}\nstdout: ${out}`));
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(
              `${file} ${args.join(' ')}: condition not met after ${ms} ms; stdout: ${out} stderr: ${err}`,
            ),
          );
        }, ms);
        const cleanup = (): void => {
          clearTimeout(timer);
          child.stdout.off('data', check);
          child.off('exit', onExit);
        };
        child.stdout.on('data', check);
        child.once('exit', onExit);
        check();
      });
    },
    stop() {
      child.kill();
    },
  };
}

/** A tiny pull-mode Cluster on the hub, so `meridian kubeconfig <name>` finds it. */
export function pullCluster(name: string): string {
  return JSON.stringify({
    apiVersion: 'meridian.dev/v1alpha1',
    kind: 'Cluster',
    metadata: { name },
    spec: { syncMode: 'Pull' },
  });
}
