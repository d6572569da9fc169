// The shell: token handling, the live connection, and which view the URL hash names
// (#/fleet, #/workloads, #/workloads/<binding key>). The token lives in sessionStorage:
// gone when the tab closes, never sent anywhere but this dashboard's API.
import { useEffect, useState } from 'preact/hooks';
import { BindingDetail } from './detail.tsx';
import { FleetView } from './fleet.tsx';
import { connect, type LiveStatus } from './live.ts';
import { Login } from './login.tsx';
import { applyChange, fromSnapshot, type Model } from './model.ts';
import { WorkloadsView } from './workloads.tsx';

const TOKEN_KEY = 'meridian.dashboard.token';

type Route = { view: 'fleet' } | { view: 'workloads' } | { view: 'binding'; key: string };

function parseRoute(hash: string): Route {
  const m = /^#\/workloads\/(.+)$/.exec(hash);
  if (m) return { view: 'binding', key: decodeURIComponent(m[1] as string) };
  return hash.startsWith('#/workloads') ? { view: 'workloads' } : { view: 'fleet' };
}

export function App() {
  const [token, setToken] = useState<string | null>(() => sessionStorage.getItem(TOKEN_KEY));
  const [refusal, setRefusal] = useState<string>('');
  const [model, setModel] = useState<Model | null>(null);
  const [status, setStatus] = useState<LiveStatus>('connecting');
  const [route, setRoute] = useState<Route>(() => parseRoute(location.hash));

  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);

  useEffect(() => {
    if (token === null) return;
    return connect(token, {
      snapshot: (s) => setModel(fromSnapshot(s)),
      change: (c) => setModel((m) => (m === null ? m : applyChange(m, c))),
      status: setStatus,
      refused: (code, message) => {
        sessionStorage.removeItem(TOKEN_KEY);
        setToken(null);
        setModel(null);
        setRefusal(`${code === 401 ? 'Not signed in' : 'Not allowed'}: ${message}`);
      },
    });
  }, [token]);

  if (token === null) {
    return (
      <Login
        error={refusal}
        onToken={(t) => {
          sessionStorage.setItem(TOKEN_KEY, t);
          setRefusal('');
          setToken(t);
        }}
      />
    );
  }

  const signOut = () => {
    sessionStorage.removeItem(TOKEN_KEY);
    setModel(null);
    setToken(null);
  };
  const tab = route.view === 'fleet' ? 'fleet' : 'workloads';
  return (
    <div class="shell">
      <header class="top">
        <span class="brand">Meridian</span>
        <nav>
          <a href="#/fleet" class={tab === 'fleet' ? 'active' : ''} data-testid="tab-fleet">
            Fleet
          </a>
          <a href="#/workloads" class={tab === 'workloads' ? 'active' : ''} data-testid="tab-workloads">
            Workloads
          </a>
        </nav>
        <span
          class={`live ${status}`}
          data-testid="live-status"
          title="updates pushed from the hub's watches"
        >
          {status === 'live' ? 'live' : status === 'connecting' ? 'connecting…' : 'reconnecting…'}
        </span>
        {model && (
          <span class="user" data-testid="user">
            {model.user}
          </span>
        )}
        <button class="link" onClick={signOut}>
          sign out
        </button>
      </header>
      <main>
        {model === null ? (
          <p class="muted">Loading the fleet…</p>
        ) : route.view === 'fleet' ? (
          <FleetView model={model} />
        ) : route.view === 'workloads' ? (
          <WorkloadsView model={model} />
        ) : (
          <BindingDetail model={model} bindingKey={route.key} />
        )}
      </main>
    </div>
  );
}
