import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The hub kubeconfig: the flag, else $KUBECONFIG (first entry), else ~/.kube/config — as kubectl. */
export function hubKubeconfigPath(flag?: string): string {
  const path = flag ?? process.env.KUBECONFIG?.split(':')[0] ?? join(homedir(), '.kube', 'config');
  if (!existsSync(path)) {
    throw new Error(`no hub kubeconfig at ${path}: pass --kubeconfig <file> or set KUBECONFIG`);
  }
  return path;
}
