/**
 * Sites as Linux network namespaces: each site gets its own namespace joined to the test's
 * namespace by a veth pair on a private /30 (host side .1, site side .2) and nothing else —
 * no default route, so from inside a site only the host end of its link is reachable.
 *
 * Needs root and `ip netns`; `netnsUnavailable()` says why not, for `test(..., { skip })`.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

export type Site = {
  readonly name: string;
  readonly ns: string;
  /** Address of the site's end of its link (what listens in the site is reached here). */
  readonly address: string;
  /** Address of the host's end of the link: all a site can reach. */
  readonly hostAddress: string;
  /** The host's end of the link (`ip link set <it> down` cuts the site off silently). */
  readonly hostInterface: string;
};

/** Where teardown steps go (run in reverse order by the owner). */
export interface CleanupSteps {
  add(step: () => Promise<void> | void): void;
}

/** Undefined when namespaces can be created here, else the reason they cannot. */
export async function netnsUnavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces (ip netns)';
  const probe = `mer-probe-${randomBytes(3).toString('hex')}`;
  try {
    await run('ip', ['netns', 'add', probe]);
  } catch (e) {
    return `ip netns is not usable here: ${(e as Error).message.split('\n')[0] ?? ''}`;
  }
  await run('ip', ['netns', 'del', probe]).catch(() => undefined);
  return undefined;
}

let subnet = randomBytes(1)[0] ?? 0;

/** Creates a site namespace linked to this namespace by a veth pair; removed by `cleanup`. */
export async function createSite(cleanup: CleanupSteps, name: string): Promise<Site> {
  const tag = randomBytes(3).toString('hex');
  const ns = `mer-${name}-${tag}`;
  const hostIf = `mh${tag}`;
  const siteIf = `ms${tag}`;
  // One /30 per link in 10.213.0.0/16, from a per-process counter starting at random.
  const n = subnet++ % 16384;
  const prefix = `10.213.${Math.floor(n / 64)}`;
  const hostAddr = `${prefix}.${(n % 64) * 4 + 1}`;
  const siteAddr = `${prefix}.${(n % 64) * 4 + 2}`;
  const ip = (...args: string[]): Promise<unknown> => run('ip', args);
  await ip('netns', 'add', ns);
  cleanup.add(() => ip('netns', 'del', ns).then(() => undefined));
  await ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', siteIf);
  cleanup.add(() => ip('link', 'del', hostIf).then(() => undefined)); // also removes the peer
  await ip('link', 'set', siteIf, 'netns', ns);
  await ip('addr', 'add', `${hostAddr}/30`, 'dev', hostIf);
  await ip('link', 'set', hostIf, 'up');
  await ip('netns', 'exec', ns, 'ip', 'addr', 'add', `${siteAddr}/30`, 'dev', siteIf);
  await ip('netns', 'exec', ns, 'ip', 'link', 'set', siteIf, 'up');
  await ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
  return { name, ns, address: siteAddr, hostAddress: hostAddr, hostInterface: hostIf };
}
