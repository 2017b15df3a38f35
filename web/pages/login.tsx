/** Sign-in: the admin password (POST /admin/login) or GitHub (GET /auth/github, back at /admin?token=…). */
import { useState } from 'preact/hooks';
import { api, setSessionToken } from '../api';
import { ErrorBox, Show, errorText, useLoad } from '../components';

export function LoginPage({ onLogin }: { onLogin: () => void }) {
  const methods = useLoad(() => api.get<{ password: boolean; github: boolean }>('/auth/methods'));
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const passwordLogin = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const { token } = await api.post<{ token: string }>('/admin/login', { password });
      setSessionToken(token);
      setPassword('');
      onLogin();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  const githubLogin = async () => {
    setError(null);
    try {
      const { auth_url } = await api.get<{ auth_url: string }>('/auth/github');
      window.location.assign(auth_url);
    } catch (err) {
      setError(errorText(err));
    }
  };

  return (
    <section class="login">
      <h1>Sign in</h1>
      <Show loaded={methods}>
        {(m) => (
          <>
            {m.password && (
              <form onSubmit={(e) => void passwordLogin(e)}>
                <label>
                  Admin password
                  <input
                    name="password"
                    type="password"
                    autocomplete="current-password"
                    value={password}
                    onInput={(e) => setPassword((e.currentTarget as HTMLInputElement).value)}
                  />
                </label>
                <button type="submit" name="login" disabled={busy}>
                  Sign in
                </button>
              </form>
            )}
            {m.github && (
              <p>
                <button type="button" name="github-login" onClick={() => void githubLogin()}>
                  Sign in with GitHub
                </button>
              </p>
            )}
            {!m.password && !m.github && <p class="error">No login method is configured on this control plane.</p>}
          </>
        )}
      </Show>
      <ErrorBox error={error} />
    </section>
  );
}
