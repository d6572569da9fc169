import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before } from 'node:test';
import type { ClusterInfo, EnvironmentInfo } from '../../src/testenv/environment.ts';
import { startEnvironment } from '../../src/testenv/environment.ts';
import { kubectl, type KubectlResult } from '../../src/testenv/kubectl.ts';

/** A test's view of the shared environment. */
export interface TestEnvironment {
  readonly info: EnvironmentInfo;
  readonly hub: ClusterInfo;
  readonly members: readonly ClusterInfo[];
  kubectl(
    cluster: string,
    args: readonly string[],
    opts?: { input?: string; timeoutMs?: number },
  ): Promise<KubectlResult>;
}

/**
 * The environment for this test file: the run's shared one (see test/global-setup.ts), or,
 * when the file is run on its own without it, a private one started before its tests and
 * stopped after them. Call at the top level of a test file; use the result inside tests.
 */
export function useEnvironment(): { get(): TestEnvironment } {
  let current: TestEnvironment | undefined;
  let stop: (() => Promise<void>) | undefined;
  const wrap = (info: EnvironmentInfo): TestEnvironment => {
    const all = [info.hub, ...info.members];
    return {
      info,
      hub: info.hub,
      members: info.members,
      kubectl: (name, args, o) => {
        const c = all.find((x) => x.name === name);
        if (!c) throw new Error(`no cluster named ${name}`);
        return kubectl(info.binDir, c.kubeconfig, args, o);
      },
    };
  };
  before(async () => {
    const path = process.env.MERIDIAN_TEST_ENV;
    if (path) {
      current = wrap(JSON.parse(readFileSync(path, 'utf8')) as EnvironmentInfo);
    } else {
      const env = await startEnvironment();
      stop = () => env.stop();
      current = wrap(env.info());
    }
  });
  after(async () => {
    await stop?.();
  });
  return {
    get() {
      if (!current)
        throw new Error('environment not started: call useEnvironment() at the top level of the test file');
      return current;
    },
  };
}

/** A fresh namespace name for one test, so tests sharing clusters never see each other's objects. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}
