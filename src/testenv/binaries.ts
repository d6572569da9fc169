import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Where the Kubernetes binaries (kube-apiserver, kubectl, kwok, etcd, …) and kwok's stages are. */
export interface Assets {
  readonly binDir: string;
  readonly kwokStagesDir: string;
}

const script = fileURLToPath(new URL('../../scripts/k8s-binaries.sh', import.meta.url));

/**
 * Finds or builds the pinned binaries through `scripts/k8s-binaries.sh` (which honours
 * `MERIDIAN_K8S_ASSETS` and `KUBEBUILDER_ASSETS`). A cold build takes many minutes; its
 * progress goes to `onProgress` line by line.
 */
export async function ensureAssets(onProgress?: (line: string) => void): Promise<Assets> {
  const child = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  const stderrTail: string[] = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    for (const line of chunk.split('\n').filter(Boolean)) {
      onProgress?.(line);
      stderrTail.push(line);
      if (stderrTail.length > 40) stderrTail.shift();
    }
  });
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  if (code !== 0) {
    throw new Error(`building the Kubernetes binaries failed (exit ${code}):\n${stderrTail.join('\n')}`);
  }
  const report = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as {
    assets?: string;
    kwokStages?: string;
  };
  if (!report.assets || !report.kwokStages) throw new Error(`unexpected output from ${script}: ${stdout}`);
  return { binDir: report.assets, kwokStagesDir: report.kwokStages };
}
