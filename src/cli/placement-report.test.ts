import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatPlacement, formatTable, placementRows } from './placement-report.ts';

const clusters = ['us-east', 'eu-west', 'onprem-dc1'];

test('rows show ready/desired where replicas were placed, applied/pending for others, - elsewhere', () => {
  const rows = placementRows(
    [
      {
        spec: {
          resource: { kind: 'Service', name: 'web' },
          clusters: [{ name: 'us-east' }, { name: 'eu-west' }],
        },
        status: { aggregatedStatus: [{ clusterName: 'us-east', applied: true }] },
      },
      {
        spec: {
          resource: { kind: 'Deployment', name: 'web' },
          clusters: [
            { name: 'us-east', replicas: 4 },
            { name: 'eu-west', replicas: 2 },
          ],
        },
        status: {
          aggregatedStatus: [
            { clusterName: 'us-east', applied: true, status: { readyReplicas: 3 } },
            { clusterName: 'eu-west', applied: true, status: { readyReplicas: 2 } },
          ],
        },
      },
    ],
    [{ kind: 'Deployment', metadata: { name: 'web' }, spec: { replicas: 6 }, status: { readyReplicas: 5 } }],
    clusters,
  );
  assert.deepEqual(rows, [
    {
      object: 'Deployment/web',
      cells: { 'us-east': '3/4', 'eu-west': '2/2', 'onprem-dc1': '-' },
      hub: '5/6',
    },
    {
      object: 'Service/web',
      cells: { 'us-east': 'applied', 'eu-west': 'pending', 'onprem-dc1': '-' },
      hub: '',
    },
  ]);
  assert.equal(
    formatPlacement(rows, clusters),
    [
      'OBJECT          US-EAST  EU-WEST  ONPREM-DC1  HUB (READY)',
      'Deployment/web  3/4      2/2      -           5/6',
      'Service/web     applied  pending  -           -',
    ].join('\n'),
  );
});

test('formatTable pads every column but the last, two spaces apart, and fills short rows', () => {
  assert.equal(
    formatTable(
      ['NAME', 'READY', 'MESSAGE'],
      [
        ['us-east', 'True', 'ok'],
        ['onprem-dc1', 'False'],
      ],
    ),
    ['NAME        READY  MESSAGE', 'us-east     True   ok', 'onprem-dc1  False'].join('\n'),
  );
});
