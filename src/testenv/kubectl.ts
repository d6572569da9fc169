import { execFile } from 'node:child_process';
import { join } from 'node:path';

export interface KubectlResult {
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs the environment's real `kubectl` against one cluster. Rejects with an Error carrying
 * kubectl's own stderr when it exits non-zero, so a failed assertion shows the real message.
 */
export function kubectl(
  binDir: string,
  kubeconfig: string,
  args: readonly string[],
  opts: { input?: string; timeoutMs?: number } = {},
): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      join(binDir, 'kubectl'),
      ['--kubeconfig', kubeconfig, ...args],
      { timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err)
          reject(
            new Error(`kubectl ${args.join(' ')} failed: ${stderr.trim() || err.message}`, { cause: err }),
          );
        else resolve({ stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}
