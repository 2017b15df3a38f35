/**
 * Trust issue, ownership and tenant isolation: each attack is performed over HTTP against the real stack (Temporal,
 * worker, Koa, SQLite) with the fake GitHub and a fake agent fleet, and shown refused with nothing changed.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { seal } from '../../core/auth/seal';
import { startFakeAgent, type FakeAgentServer } from '../fakes/agent';
import { startFakeGithub, type FakeGithub } from '../fakes/github';
import { seedAgent, seedAgentSecret } from '../helpers/seed';
import { adminLogin, http, startStack, type Stack } from '../helpers/stack';

const COMPOSE = 'services:\n  web:\n    image: nginx:1.27\n';

describe('trust: identity proofs, ownership and tenant isolation', () => {
  let stack: Stack;
  let gh: FakeGithub;
  let agents: FakeAgentServer;
  let admin: string;
  let api: ReturnType<typeof http>;

  beforeAll(async () => {
    gh = await startFakeGithub();
    agents = await startFakeAgent();
    stack = await startStack({
      env: {
        GITHUB_OIDC_JWKS_URL: gh.jwksUrl,
        GITHUB_OAUTH_CLIENT_ID: gh.clientId,
        GITHUB_OAUTH_CLIENT_SECRET: gh.clientSecret,
        GITHUB_OAUTH_REDIRECT_URI: gh.redirectUri,
        GITHUB_OAUTH_BASE_URL: gh.url,
        GITHUB_API_URL: gh.url,
        AGENT_DIRECT_URL: agents.directUrlTemplate,
        DEPLOY_CALLBACK_TIMEOUT_SECONDS: '10',
      },
    });
    api = http(stack.url);
    admin = await adminLogin(stack.url);
  });
  afterAll(async () => {
    await stack?.close();
    await agents?.close();
    await gh?.close();
  });
  beforeEach(() => agents.reset());

  const row = (t: string, where: Record<string, unknown>) => stack.db(t).where(where).first();
  const count = async (t: string) => Number((await stack.db(t).count({ n: '*' }).first())?.n ?? 0);

  async function waitFor<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
    const until = Date.now() + ms;
    for (;;) {
      const v = await fn();
      if (ok(v) || Date.now() > until) return v;
      await new Promise((r) => setTimeout(r, 150));
    }
  }

  /** A funded deployer account (admin deposit). */
  async function deployer(name: string, usd = 50): Promise<{ account_id: string; api_key: string }> {
    const r = await api.post('/api/v1/accounts', { json: { name, account_type: 'deployer' } });
    expect(r.status, r.text).toBe(200);
    const d = await api.post(`/api/v1/accounts/${r.body.account_id}/deposit`, { token: admin, json: { amount: usd } });
    expect(d.status, d.text).toBe(200);
    return { account_id: r.body.account_id, api_key: r.body.api_key };
  }

  /** A verified agent whose fake answers deploys and calls back; returns its id and control secret. */
  async function agent(over: Record<string, unknown> = {}): Promise<{ agent_id: string; secret: string }> {
    const a = await seedAgent(stack.db, over);
    const secret = await seedAgentSecret(stack.db, a.agent_id);
    await stack
      .db('agent_control_credentials')
      .where({ agent_id: a.agent_id })
      .update({ api_secret_sealed: seal(stack.deps.sealingKey, secret).sealed });
    agents.agent(a.agent_id, { secret, callback: { cpUrl: stack.url, delayMs: 100 } });
    return { agent_id: a.agent_id, secret };
  }

  async function runningDeployment(token: string, json: Record<string, unknown>): Promise<string> {
    const r = await api.post('/api/v1/deploy', { token, json: { compose: COMPOSE, ...json } });
    expect(r.status, r.text).toBe(202);
    const id = r.body.deployment_id as string;
    const d = await waitFor(
      () => row('deployments', { deployment_id: id }),
      (x) => x.status === 'running',
    );
    expect(d.status).toBe('running');
    return id;
  }

  /** A GitHub login session through the real OAuth flow (binding cookie included). */
  async function githubSession(login: string, orgs: string[] = []): Promise<string> {
    const start = await api.get('/auth/github');
    const cookie = (start.headers.get('set-cookie') ?? '').split(';')[0]!;
    const code = gh.addUser({ login, orgs });
    const cb = await fetch(
      `${stack.url}/auth/github/callback?code=${encodeURIComponent(code)}&state=${encodeURIComponent(start.body.state)}`,
      { redirect: 'manual', headers: { cookie } },
    );
    expect(cb.status).toBe(302);
    return decodeURIComponent(cb.headers.get('location')!.slice('/admin?token='.length));
  }

  describe('1. identity links must be proven', () => {
    it('refuses a bare github_login / github_org (422) and changes nothing', async () => {
      const me = await deployer('typist');
      for (const json of [{ github_org: 'victim-org' }, { github_login: 'victim' }, {}]) {
        const r = await api.post(`/api/v1/accounts/${me.account_id}/identity`, { token: me.api_key, json });
        expect(r.status, JSON.stringify(json)).toBe(422);
        expect(r.body.detail).toMatch(/A proof is required/);
      }
      // a name next to a valid proof is refused too: nothing is taken on trust
      const token = await gh.signOidcToken({ repository: 'typist-org/app', repository_owner: 'typist-org' });
      const mixed = await api.post(`/api/v1/accounts/${me.account_id}/identity`, {
        token: me.api_key,
        json: { github_oidc_token: token, github_org: 'victim-org' },
      });
      expect(mixed.status).toBe(422);
      expect(await row('accounts', { account_id: me.account_id })).toMatchObject({
        github_login: null,
        github_org: null,
        linked_at: null,
      });
    });

    it('a stranger cannot link a victim’s org (forged/foreign tokens are 401) nor deploy onto its agent', async () => {
      const victimAgent = await agent({ github_owner: 'victim-org' });
      const stranger = await deployer('stranger');
      const forged = await gh.signOidcToken(
        { repository: 'victim-org/app', repository_owner: 'victim-org' },
        { key: 'unpublished' },
      );
      const unsigned = gh.unsignedToken({ repository: 'victim-org/app', repository_owner: 'victim-org' });
      for (const t of [forged, unsigned]) {
        const r = await api.post(`/api/v1/accounts/${stranger.account_id}/identity`, {
          token: stranger.api_key,
          json: { github_oidc_token: t },
        });
        expect(r.status).toBe(401);
        expect(r.body.detail).toMatch(/Invalid GitHub OIDC token/);
      }
      // a real token of the stranger's own org links that org only
      const own = await gh.signOidcToken({ repository: 'stranger-org/app', repository_owner: 'stranger-org' });
      const linked = await api.post(`/api/v1/accounts/${stranger.account_id}/identity`, {
        token: stranger.api_key,
        json: { github_oidc_token: own },
      });
      expect(linked.status, linked.text).toBe(200);
      expect(linked.body).toMatchObject({ github_org: 'stranger-org', github_login: null });

      const before = await count('deployments');
      const r = await api.post('/api/v1/deploy', {
        token: stranger.api_key,
        json: { compose: COMPOSE, app_name: 'steal', agent_id: victimAgent.agent_id },
      });
      expect(r.status).toBe(403);
      expect(r.body.detail).toBe('Not authorized for this agent');
      expect(await count('deployments')).toBe(before);
      expect(await row('agents', { agent_id: victimAgent.agent_id })).toMatchObject({
        status: 'undeployed',
        current_deployment_id: null,
      });
    });

    it('a GitHub login session proves the login (and its orgs); a password session proves nothing', async () => {
      const me = await deployer('octo-linker');
      const session = await githubSession('octo-linker', ['octo-team']);
      const r = await api.post(`/api/v1/accounts/${me.account_id}/identity`, {
        token: me.api_key,
        json: { github_session_token: session },
      });
      expect(r.status, r.text).toBe(200);
      expect(r.body).toMatchObject({ github_login: 'octo-linker' });
      const stored = await row('accounts', { account_id: me.account_id });
      expect(stored).toMatchObject({ github_login: 'octo-linker', github_login_proof: 'github_session' });
      expect(JSON.parse(stored.github_orgs)).toEqual(['octo-team']);

      const other = await deployer('password-linker');
      for (const t of [admin, 'not-a-session-token']) {
        const bad = await api.post(`/api/v1/accounts/${other.account_id}/identity`, {
          token: other.api_key,
          json: { github_session_token: t },
        });
        expect(bad.status).toBe(401);
        expect(bad.body.detail).toMatch(/Invalid GitHub session token/);
      }
      expect((await row('accounts', { account_id: other.account_id })).github_login).toBeNull();
    });
  });

  it('2. an upgrade onto a running app is allowed only for its own deployer (403 for a stranger)', async () => {
    const a = await agent({ github_owner: null });
    const victim = await deployer('upgrade-victim');
    const stranger = await deployer('upgrade-stranger');
    const id = await runningDeployment(victim.api_key, { app_name: 'shop' });
    const pushesBefore = agents.requests.filter((r) => r.path === '/api/deploy').length;

    const r = await api.post('/api/v1/deploy', {
      token: stranger.api_key,
      json: { compose: COMPOSE, app_name: 'shop', agent_id: a.agent_id },
    });
    expect(r.status).toBe(403);
    expect(r.body.detail).toMatch(/only its own deployer may upgrade it/);
    expect(await row('deployments', { deployment_id: id })).toMatchObject({ status: 'running' });
    expect(await row('agents', { agent_id: a.agent_id })).toMatchObject({
      status: 'deployed',
      current_deployment_id: id,
    });
    expect(agents.requests.filter((x) => x.path === '/api/deploy')).toHaveLength(pushesBefore);
    expect(await stack.db('deployments').where({ account_id: stranger.account_id })).toHaveLength(0);

    // its own deployer may upgrade
    const up = await api.post('/api/v1/deploy', {
      token: victim.api_key,
      json: { compose: COMPOSE, app_name: 'shop', agent_id: a.agent_id, dry_run: true },
    });
    expect(up.body).toMatchObject({ eligible: true, selected_agent_id: a.agent_id });
  });

  it('3. agent logs and stats need the owner, the current deployer or an admin', async () => {
    const a = await agent({ github_owner: 'logs-owner' });
    const tenant = await deployer('logs-tenant');
    const free = await agent({ github_owner: null });
    await runningDeployment(tenant.api_key, { app_name: 'logged', agent_id: free.agent_id });
    const stranger = await deployer('logs-stranger');
    const ownerSession = await githubSession('logs-owner');

    for (const what of ['logs', 'stats']) {
      const anon = await api.get(`/api/v1/agents/${a.agent_id}/${what}`);
      expect(anon.status).toBe(401);
      const foreign = await api.get(`/api/v1/agents/${free.agent_id}/${what}`, { token: stranger.api_key });
      expect(foreign).toMatchObject({ status: 403, body: { detail: 'Not authorized for this agent' } });
      const notOwner = await api.get(`/api/v1/agents/${a.agent_id}/${what}`, { token: tenant.api_key });
      expect(notOwner.status).toBe(403);
      expect((await api.get(`/api/v1/agents/${a.agent_id}/${what}`, { token: ownerSession })).status).toBe(200);
      expect((await api.get(`/api/v1/agents/${free.agent_id}/${what}`, { token: tenant.api_key })).status).toBe(200);
      expect((await api.get(`/api/v1/agents/${a.agent_id}/${what}`, { token: admin })).status).toBe(200);
    }
    // the refused calls never reached an agent
    const pulls = agents.requests.filter((r) => r.path === '/api/logs' || r.path === '/api/stats');
    expect(pulls).toHaveLength(6);
  });

  it('4. public deployment listings show no compose or config except to the deployment’s parties', async () => {
    await agent({ github_owner: null });
    const owner = await deployer('listing-owner');
    const other = await deployer('listing-other');
    const id = await runningDeployment(owner.api_key, { app_name: 'private', config: { secret_hint: 'x' } });

    const anon = await api.get(`/api/v1/deployments/${id}`);
    expect(anon.status).toBe(200);
    expect(anon.body).toMatchObject({ deployment_id: id, status: 'running', compose: null, config: null });
    const list = await api.get('/api/v1/deployments');
    const listed = list.body.deployments.find((d: { deployment_id: string }) => d.deployment_id === id);
    expect(listed).toMatchObject({ compose: null, config: null });
    expect(list.text).not.toContain(Buffer.from(COMPOSE.trim()).toString('base64'));
    expect((await api.get(`/api/v1/deployments/${id}`, { token: other.api_key })).body.compose).toBeNull();

    for (const token of [owner.api_key, admin]) {
      const seen = await api.get(`/api/v1/deployments/${id}`, { token });
      expect(seen.body.compose).toBe(Buffer.from(COMPOSE.trim()).toString('base64'));
      expect(seen.body.config).toMatchObject({ secret_hint: 'x' });
    }
    // a bad credential is refused, not treated as anonymous
    expect((await api.get(`/api/v1/deployments/${id}`, { token: 'ee_live_nope' })).status).toBe(401);
  });

  it('5. an agent cannot report on another agent’s deployment', async () => {
    await agent({ github_owner: null });
    const owner = await deployer('callback-owner');
    const id = await runningDeployment(owner.api_key, { app_name: 'victim-app' });
    const rogue = await agent({ github_owner: null, status: 'undeployed' });
    const before = await row('deployments', { deployment_id: id });

    const status = await api.post(`/api/v1/agents/${rogue.agent_id}/status`, {
      token: rogue.secret,
      json: { status: 'error', deployment_id: id, error: 'sabotage' },
    });
    expect(status.status).toBe(200);
    const deployed = await api.post(`/api/v1/agents/${rogue.agent_id}/deployed`, {
      token: rogue.secret,
      json: { deployment_id: id, service_id: 'evil', attestation: {} },
    });
    expect(deployed.status).toBe(200);
    const after = await row('deployments', { deployment_id: id });
    expect(after).toEqual(before);
    expect((await row('agents', { agent_id: rogue.agent_id })).current_deployment_id).toBeNull();
  });

  it('8. no free deployments: below the smallest billable unit is 422; the push carries the paid-for limits', async () => {
    const a = await agent({ github_owner: null });
    const me = await deployer('frugal');
    const before = await count('deployments');
    for (const json of [{ cpu_vcpus: 0.5 }, { memory_gb: 0.25 }, { cpu_vcpus: 0.0001, memory_gb: 0.0001 }]) {
      const r = await api.post('/api/v1/deploy', { token: me.api_key, json: { compose: COMPOSE, ...json } });
      expect(r.status, JSON.stringify(json)).toBe(422);
      expect(JSON.stringify(r.body.detail)).toMatch(/smallest billable unit/);
    }
    expect(await count('deployments')).toBe(before);

    const id = await runningDeployment(me.api_key, {
      app_name: 'sized',
      agent_id: a.agent_id,
      cpu_vcpus: 3,
      memory_gb: 6,
      gpu_count: 0,
    });
    const push = agents.requests.find((r) => r.agentId === a.agent_id && r.path === '/api/deploy')!;
    expect(JSON.parse(push.body).resources).toEqual({ cpu_vcpus: 3, memory_gb: 6, gpu_count: 0 });
    expect(await row('deployments', { deployment_id: id })).toMatchObject({ cpu_vcpus: 3, memory_gb: 6 });
  });
});
