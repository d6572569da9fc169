// The README's main command, run as a user runs it: `meridian demo` brings up its own fleet,
// places the sample app, prints where it went, and leaves nothing behind on Ctrl-C.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';

const cli = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

/** Command lines of every live process that mentions `text`. */
function processesMentioning(text: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmd.includes(text)) out.push(`${pid}: ${cmd}`);
    } catch {
      // exited while we looked
    }
  }
  return out;
}

test('meridian demo places the sample app over three regions, prints it, and cleans up on Ctrl-C', async (t) => {
  const child = spawn(process.execPath, [cli, 'demo'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // A failed assertion must not leave the demo running: it would keep this file, and the
  // whole test run, from ever finishing.
  t.after(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGINT');
    const stopped = await Promise.race([exited.then(() => true), delay(60_000).then(() => false)]);
    if (!stopped) child.kill('SIGKILL');
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => out.includes('Press Ctrl-C') && (clearInterval(timer), resolve()), 200);
    void exited.then((code) => {
      clearInterval(timer);
      reject(new Error(`demo exited early (${code}):\n${out}\n${err}`));
    });
  });

  // Every step reported with its time.
  for (const step of [
    'member clusters started',
    'controllers running',
    'members joined',
    'app applied',
    'Ready',
  ]) {
    assert.match(out, new RegExp(`✓ [^\\n]*${step}[^\\n]*\\(\\d+\\.\\d s\\)`), step);
  }
  // Divided 1:1:1 by the policy, ready in every member, summed on the hub.
  assert.match(out, /Deployment\/frontend\s+2\/2\s+2\/2\s+2\/2\s+6\/6/);
  assert.match(out, /Deployment\/api\s+1\/1\s+1\/1\s+1\/1\s+3\/3/);
  // The ConfigMap the pods use followed them (propagateDeps), and the Services went everywhere.
  assert.match(out, /ConfigMap\/shop-config\s+applied\s+applied\s+applied/);
  assert.match(out, /Service\/frontend\s+applied\s+applied\s+applied/);
  // The override gave each site its own registry, and the default stayed where none applies.
  assert.match(out, /us-east\s+docker\.io\/library\/nginx:1\.27/);
  assert.match(out, /eu-west\s+europe-docker\.pkg\.dev\/mirror\/library\/nginx:1\.27/);
  assert.match(out, /onprem-dc1\s+registry\.dc1\.internal\/library\/nginx:1\.27/);

  // The printed kubectl line works: the hub shows the aggregated status.
  const hubKubeconfig = /--kubeconfig (\S+hub\S+kubeconfig) get deploy/.exec(out)?.[1];
  const binDir = /export PATH=([^:]+):/.exec(out)?.[1];
  assert.ok(hubKubeconfig !== undefined && binDir !== undefined, out);
  const ready = execFileSync(`${binDir}/kubectl`, [
    '--kubeconfig',
    hubKubeconfig,
    'get',
    'deploy/frontend',
    '-n',
    'shop',
    '-o',
    'jsonpath={.status.readyReplicas}',
  ]).toString();
  assert.equal(ready, '6');

  const dir = hubKubeconfig.replace(/\/hub\/.*$/, '');
  assert.ok(existsSync(dir));
  child.kill('SIGINT');
  assert.equal(await exited, 0, err);
  assert.equal(existsSync(dir), false, `${dir} left behind`);
  assert.deepEqual(processesMentioning(dir), []);
});
