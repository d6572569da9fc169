/**
 * Names of the pull-mode agent's identity on the hub, shared by `meridian join`, the CSR
 * approver/signer, the gateway and the agent.
 *
 * An agent bootstraps with a Kubernetes bootstrap token (user `system:bootstrap:<id>`, group
 * {@link BOOTSTRAP_GROUP}), asks for a client certificate with a CertificateSigningRequest for
 * signer {@link AGENT_SIGNER_NAME}, subject `CN=system:meridian:agent:<cluster>,
 * O=system:meridian:agents`, and from then on is that user on the hub API server and at the
 * gateway.
 */

/** The `spec.signerName` of agent certificate requests; only Meridian's signer issues them. */
export const AGENT_SIGNER_NAME = 'meridian.dev/agent';
/** Every agent certificate's organisation (a group to the hub API server). */
export const AGENT_GROUP = 'system:meridian:agents';
const AGENT_USER_PREFIX = 'system:meridian:agent:';
/** The extra group of every bootstrap token `meridian join --mode Pull` creates. */
export const BOOTSTRAP_GROUP = 'system:bootstrappers:meridian';
/** Where Kubernetes keeps bootstrap tokens, and their Secret type. */
export const BOOTSTRAP_TOKEN_NAMESPACE = 'kube-system';
export const BOOTSTRAP_TOKEN_TYPE = 'bootstrap.kubernetes.io/token';
export const bootstrapTokenSecretName = (tokenId: string): string => `bootstrap-token-${tokenId}`;
/** On a bootstrap token Secret: the CSR that consumed it (a token is good for one CSR). */
export const TOKEN_USED_BY_ANNOTATION = 'meridian.dev/used-by-csr';
/** The Lease (in the cluster's hub namespace) the agent renews as its heartbeat. */
export const AGENT_LEASE_NAME = 'meridian-agent';
/** Default and maximum certificate lifetime issued by the signer. */
export const DEFAULT_AGENT_CERT_TTL_SECONDS = 24 * 3600;
/** kube-apiserver refuses `expirationSeconds` below this. */
export const MIN_AGENT_CERT_TTL_SECONDS = 600;

/** The hub user of `cluster`'s agent. */
export const agentUser = (cluster: string): string => `${AGENT_USER_PREFIX}${cluster}`;

/** The cluster an agent user name stands for, or undefined when `user` is not an agent. */
export function clusterOfAgentUser(user: string): string | undefined {
  if (!user.startsWith(AGENT_USER_PREFIX)) return undefined;
  const c = user.slice(AGENT_USER_PREFIX.length);
  return /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(c) ? c : undefined;
}

/** The token id of a bootstrap-token user (`system:bootstrap:<id>`), if it is one. */
export function bootstrapTokenIdOf(user: string): string | undefined {
  const m = /^system:bootstrap:([a-z0-9]{6})$/.exec(user);
  return m?.[1];
}
