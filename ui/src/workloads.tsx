// Workloads: every propagated object (one ResourceBinding each) with its replicas per
// cluster — ready of scheduled — and health; a row opens the binding's details.
import type { BindingView, Placement } from '../../src/dashboard/wire.ts';
import type { Model } from './model.ts';

export function healthClass(h: string): string {
  return h === 'Healthy' ? 'ok' : h === 'Unhealthy' ? 'bad' : 'unknown';
}

export function bindingHealth(b: BindingView): string {
  const placed = b.placements.filter((p) => p.scheduled !== null);
  if (placed.length === 0) return 'Unknown';
  if (placed.some((p) => p.health === 'Unhealthy' || p.applied === false)) return 'Unhealthy';
  return placed.every((p) => p.health === 'Healthy') ? 'Healthy' : 'Unknown';
}

/** Ready/scheduled replicas for workloads; for objects without replicas, whether it is applied. */
function Cell(props: { p: Placement | undefined; cluster: string; replicated: boolean }) {
  const { p } = props;
  if (p === undefined || p.scheduled === null) return <td class="muted">—</td>;
  const replicas = !props.replicated
    ? p.applied === true
      ? 'applied'
      : p.applied === false
        ? 'not applied'
        : 'pending'
    : p.readyReplicas === null
      ? `${p.scheduled}`
      : `${p.readyReplicas}/${p.scheduled}`;
  return (
    <td data-testid="placement" data-cluster={props.cluster} title={p.appliedMessage}>
      <span class={`dot ${healthClass(p.health)}`} />
      <span data-testid="replicas">{replicas}</span>
    </td>
  );
}

export function WorkloadsView(props: { model: Model }) {
  const { model } = props;
  const clusters = [...model.clusters.keys()].sort();
  const bindings = [...model.bindings.values()].sort((a, b) => a.key.localeCompare(b.key));
  return (
    <section>
      <h2>
        Workloads <span class="muted">{`${bindings.length} propagated objects`}</span>
      </h2>
      {bindings.length === 0 ? (
        <p class="muted">Nothing is propagated yet: apply a resource and a PropagationPolicy to the hub.</p>
      ) : (
        <table class="workloads">
          <thead>
            <tr>
              <th>object</th>
              <th>policy</th>
              <th>replicas</th>
              <th>health</th>
              {clusters.map((c) => (
                <th key={c}>{c}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {bindings.map((b) => {
              const r = b.resource;
              const h = bindingHealth(b);
              const ready = b.placements.reduce(
                (n, p) => n + (p.scheduled === null ? 0 : (p.readyReplicas ?? 0)),
                0,
              );
              return (
                <tr
                  key={b.key}
                  data-testid="workload"
                  data-object={`${r.kind}/${r.namespace ? `${r.namespace}/` : ''}${r.name}`}
                  class="clickable"
                  onClick={() => (location.hash = `#/workloads/${encodeURIComponent(b.key)}`)}
                >
                  <td>
                    <a href={`#/workloads/${encodeURIComponent(b.key)}`}>
                      <span class="kind">{r.kind}</span> {r.namespace ? `${r.namespace}/` : ''}
                      {r.name}
                    </a>
                  </td>
                  <td class="muted">{b.policy || '—'}</td>
                  <td data-testid="total-replicas">{b.replicas === null ? '—' : `${ready}/${b.replicas}`}</td>
                  <td>
                    <span class={`pill ${healthClass(h)}`} data-testid="workload-health">
                      {h}
                    </span>
                  </td>
                  {clusters.map((c) => (
                    <Cell
                      key={c}
                      cluster={c}
                      replicated={b.replicas !== null}
                      p={b.placements.find((p) => p.cluster === c)}
                    />
                  ))}
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}
