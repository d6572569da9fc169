/**
 * Sites as Linux network namespaces: each site gets its own namespace joined to the test's
 * namespace by a veth pair on a private /30 (host side .1, site side .2). A storage node
 * started in a site listens only on that site's address, so every byte to it crosses the
 * site's link — where the WAN delay relay sits (see delay-relay.ts).
 *
 * Needs root and `ip netns`; `netnsUnavailable()` says why not, for `test(..., { skip })`.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type { Cleanup } from './harness.ts';

const run = promisify(execFile);

export type Site = {
  readonly name: string;
  readonly ns: string;
  /** Address of the site's end of its link (nodes listen here). */
  readonly address: string;
};

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
export async function createSite(cleanup: Cleanup, name: string): Promise<Site> {
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
  return { name, ns, address: siteAddr };
}

/** Runs a storage node inside `site`, listening on the site's address. */
export async function spawnNodeInSite(
  cleanup: Cleanup,
  site: Site,
  opts: { id: string; dir: string; labels: string },
): Promise<{ port: number; kill: () => Promise<void> }> {
  // `ip netns exec` enters the namespace and execs node: the child's pid is node's.
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      site.ns,
      process.execPath,
      'src/storage/node/main.ts',
      '--id',
      opts.id,
      '--dir',
      opts.dir,
      '--host',
      site.address,
      '--labels',
      opts.labels,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  cleanup.add(kill);
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (c: Buffer) => {
      buf += c.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(buf.slice(0, nl));
    });
    child.once('exit', (code) =>
      reject(new Error(`storage node ${opts.id} in ${site.ns} exited with ${code}`)),
    );
  });
  return { port: (JSON.parse(line) as { port: number }).port, kill };
}
