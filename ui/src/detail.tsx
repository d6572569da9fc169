// One binding: where its object went and why — the scheduler's decision per cluster, the
// binding's conditions, what each member reports, the overrides applied to each cluster's
// copy, conflicts, graceful evictions and Meridian's warning events (drift reverted, …).
import type { Condition } from '../../src/dashboard/wire.ts';
import { age } from './format.ts';
import { eventsOf, worksOf, type Model } from './model.ts';
import { bindingHealth, healthClass } from './workloads.tsx';

function Conditions(props: { list: readonly Condition[] }) {
  if (props.list.length === 0) return <p class="muted">none</p>;
  return (
    <table class="plain">
      <tbody>
        {props.list.map((c) => (
          <tr key={c.type}>
            <td>{c.type}</td>
            <td>
              <span class={`pill ${c.status === 'True' ? 'ok' : c.status === 'False' ? 'bad' : 'unknown'}`}>
                {c.status}
              </span>
            </td>
            <td>{c.reason ?? ''}</td>
            <td class="muted">{c.message ?? ''}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function BindingDetail(props: { model: Model; bindingKey: string }) {
  const { model } = props;
  const b = model.bindings.get(props.bindingKey);
  if (b === undefined) {
    return (
      <section>
        <p>
          <a href="#/workloads">← Workloads</a>
        </p>
        <p class="muted">No binding {props.bindingKey} (it may have been deleted).</p>
      </section>
    );
  }
  const r = b.resource;
  const works = worksOf(model, b);
  const events = eventsOf(model, b);
  const conflicts = works.flatMap((w) =>
    w.manifests
      .filter((m) => m.applied === false && m.message !== '')
      .map((m) => ({ cluster: w.cluster, m })),
  );
  return (
    <section class="detail" data-testid="binding-detail">
      <p>
        <a href="#/workloads">← Workloads</a>
      </p>
      <h2>
        <span class="kind">{r.kind}</span> {r.namespace ? `${r.namespace}/` : ''}
        {r.name} <span class={`pill ${healthClass(bindingHealth(b))}`}>{bindingHealth(b)}</span>
      </h2>
      <p class="muted">
        {b.kind} {b.namespace ? `${b.namespace}/` : ''}
        {b.name} · policy {b.policy || '—'} · replicas {b.replicas ?? '—'} · scheduled{' '}
        {age(b.lastScheduledTime) || '—'}
      </p>

      <h3>Scheduler decisions</h3>
      <table class="plain" data-testid="decisions">
        <thead>
          <tr>
            <th>cluster</th>
            <th>outcome</th>
            <th>score</th>
            <th>replicas</th>
            <th>reasons</th>
          </tr>
        </thead>
        <tbody>
          {b.decisions.map((d) => (
            <tr key={d.clusterName} data-testid="decision" data-cluster={d.clusterName}>
              <td>{d.clusterName}</td>
              <td>
                <span
                  class={`pill ${d.outcome === 'Selected' ? 'ok' : d.outcome === 'Filtered' ? 'bad' : 'unknown'}`}
                  data-testid="outcome"
                >
                  {d.outcome}
                </span>
              </td>
              <td>{d.score ?? ''}</td>
              <td>{d.replicas ?? ''}</td>
              <td class="muted">{d.reasons.join('; ')}</td>
            </tr>
          ))}
        </tbody>
      </table>

      <h3>Placement</h3>
      <table class="plain">
        <thead>
          <tr>
            <th>cluster</th>
            <th>scheduled</th>
            <th>ready</th>
            <th>applied</th>
            <th>health</th>
            <th>message</th>
          </tr>
        </thead>
        <tbody>
          {b.placements.map((p) => (
            <tr key={p.cluster}>
              <td>{p.cluster}</td>
              <td>{p.scheduled ?? '—'}</td>
              <td>{p.readyReplicas ?? '—'}</td>
              <td>{p.applied === null ? '—' : p.applied ? 'yes' : 'no'}</td>
              <td>
                <span class={`pill ${healthClass(p.health)}`}>{p.health}</span>
              </td>
              <td class="muted">{p.appliedMessage}</td>
            </tr>
          ))}
        </tbody>
      </table>

      <h3>Overrides applied</h3>
      <div data-testid="overrides">
        {works.every((w) => w.manifests.every((m) => m.overrides.length === 0)) ? (
          <p class="muted">none: every cluster got the template as it is</p>
        ) : (
          <table class="plain">
            <tbody>
              {works.flatMap((w) =>
                w.manifests
                  .filter((m) => m.overrides.length > 0)
                  .map((m) => (
                    <tr key={`${w.key}/${m.kind}/${m.name}`} data-testid="override" data-cluster={w.cluster}>
                      <td>{w.cluster}</td>
                      <td>
                        {m.kind}/{m.name}
                      </td>
                      <td>
                        <code>
                          {m.overrides.map((o) => (typeof o === 'string' ? o : JSON.stringify(o))).join(', ')}
                        </code>
                      </td>
                    </tr>
                  )),
              )}
            </tbody>
          </table>
        )}
      </div>

      <h3>Conflicts</h3>
      {conflicts.length === 0 ? (
        <p class="muted">none</p>
      ) : (
        <ul data-testid="conflicts">
          {conflicts.map(({ cluster, m }) => (
            <li key={`${cluster}/${m.kind}/${m.name}`}>
              <b>{cluster}</b> {m.kind}/{m.name}: {m.message}
            </li>
          ))}
        </ul>
      )}

      {b.evictions.length > 0 && (
        <>
          <h3>Graceful evictions</h3>
          <ul>
            {b.evictions.map((e) => (
              <li key={e.fromCluster}>
                <b>{e.fromCluster}</b>: {e.reason} {e.message}
              </li>
            ))}
          </ul>
        </>
      )}

      <h3>Drift and other warnings</h3>
      {events.length === 0 ? (
        <p class="muted">none</p>
      ) : (
        <table class="plain" data-testid="events">
          <tbody>
            {events.map((e) => (
              <tr key={e.key}>
                <td>{age(e.time)}</td>
                <td>{e.reason}</td>
                <td>
                  {e.regarding.kind}/{e.regarding.name}
                </td>
                <td>{e.count > 1 ? `×${e.count}` : ''}</td>
                <td class="muted">{e.note}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h3>Binding conditions</h3>
      <Conditions list={b.conditions} />
      {works.map((w) => (
        <div key={w.key}>
          <h3>Work in {w.cluster}</h3>
          <Conditions list={w.conditions} />
        </div>
      ))}
    </section>
  );
}
