import { startEnvironment, type ClusterInfo } from '../testenv/environment.ts';
import { membersFor } from '../testenv/topology.ts';

const say = (line = '') => process.stdout.write(`${line}\n`);

function row(c: ClusterInfo): string {
  const where = [c.labels['meridian.dev/provider'], c.labels['topology.kubernetes.io/region']]
    .filter(Boolean)
    .join(' / ');
  return `  ${c.name.padEnd(12)} ${(where || 'hub').padEnd(22)} kubectl --kubeconfig ${c.kubeconfig} get nodes`;
}

/**
 * The README's demo: a local fleet (hub + simulated members), then what to run against it.
 * Runs until interrupted; everything it started is stopped and removed on exit.
 */
export async function runDemo(opts: { members: number; dir?: string }): Promise<void> {
  say(`Starting a local Meridian fleet: hub + ${opts.members} member clusters…`);
  let building = false;
  const env = await startEnvironment({
    members: membersFor(opts.members),
    ...(opts.dir !== undefined && { dir: opts.dir }),
    log: (line) => {
      if (!building && line.includes('building into')) {
        building = true;
        say('  building the Kubernetes binaries from the Go module proxy (first run only; several minutes)…');
      }
    },
  });
  const t = env.timings;
  say(
    `Fleet up in ${((t.total ?? 0) / 1000).toFixed(1)} s (binaries ${((t.binaries ?? 0) / 1000).toFixed(1)} s).`,
  );
  say();
  say(`  export PATH=${env.binDir}:$PATH    # the pinned kubectl`);
  say(row(env.hub).replace('get nodes', 'get namespaces'));
  for (const m of env.members) say(row(m));
  say();
  say('Each member runs kube-apiserver, kube-controller-manager, kube-scheduler and kwok nodes,');
  say(`so Deployments applied to a member become Ready pods. State: ${env.dir}`);
  say('Press Ctrl-C to stop.');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  say('\nStopping…');
  await env.stop();
}
