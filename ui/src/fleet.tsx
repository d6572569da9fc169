// Fleet: one tile per region (a region grid), its clusters inside with provider, health,
// Kubernetes version and capacity bars (requested of allocatable, from Cluster.status).
import type { Capacity, ClusterView } from '../../src/dashboard/wire.ts';
import { age, bytes, cores, count } from './format.ts';
import type { Model } from './model.ts';

function Bar(props: { label: string; c: Capacity | null; fmt: (n: number) => string }) {
  const { c } = props;
  const pct = c === null || c.allocatable <= 0 ? 0 : Math.min(100, (100 * c.allocated) / c.allocatable);
  return (
    <div class="bar" data-testid={`capacity-${props.label.toLowerCase()}`}>
      <span class="bar-label">{props.label}</span>
      <span class="bar-track">
        <span class={`bar-fill ${pct > 85 ? 'hot' : ''}`} style={{ width: `${pct}%` }} />
      </span>
      <span class="bar-value">
        {c === null ? '—' : `${props.fmt(c.allocated)} / ${props.fmt(c.allocatable)}`}
      </span>
    </div>
  );
}

function health(c: ClusterView): { cls: string; text: string } {
  if (c.ready === 'True') return { cls: 'ok', text: 'Ready' };
  if (c.ready === 'False') return { cls: 'bad', text: 'NotReady' };
  return { cls: 'unknown', text: 'Unknown' };
}

function ClusterCard(props: { c: ClusterView; placed: number }) {
  const { c } = props;
  const h = health(c);
  return (
    <article class="cluster" data-testid="cluster-card" data-cluster={c.name}>
      <header>
        <h3 data-testid="cluster-name">{c.name}</h3>
        <span class={`pill ${h.cls}`} data-testid="cluster-health" title={c.readyMessage}>
          {h.text}
        </span>
      </header>
      <dl class="facts">
        <dt>provider</dt>
        <dd data-testid="cluster-provider">{c.provider || '—'}</dd>
        <dt>zone</dt>
        <dd>{c.zone || '—'}</dd>
        <dt>version</dt>
        <dd data-testid="cluster-version">{c.kubernetesVersion || '—'}</dd>
        <dt>nodes</dt>
        <dd>{c.nodes ? `${c.nodes.ready}/${c.nodes.total} ready` : '—'}</dd>
        <dt>mode</dt>
        <dd>{c.syncMode}</dd>
        <dt>workloads</dt>
        <dd data-testid="cluster-placed">{props.placed}</dd>
      </dl>
      <Bar label="CPU" c={c.cpu} fmt={cores} />
      <Bar label="Memory" c={c.memory} fmt={bytes} />
      <Bar label="Pods" c={c.pods} fmt={count} />
      {c.taints.length > 0 && (
        <ul class="taints">
          {c.taints.map((t) => (
            <li key={`${t.key}:${t.effect}`}>
              {t.key}
              {t.value ? `=${t.value}` : ''}:{t.effect}
            </li>
          ))}
        </ul>
      )}
      <footer class="muted">heartbeat {age(c.lastHeartbeatTime) || '—'}</footer>
    </article>
  );
}

export function FleetView(props: { model: Model }) {
  const { model } = props;
  const clusters = [...model.clusters.values()];
  const placed = new Map<string, number>();
  for (const b of model.bindings.values())
    for (const p of b.placements)
      if (p.scheduled !== null) placed.set(p.cluster, (placed.get(p.cluster) ?? 0) + 1);
  const regions = new Map<string, ClusterView[]>();
  for (const c of clusters) {
    const r = c.region || '(no region)';
    regions.set(r, [...(regions.get(r) ?? []), c]);
  }
  const ready = clusters.filter((c) => c.ready === 'True').length;
  return (
    <section>
      <h2>
        Fleet{' '}
        <span
          class="muted"
          data-testid="fleet-summary"
        >{`${clusters.length} clusters, ${ready} ready, ${regions.size} regions`}</span>
      </h2>
      {clusters.length === 0 && (
        <p class="muted">No member clusters have joined the hub yet (meridian join).</p>
      )}
      <div class="regions">
        {[...regions.entries()]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([region, members]) => (
            <section class="region" data-testid="region" data-region={region} key={region}>
              <h3 class="region-name">
                {region}
                <span class="providers">
                  {[...new Set(members.map((m) => m.provider || 'unknown'))].sort().map((p) => (
                    <span class="badge" key={p}>
                      {p}
                    </span>
                  ))}
                </span>
              </h3>
              {members
                .sort((a, b) => a.name.localeCompare(b.name))
                .map((c) => (
                  <ClusterCard c={c} placed={placed.get(c.name) ?? 0} key={c.name} />
                ))}
            </section>
          ))}
      </div>
    </section>
  );
}
