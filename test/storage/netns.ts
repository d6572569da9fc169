/**
 * Sites as Linux network namespaces: each site gets its own namespace joined to the test's
 * namespace by a veth pair on a private /30 (host side .1, site side .2). A storage node
 * started in a site listens only on that site's address, so every byte to it crosses the
 * site's link — where the WAN delay relay sits (see delay-relay.ts).
 *
 * Needs root and `ip netns`; `netnsUnavailable()` says why not, for `test(..., { skip })`.
 */
import { spawn } from 'node:child_process';
import type { Site } from '../support/netns.ts';
import type { Cleanup } from './harness.ts';

// The namespaces themselves are shared with the other suites (test/support/netns.ts).
export { createSite, netnsUnavailable, type Site } from '../support/netns.ts';

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
