import { StorageError } from '../errors.ts';
import type { AckMode } from '../volume/replicated-volume.ts';

export type FrontendConfig = {
  readonly volume: string;
  readonly sizeBytes: number;
  readonly replicas: readonly { nodeId: string; endpoint: { host: string; port: number } }[];
  readonly ack: AckMode;
  readonly durability: number;
  readonly port: number;
  readonly host: string;
  /** TLS on the NBD side: `off`, `on` (STARTTLS optional) or `require`. */
  readonly tls: 'off' | 'on' | 'require';
  readonly tlsCertificates: string | undefined;
  readonly tlsVerifyPeer: boolean;
};

const ACK_MODES: readonly AckMode[] = ['fastest', 'quorum', 'all'];

/** Validates the frontend's command line; every error names the flag and the bad value. */
export function parseFrontendArgs(v: {
  volume?: string;
  size?: string;
  replica?: string[];
  ack?: string;
  durability?: string;
  port?: string;
  host?: string;
  tls?: string;
  'tls-certificates'?: string;
  'tls-verify-peer'?: boolean;
}): FrontendConfig {
  const bad = (msg: string): never => {
    throw new StorageError('Invalid', msg);
  };
  const volume = v.volume ?? bad('--volume is required');
  const sizeBytes = Number(v.size ?? bad('--size is required'));
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0)
    bad(`--size ${v.size ?? ''}: not a positive integer`);
  const replicas = (v.replica ?? []).map((spec) => {
    const m = /^([^=]+)=(.+):(\d+)$/.exec(spec);
    if (m === null) return bad(`--replica ${spec}: expected nodeId=host:port`);
    return { nodeId: m[1] as string, endpoint: { host: m[2] as string, port: Number(m[3]) } };
  });
  if (replicas.length === 0) bad('at least one --replica nodeId=host:port is required');
  const ack = (v.ack ?? 'fastest') as AckMode;
  if (!ACK_MODES.includes(ack)) bad(`--ack ${v.ack ?? ''}: expected one of ${ACK_MODES.join(', ')}`);
  const durability = Number(v.durability ?? replicas.length);
  if (!Number.isInteger(durability) || durability < 1 || durability > replicas.length)
    bad(`--durability ${v.durability ?? ''}: expected 1..${replicas.length}`);
  const port = Number(v.port ?? 0);
  if (!Number.isInteger(port) || port < 0 || port > 65535) bad(`--port ${v.port ?? ''}: not a TCP port`);
  const tls = v.tls ?? 'off';
  if (tls !== 'off' && tls !== 'on' && tls !== 'require') bad(`--tls ${tls}: expected off, on or require`);
  const tlsCertificates = v['tls-certificates'];
  if (tls !== 'off' && tlsCertificates === undefined) bad(`--tls ${tls} needs --tls-certificates DIR`);
  return {
    volume,
    sizeBytes,
    replicas,
    ack,
    durability,
    port,
    host: v.host ?? '127.0.0.1',
    tls: tls as FrontendConfig['tls'],
    tlsCertificates,
    tlsVerifyPeer: v['tls-verify-peer'] === true,
  };
}
