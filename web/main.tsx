/**
 * The dashboard: `/` is the public page, `/admin` the signed-in app with hash routes (#/agents, #/agents/<id>, …).
 * Admins see every page; a GitHub tenant only their agents and deployments. Everything it shows comes from the
 * public API with the session's bearer token (web/api.ts).
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, sessionToken, setSessionToken } from './api';
import { ErrorBox, UiContext, errorText, type Session } from './components';
import type { TemporalUi } from './links';
import { AccountPage, AccountsPage } from './pages/accounts';
import { AgentPage } from './pages/agent';
import { AgentsPage } from './pages/agents';
import { AppsPage } from './pages/apps';
import { CapacityPage } from './pages/capacity';
import { CleanupPage } from './pages/cleanup';
import { CloudflarePage } from './pages/cloudflare';
import { DeploymentsPage } from './pages/deployments';
import { HomePage } from './pages/home';
import { LoginPage } from './pages/login';
import { MrtdsPage } from './pages/mrtds';
import { SettingsPage } from './pages/settings';
import './styles.css';

const ADMIN_NAV: [string, string][] = [
  ['agents', 'Agents'],
  ['deployments', 'Deployments'],
  ['apps', 'Apps'],
  ['accounts', 'Accounts'],
  ['settings', 'Settings'],
  ['mrtds', 'Trusted MRTDs'],
  ['capacity', 'Capacity'],
  ['cloudflare', 'Cloudflare'],
  ['cleanup', 'Clean-up'],
];
const TENANT_NAV: [string, string][] = [
  ['agents', 'My agents'],
  ['deployments', 'My deployments'],
];

/** The OAuth callback lands on /admin?token=…: keep the token for this tab and drop it from the address. */
function takeTokenFromUrl(): void {
  const url = new URL(window.location.href);
  const token = url.searchParams.get('token');
  if (token === null) return;
  setSessionToken(token);
  url.searchParams.delete('token');
  window.history.replaceState(null, '', `${url.pathname}${url.search}${url.hash}`);
}

function useHash(): string[] {
  const read = () => window.location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const [parts, setParts] = useState(read);
  useEffect(() => {
    const on = () => setParts(read());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return parts;
}

function Page({ parts, session }: { parts: string[]; session: Session }) {
  const [page = 'agents', id] = parts;
  const allowed = (session.is_admin ? ADMIN_NAV : TENANT_NAV).some(([k]) => k === page);
  if (!allowed) return <ErrorBox error={`No page ${page} for this session.`} />;
  switch (page) {
    case 'agents':
      return id ? <AgentPage agentId={id} /> : <AgentsPage />;
    case 'deployments':
      return <DeploymentsPage />;
    case 'apps':
      return <AppsPage />;
    case 'accounts':
      return id ? <AccountPage accountId={id} /> : <AccountsPage />;
    case 'settings':
      return <SettingsPage />;
    case 'mrtds':
      return <MrtdsPage />;
    case 'capacity':
      return <CapacityPage />;
    case 'cloudflare':
      return <CloudflarePage />;
    case 'cleanup':
      return <CleanupPage />;
    default:
      return null;
  }
}

type State =
  | { kind: 'loading' }
  | { kind: 'signed-out'; error: string | null }
  | { kind: 'signed-in'; session: Session; temporal: TemporalUi | null };

function Dashboard() {
  const parts = useHash();
  const [state, setState] = useState<State>({ kind: 'loading' });
  const [tick, setTick] = useState(0);

  useEffect(() => {
    if (!sessionToken()) {
      setState({ kind: 'signed-out', error: null });
      return;
    }
    Promise.all([api.get<Session>('/auth/me'), api.get<TemporalUi>('/api/v1/dashboard/config')]).then(
      ([session, temporal]) => setState({ kind: 'signed-in', session, temporal }),
      (err: unknown) => {
        setSessionToken(null);
        setState({ kind: 'signed-out', error: errorText(err) });
      },
    );
  }, [tick]);

  const logout = async () => {
    try {
      await api.post('/admin/logout');
    } finally {
      setSessionToken(null);
      window.location.hash = '';
      setState({ kind: 'signed-out', error: null });
    }
  };

  if (state.kind === 'loading') return <p class="loading">Loading…</p>;
  if (state.kind === 'signed-out') {
    return (
      <main>
        <ErrorBox error={state.error} />
        <LoginPage onLogin={() => setTick((t) => t + 1)} />
      </main>
    );
  }
  const nav = state.session.is_admin ? ADMIN_NAV : TENANT_NAV;
  const current = parts[0] ?? 'agents';
  return (
    <UiContext.Provider value={{ session: state.session, temporal: state.temporal }}>
      <header>
        <a class="brand" href="/">
          easyenclave
        </a>
        <nav>
          {nav.map(([k, label]) => (
            <a key={k} href={`#/${k}`} class={k === current ? 'current' : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <span class="who">
          {state.session.github_login ?? 'admin'}
          {state.session.is_admin ? ' (admin)' : ''}
        </span>
        <button type="button" name="logout" onClick={() => void logout()}>
          Sign out
        </button>
      </header>
      <main>
        <Page parts={parts} session={state.session} />
      </main>
    </UiContext.Provider>
  );
}

function Root() {
  if (window.location.pathname === '/admin') return <Dashboard />;
  return (
    <main>
      <HomePage />
    </main>
  );
}

takeTokenFromUrl();
render(<Root />, document.getElementById('app')!);
