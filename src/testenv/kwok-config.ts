import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';

/**
 * What kwok's simulated kubelet answers for every pod of one member, so `kubectl logs`,
 * `exec`, `attach` and `port-forward` work against fake pods:
 * - logs: the contents of `logFile`, in the CRI log format (`<RFC3339Nano> stdout|stderr F <text>`),
 *   followed with `-f`;
 * - exec: the command runs on this machine in `workDir` with `MERIDIAN_CLUSTER=<member>` (kwok does
 *   not pass end-of-stdin on, so a command reading stdin must stop by itself, e.g. `head -1`);
 * - port-forward: every port is an echo (`cat`): bytes sent come back unchanged.
 */
export interface KwokPodBehaviour {
  readonly member: string;
  readonly logFile: string;
  readonly workDir: string;
}

export async function writeKwokConfig(path: string, b: KwokPodBehaviour): Promise<void> {
  const doc = (kind: string, spec: object) => ({
    apiVersion: 'kwok.x-k8s.io/v1alpha1',
    kind,
    metadata: { name: `meridian-${kind.toLowerCase()}` },
    spec,
  });
  const docs = [
    doc('ClusterLogs', { logs: [{ logsFile: b.logFile, follow: true }] }),
    doc('ClusterExec', {
      execs: [{ local: { workDir: b.workDir, envs: [{ name: 'MERIDIAN_CLUSTER', value: b.member }] } }],
    }),
    doc('ClusterAttach', { attaches: [{ logsFile: b.logFile }] }),
    doc('ClusterPortForward', { forwards: [{ command: ['cat'] }] }),
  ];
  await writeFile(path, docs.map((d) => stringify(d)).join('---\n'));
}

/** kwok's own stage files (node initialise + lease heartbeat, pod ready/complete/delete). */
export async function stageFiles(stagesDir: string): Promise<string[]> {
  return (await readdir(stagesDir)).filter((f) => f.endsWith('.yaml')).map((f) => join(stagesDir, f));
}
