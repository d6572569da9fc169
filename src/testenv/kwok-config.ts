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
 * A pod labelled {@link CRASH_LOOP_LABEL}`=true` (at creation or later) is crash-looping: Running,
 * not Ready, its containers waiting in `CrashLoopBackOff` — a real unhealthy workload for
 * application-failover tests (the stage outweighs kwok's own pod-ready stage).
 */
export interface KwokPodBehaviour {
  readonly member: string;
  readonly logFile: string;
  readonly workDir: string;
}

/** Label that makes kwok report a pod as crash-looping (see {@link writeKwokConfig}). */
export const CRASH_LOOP_LABEL = 'fault.meridian.dev/crash-loop';

const crashLoopStatus = `{{ $now := Now }}
phase: Running
conditions:
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: Initialized
- lastTransitionTime: {{ $now | Quote }}
  status: "False"
  reason: ContainersNotReady
  type: Ready
- lastTransitionTime: {{ $now | Quote }}
  status: "False"
  reason: ContainersNotReady
  type: ContainersReady
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  started: false
  restartCount: 5
  lastState:
    terminated:
      exitCode: 1
      reason: Error
      finishedAt: {{ $now | Quote }}
  state:
    waiting:
      reason: CrashLoopBackOff
      message: back-off restarting failed container
{{ end }}
{{ with NodeIPWith .spec.nodeName }}
hostIP: {{ . | Quote }}
{{ end }}
startTime: {{ $now | Quote }}
`;

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
    {
      ...doc('Stage', {
        resourceRef: { apiGroup: 'v1', kind: 'Pod' },
        selector: {
          matchExpressions: [
            { key: `.metadata.labels["${CRASH_LOOP_LABEL}"]`, operator: 'In', values: ['true'] },
            { key: '.metadata.deletionTimestamp', operator: 'DoesNotExist' },
            { key: '.status.phase', operator: 'In', values: ['Pending', 'Running'] },
            {
              key: '.status.conditions.[] | select( .type == "Ready" ) | .status',
              operator: 'NotIn',
              values: ['False'],
            },
          ],
        },
        weight: 10000,
        next: { statusTemplate: crashLoopStatus },
      }),
      metadata: { name: 'meridian-pod-crash-loop' },
    },
  ];
  await writeFile(path, docs.map((d) => stringify(d)).join('---\n'));
}

/** kwok's own stage files (node initialise + lease heartbeat, pod ready/complete/delete). */
export async function stageFiles(stagesDir: string): Promise<string[]> {
  return (await readdir(stagesDir)).filter((f) => f.endsWith('.yaml')).map((f) => join(stagesDir, f));
}
