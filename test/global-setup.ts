// Starts one real environment (hub + 3 members) for the whole test run and hands its
// description to every test file through MERIDIAN_TEST_ENV (node:test copies the runner's
// environment into each test process). If MERIDIAN_TEST_ENV is already set, that
// environment is used and left running.
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEnvironment, type Environment } from '../src/testenv/environment.ts';

let env: Environment | undefined;
let infoDir: string | undefined;

export async function globalSetup(): Promise<void> {
  if (process.env.MERIDIAN_TEST_ENV) return;
  env = await startEnvironment({ log: (m) => process.stderr.write(`[testenv] ${m}\n`) });
  infoDir = await mkdtemp(join(tmpdir(), 'meridian-test-'));
  const path = join(infoDir, 'environment.json');
  await writeFile(path, JSON.stringify(env.info(), null, 2));
  process.env.MERIDIAN_TEST_ENV = path;
}

export async function globalTeardown(): Promise<void> {
  await env?.stop();
  if (infoDir) await rm(infoDir, { recursive: true, force: true });
}
