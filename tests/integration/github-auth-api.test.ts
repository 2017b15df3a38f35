/** GitHub OAuth login against the fake GitHub, and what a non-admin GitHub session may do (api.md §3, §7). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyConsoleToken } from '../../core/auth/console-token';
import { seal } from '../../core/auth/seal';
import { startFakeGithub, type FakeGithub } from '../fakes/github';
import { seedAgent, seedAgentSecret, seedDeployment } from '../helpers/seed';
import { http, startStack, type Stack } from '../helpers/stack';

describe('GitHub OAuth login and owner-scoped routes', () => {
  let stack: Stack;
  let gh: FakeGithub;
  let api: ReturnType<typeof http>;

  beforeAll(async () => {
    gh = await startFakeGithub();
    stack = await startStack({
      env: {
        GITHUB_OAUTH_CLIENT_ID: gh.clientId,
        GITHUB_OAUTH_CLIENT_SECRET: gh.clientSecret,
        GITHUB_OAUTH_REDIRECT_URI: gh.redirectUri,
        GITHUB_OAUTH_BASE_URL: gh.url,
        GITHUB_API_URL: gh.url,
        ADMIN_GITHUB_LOGINS: 'the-admin',
      },
    });
    api = http(stack.url);
  });
  afterAll(async () => {
    await stack?.close();
    await gh?.close();
  });

  /** The browser's binding cookie from the last /auth/github (the callback must carry it). */
  let cookie = '';
  async function start(): Promise<string> {
    const res = await api.get('/auth/github');
    expect(res.status).toBe(200);
    const setCookie = res.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/^ee_oauth_binding=[A-Za-z0-9_-]{22};/);
    expect(setCookie.toLowerCase()).toContain('httponly');
    cookie = setCookie.split(';')[0]!;
    const url = new URL(res.body.auth_url);
    expect(`${url.origin}${url.pathname}`).toBe(`${gh.url}/login/oauth/authorize`);
    expect(url.searchParams.get('state')).toBe(res.body.state);
    expect(url.searchParams.get('client_id')).toBe(gh.clientId);
    return res.body.state as string;
  }

  const callback = (code: string, state: string, withCookie = cookie) =>
    fetch(`${stack.url}/auth/github/callback?code=${encodeURIComponent(code)}&state=${encodeURIComponent(state)}`, {
      redirect: 'manual',
      headers: withCookie ? { cookie: withCookie } : {},
    });

  async function login(login: string, orgs: string[] = []): Promise<string> {
    const code = gh.addUser({ login, orgs, email: `${login}@example.com` });
    const res = await callback(code, await start());
    expect(res.status).toBe(302);
    const location = res.headers.get('location')!;
    expect(location).toMatch(/^\/admin\?token=/);
    return decodeURIComponent(location.slice('/admin?token='.length));
  }

  it('refuses a forged, tampered or replayed state', async () => {
    const code = gh.addUser({ login: 'mallory' });
    // Not state-shaped at all: the schema refuses it (422); state-shaped but forged/tampered: 403.
    expect((await callback(code, 'made-up')).status).toBe(422);
    const tampered = `${(await start()).slice(0, -2)}xx`;
    const res = await callback(code, tampered);
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ detail: 'Invalid or expired state token' });
    const state = await start();
    expect((await callback(code, state)).status).toBe(302);
    const replay = await callback(gh.issueCode('mallory'), state);
    expect(replay.status).toBe(403);
    expect(await replay.json()).toEqual({ detail: 'Invalid or expired state token' });
    // A bad code with a good state fails at GitHub.
    const bad = await callback('not-a-code', await start());
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ detail: 'GitHub authentication failed' });
  });

  it('refuses a state started in another browser (login CSRF): the binding cookie must match', async () => {
    // The attacker starts a flow in their own browser and sends the victim the callback URL with their code + state.
    const attackerState = await start();
    const attackerCookie = cookie;
    const attackerCode = gh.addUser({ login: 'attacker' });
    await start(); // the victim's browser has its own, different binding cookie
    const sessionsBefore = (await stack.db('admin_sessions').count({ n: '*' }))[0]!.n;
    for (const victimCookie of [cookie, '']) {
      const res = await callback(attackerCode, attackerState, victimCookie);
      expect(res.status).toBe(403);
      expect(await res.json()).toEqual({ detail: 'Invalid or expired state token' });
    }
    expect((await stack.db('admin_sessions').count({ n: '*' }))[0]!.n).toBe(sessionsBefore);
    // The same state with the browser that started it still works (it was not consumed by the refusals).
    expect((await callback(attackerCode, attackerState, attackerCookie)).status).toBe(302);
  });

  it('an admin login gets admin rights', async () => {
    const token = await login('the-admin');
    const me = await api.get('/auth/me', { token });
    expect(me.body).toMatchObject({ auth_method: 'github_oauth', is_admin: true, github_login: 'the-admin' });
    expect((await api.get('/api/v1/accounts', { token })).status).toBe(200);
  });

  it('a non-admin login gets owner-scoped access only', async () => {
    const mine = await seedAgent(stack.db, { github_owner: 'octocat' });
    const orgs = await seedAgent(stack.db, { github_owner: 'Octo-Org' });
    const theirs = await seedAgent(stack.db, { github_owner: 'someone-else' });
    const unowned = await seedAgent(stack.db, { github_owner: null });
    const secret = await seedAgentSecret(stack.db, mine.agent_id);
    await stack
      .db('agent_control_credentials')
      .where({ agent_id: mine.agent_id })
      .update({ api_secret_sealed: seal(stack.deps.sealingKey, secret).sealed });
    const d1 = await seedDeployment(stack.db, { agent_id: mine.agent_id });
    await seedDeployment(stack.db, { agent_id: theirs.agent_id });

    const token = await login('octocat', ['octo-org']);
    const me = await api.get('/auth/me', { token });
    expect(me.body).toMatchObject({ is_admin: false, github_login: 'octocat', github_orgs: ['octo-org'] });

    // admin routes refuse it
    expect((await api.get('/api/v1/accounts', { token })).status).toBe(403);
    expect((await api.get('/api/v1/admin/settings', { token })).status).toBe(403);
    expect((await api.post(`/api/v1/agents/${mine.agent_id}/undeploy`, { token })).status).toBe(403);

    const list = await api.get('/api/v1/me/agents', { token });
    expect(list.status).toBe(200);
    expect(list.body.agents.map((a: { agent_id: string }) => a.agent_id).sort()).toEqual(
      [mine.agent_id, orgs.agent_id].sort(),
    );
    expect(list.text).not.toMatch(/tunnel_token|intel_ta_token/);
    expect((await api.get(`/api/v1/me/agents/${mine.agent_id}`, { token })).status).toBe(200);
    for (const id of [theirs.agent_id, unowned.agent_id]) {
      const r = await api.get(`/api/v1/me/agents/${id}`, { token });
      expect(r).toMatchObject({ status: 403, body: { detail: 'Not authorized for this agent' } });
      expect((await api.post(`/api/v1/me/agents/${id}/reset`, { token })).status).toBe(403);
      expect((await api.post(`/api/v1/me/agents/${id}/console-access`, { token })).status).toBe(403);
    }
    expect((await api.get('/api/v1/me/agents/missing', { token })).status).toBe(404);

    const deps = await api.get('/api/v1/me/deployments', { token });
    expect(deps.body.deployments.map((d: { deployment_id: string }) => d.deployment_id)).toEqual([d1.deployment_id]);

    await stack.db('agents').where({ agent_id: mine.agent_id }).update({ status: 'error', current_deployment_id: 'x' });
    const reset = await api.post(`/api/v1/me/agents/${mine.agent_id}/reset`, { token });
    expect(reset.body).toEqual({ status: 'reset', agent_id: mine.agent_id, tunnel_created: false });
    expect(await stack.db('agents').where({ agent_id: mine.agent_id }).first()).toMatchObject({
      status: 'undeployed',
      current_deployment_id: null,
    });

    const ca = await api.post(`/api/v1/me/agents/${mine.agent_id}/console-access?ttl_seconds=1200`, { token });
    expect(ca.status, ca.text).toBe(200);
    expect(ca.body).toMatchObject({ agent_id: mine.agent_id, auth_mode: 'cp_relay' });
    expect(ca.body.console_url).toBe(`https://${ca.body.hostname}/admin?token=${encodeURIComponent(ca.body.token)}`);
    const payload = verifyConsoleToken(ca.body.token, secret, Date.now());
    expect(payload).toMatchObject({ agent_id: mine.agent_id, github_login: 'octocat', is_admin: false });
    expect((payload!.exp as number) - (payload!.iat as number)).toBe(1200);
    expect(
      (await api.post(`/api/v1/me/agents/${mine.agent_id}/console-access?ttl_seconds=899`, { token })).status,
    ).toBe(422);
    expect((await api.post(`/api/v1/me/agents/${orgs.agent_id}/console-access`, { token })).status).toBe(409);

    const anon = await api.get('/api/v1/me/agents');
    expect(anon.status).toBe(401);
  });
});
