// Asks for a hub token when there is none or the hub refused the last one.
import { useState } from 'preact/hooks';

export function Login(props: { error: string; onToken: (token: string) => void }) {
  const [value, setValue] = useState('');
  return (
    <div class="login" data-testid="login">
      <h1>Meridian fleet dashboard</h1>
      <p>
        Sign in with a token the hub accepts. For the demo's read-only viewer:
        <br />
        <code>
          kubectl --kubeconfig &lt;hub kubeconfig&gt; create token -n meridian-system
          meridian-dashboard-viewer
        </code>
      </p>
      {props.error && (
        <p class="error" data-testid="login-error" role="alert">
          {props.error}
        </p>
      )}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          const t = value.trim();
          if (t !== '') props.onToken(t);
        }}
      >
        <label>
          Bearer token
          <textarea
            name="token"
            rows={4}
            autocomplete="off"
            spellcheck={false}
            value={value}
            onInput={(e) => setValue((e.target as HTMLTextAreaElement).value)}
            data-testid="token-input"
          />
        </label>
        <button type="submit" data-testid="sign-in">
          Sign in
        </button>
      </form>
      <p class="muted">The token is kept in this tab's session storage only.</p>
    </div>
  );
}
