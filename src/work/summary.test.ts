import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseQuantityMilli } from '../api/index.ts';
import {
  computeCapacity,
  formatMilli,
  podRequests,
  toResourceSummary,
  type Node,
  type Pod,
} from './summary.ts';

const node = (
  name: string,
  cpu: string,
  memory: string,
  opts: { ready?: boolean; cordoned?: boolean } = {},
): Node => ({
  metadata: { name },
  spec: { unschedulable: opts.cordoned ?? false },
  status: {
    allocatable: { cpu, memory, pods: '110' },
    conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }],
  },
});

const pod = (nodeName: string | undefined, requests: Record<string, string>, phase = 'Running'): Pod => ({
  metadata: { name: 'p', namespace: 'ns' },
  spec: { ...(nodeName ? { nodeName } : {}), containers: [{ resources: { requests } }] },
  status: { phase },
});

test('allocatable sums Ready, schedulable nodes only', () => {
  const c = computeCapacity(
    [node('a', '16', '64Gi'), node('b', '8', '32Gi'), node('down', '100', '1Ti', { ready: false }), node('cordoned', '100', '1Ti', { cordoned: true })],
    [],
  ); // prettier-ignore
  assert.equal(c.allocatable.cpu, 24_000n);
  assert.equal(c.allocatable.memory, 96n * 1024n ** 3n * 1000n);
  assert.equal(c.allocatable.pods, 220_000n);
  assert.deepEqual(c.nodes, { total: 4, ready: 2 });
});

test('allocated counts non-terminal pods bound to counted nodes; available is the difference', () => {
  const c = computeCapacity(
    [node('a', '4', '8Gi'), node('down', '4', '8Gi', { ready: false })],
    [
      pod('a', { cpu: '1500m', memory: '1Gi' }),
      pod('a', { cpu: '500m' }, 'Pending'),
      pod('a', { cpu: '2' }, 'Succeeded'),
      pod('a', { cpu: '2' }, 'Failed'),
      pod(undefined, { cpu: '2' }, 'Pending'),
      pod('down', { cpu: '2' }),
    ],
  );
  assert.equal(c.allocated.cpu, 2_000n);
  assert.equal(c.allocated.memory, 1024n ** 3n * 1000n);
  assert.equal(c.allocated.pods, 2_000n);
  assert.equal(c.available.cpu, 2_000n);
  assert.equal(c.available.pods, 108_000n);
});

test('available never goes below zero (overcommitted node)', () => {
  const c = computeCapacity([node('a', '1', '1Gi')], [pod('a', { cpu: '3', memory: '2Gi' })]);
  assert.equal(c.available.cpu, 0n);
  assert.equal(c.available.memory, 0n);
});

test('pod requests: max(app + sidecars, init steps) plus overhead', () => {
  const p: Pod = {
    spec: {
      nodeName: 'a',
      initContainers: [
        { resources: { requests: { cpu: '3' } } }, // runs alone: 3
        { restartPolicy: 'Always', resources: { requests: { cpu: '500m', memory: '1Gi' } } }, // sidecar
        { resources: { requests: { cpu: '1', memory: '4Gi' } } }, // with the sidecar: 1.5 cpu, 5Gi
      ],
      containers: [{ resources: { requests: { cpu: '1' } } }, { resources: { requests: { cpu: '250m' } } }],
      overhead: { cpu: '100m' },
    },
  };
  const r = podRequests(p);
  assert.equal(r.cpu, 3_100n); // init step 3 beats 1.25 + 0.5, then + 0.1 overhead
  assert.equal(r.memory, 5n * 1024n ** 3n * 1000n);
  assert.equal(r.pods, 1_000n);
});

test('an unparsable quantity counts as zero instead of failing the summary', () => {
  const c = computeCapacity([node('a', 'lots', '1Gi')], [pod('a', { cpu: 'bad' })]);
  assert.equal(c.allocatable.cpu, 0n);
  assert.equal(c.allocated.cpu, 0n);
});

test('formatted quantities are canonical and round-trip', () => {
  assert.equal(formatMilli('cpu', 48_000n), '48');
  assert.equal(formatMilli('cpu', 4_500n), '4500m');
  assert.equal(formatMilli('memory', 64n * 1024n ** 3n * 1000n), '64Gi');
  assert.equal(formatMilli('memory', 1_000_000n), '1000', '1000 bytes: no exact binary suffix');
  assert.equal(formatMilli('memory', 0n), '0');
  assert.equal(formatMilli('pods', 330_000n), '330');
  const summary = toResourceSummary(
    computeCapacity([node('a', '7', '3Gi')], [pod('a', { cpu: '250m', memory: '100Mi' })]),
  );
  for (const list of [summary.allocatable, summary.allocated, summary.available]) {
    for (const v of Object.values(list ?? {})) assert.doesNotThrow(() => parseQuantityMilli(v));
  }
  assert.deepEqual(summary.available, { cpu: '6750m', memory: `${3 * 1024 - 100}Mi`, pods: '109' });
});
