import { test } from 'node:test';
import assert from 'node:assert/strict';
import { place } from './place.ts';
import type { CandidateNode, VolumePolicy } from './policy.ts';

const GiB = 1024 ** 3;
const node = (
  nodeId: string,
  labels: Record<string, string>,
  extra: Partial<CandidateNode> = {},
): CandidateNode => ({
  nodeId,
  labels,
  freeBytes: 100 * GiB,
  health: 'ok',
  ...extra,
});

const fleet: CandidateNode[] = [
  node('tokyo-1', { region: 'asia', site: 'tokyo', provider: 'aws' }),
  node('tokyo-2', { region: 'asia', site: 'tokyo', provider: 'aws' }),
  node('sg-1', { region: 'asia', site: 'singapore', provider: 'gcp' }),
  node('virginia-1', { region: 'us', site: 'virginia', provider: 'aws' }),
  node('oregon-1', { region: 'us', site: 'oregon', provider: 'gcp' }),
  node('dc1-a', { region: 'us', site: 'onprem-dc1', provider: 'onprem' }),
  node('dc1-b', { region: 'us', site: 'onprem-dc1', provider: 'onprem' }),
  node('frankfurt-1', { region: 'eu', site: 'frankfurt', provider: 'aws' }),
  node('paris-1', { region: 'eu', site: 'paris', provider: 'onprem' }),
];

type Row = {
  name: string;
  policy: VolumePolicy;
  nodes?: CandidateNode[];
  size?: number;
  want: { nodes: string[] } | { refused: RegExp };
};

const table: Row[] = [
  {
    name: 'two in asia, two in us, two on-prem: overlapping rules all filled, six distinct nodes',
    policy: {
      replicas: [
        { selector: { region: 'asia' }, count: 2 },
        { selector: { region: 'us' }, count: 2 },
        { selector: { site: 'onprem-dc1' }, count: 2 },
      ],
    },
    // region=us must leave both dc1 nodes to the on-prem rule: matching, not greedy.
    want: { nodes: ['sg-1', 'tokyo-1', 'oregon-1', 'virginia-1', 'dc1-a', 'dc1-b'] },
  },
  {
    name: 'never outside the EU: allowed list confines replicas',
    policy: { replicas: [{ selector: {}, count: 2 }], allowed: [{ region: 'eu' }] },
    want: { nodes: ['frankfurt-1', 'paris-1'] },
  },
  {
    name: 'sovereignty is never relaxed: three EU replicas with two EU nodes is refused, naming the rule',
    policy: { replicas: [{ selector: {}, count: 3 }], allowed: [{ region: 'eu' }] },
    want: {
      refused: /replicas\[0\] \(\(any node\): 3\).*excluded by sovereignty.*outside allowed \(region=eu\)/,
    },
  },
  {
    name: 'a rule that asks for a forbidden location is refused with the forbidden rule named',
    policy: { replicas: [{ selector: { provider: 'gcp' }, count: 1 }], forbidden: [{ provider: 'gcp' }] },
    want: { refused: /replicas\[0\] \(provider=gcp: 1\).*forbidden\[0\] \(provider=gcp\) matches/ },
  },
  {
    name: 'forbidden nodes are skipped, others used',
    policy: { replicas: [{ selector: { region: 'asia' }, count: 1 }], forbidden: [{ site: 'tokyo' }] },
    want: { nodes: ['sg-1'] },
  },
  {
    name: 'forbidden nodes leave too few: refused, counting the excluded nodes',
    policy: { replicas: [{ selector: { region: 'asia' }, count: 2 }], forbidden: [{ site: 'tokyo' }] },
    want: { refused: /3 node\(s\) match its selector, 2 excluded by sovereignty/ },
  },
  {
    name: 'unhealthy and full nodes are rejected; placement moves to the rest',
    policy: { replicas: [{ selector: { region: 'asia' }, count: 2 }] },
    nodes: [
      node('tokyo-1', { region: 'asia' }, { health: 'degraded' }),
      node('tokyo-2', { region: 'asia' }, { freeBytes: GiB }),
      node('sg-1', { region: 'asia' }),
      node('sg-2', { region: 'asia' }),
    ],
    size: 10 * GiB,
    want: { nodes: ['sg-1', 'sg-2'] },
  },
  {
    name: 'no two replicas on one node: two replicas with one matching node is refused',
    policy: { replicas: [{ selector: { site: 'paris' }, count: 2 }] },
    want: { refused: /replicas\[0\] \(site=paris: 2\): 1 node\(s\) match/ },
  },
  {
    name: 'prefers free space, then node id',
    policy: { replicas: [{ selector: {}, count: 2 }] },
    nodes: [
      node('b', {}, { freeBytes: 5 * GiB }),
      node('a', {}, { freeBytes: 5 * GiB }),
      node('c', {}, { freeBytes: 9 * GiB }),
    ],
    size: GiB,
    want: { nodes: ['c', 'a'] },
  },
];

for (const row of table) {
  test(`place: ${row.name}`, () => {
    const result = place(row.policy, row.nodes ?? fleet, row.size ?? GiB);
    if ('nodes' in row.want) {
      assert.ok(result.ok, result.ok ? '' : result.reason);
      assert.deepEqual(
        result.replicas.map((r) => r.nodeId),
        row.want.nodes,
      );
    } else {
      assert.ok(!result.ok, 'expected refusal');
      assert.match(result.reason, row.want.refused);
    }
  });
}

test('place: deterministic regardless of input order', () => {
  const policy: VolumePolicy = {
    replicas: [
      { selector: { region: 'us' }, count: 2 },
      { selector: { region: 'asia' }, count: 1 },
    ],
  };
  const a = place(policy, fleet, GiB);
  const b = place(policy, [...fleet].reverse(), GiB);
  assert.deepEqual(a, b);
});

test('place: explains every node', () => {
  const result = place(
    { replicas: [{ selector: { region: 'eu' }, count: 1 }], forbidden: [{ provider: 'onprem' }] },
    fleet,
    GiB,
  );
  assert.ok(result.ok);
  const byNode = new Map(result.explanation.map((v) => [v.nodeId, v]));
  assert.equal(byNode.get('frankfurt-1')?.verdict, 'chosen');
  assert.match(byNode.get('paris-1')?.reason ?? '', /forbidden\[0\] \(provider=onprem\)/);
  assert.equal(byNode.get('tokyo-1')?.reason, 'matches no replica rule');
  assert.equal(result.explanation.length, fleet.length);
});

test('place: sovereignty property — no chosen node ever matches a forbidden selector', () => {
  const selectors: Record<string, string>[] = [
    { region: 'asia' },
    { region: 'us' },
    { region: 'eu' },
    { provider: 'aws' },
    { site: 'onprem-dc1' },
    {},
  ];
  for (const forbidden of selectors) {
    for (const rule of selectors) {
      for (let count = 1; count <= 4; count++) {
        const r = place({ replicas: [{ selector: rule, count }], forbidden: [forbidden] }, fleet, GiB);
        if (!r.ok) continue;
        for (const { nodeId } of r.replicas) {
          const labels = fleet.find((n) => n.nodeId === nodeId)?.labels ?? {};
          assert.ok(
            !Object.entries(forbidden).every(([k, v]) => labels[k] === v),
            `${nodeId} violates ${JSON.stringify(forbidden)}`,
          );
        }
      }
    }
  }
});
