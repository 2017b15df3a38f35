/**
 * The dashboard for a tenant signed in with GitHub (the fake GitHub's authorize page redirects back with a code, as
 * github.com does): only their own agents and deployments, no admin pages, and another owner's agent stays hidden
 * even when its id is typed into the address.
 */
import { randomUUID } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeGithub, type FakeGithub } from '../fakes/github';
import { launchBrowser, watchedPage, type WatchedPage } from '../helpers/browser';
import { seedAgent, seedDeployment } from '../helpers/seed';
import { adminLogin, http, startStack, type Stack } from '../helpers/stack';

describe('dashboard as a GitHub tenant', () => {
  let stack: Stack;
  let gh: FakeGithub;
  let browser: Browser;
  let w: WatchedPage;
  let page: Page;
  const mine = { agent: randomUUID(), deployment: randomUUID() };
  const theirs = { agent: randomUUID(), deployment: randomUUID() };

  beforeAll(async () => {
    stack = await startStack({ env: { ADMIN_GITHUB_LOGINS: 'the-admin' } });
    gh = await startFakeGithub({ redirectUri: `${stack.url}/auth/github/callback` });
    const token = await adminLogin(stack.url);
    for (const [key, value] of Object.entries({
      'github_oauth.client_id': gh.clientId,
      'github_oauth.client_secret': gh.clientSecret,
      'github_oauth.redirect_uri': gh.redirectUri,
      'github_oauth.base_url': gh.url,
      'github_oauth.api_url': gh.url,
    })) {
      const res = await http(stack.url).put(`/api/v1/admin/settings/${key}`, { token, json: { value } });
      expect(res.status, res.text).toBe(200);
    }
    await seedAgent(stack.db, {
      agent_id: mine.agent,
      vm_name: 'vm-mine',
      github_owner: 'octo-org',
      status: 'deployed',
      current_deployment_id: mine.deployment,
    });
    await seedAgent(stack.db, {
      agent_id: theirs.agent,
      vm_name: 'vm-theirs',
      hostname: 'secret-host.example.com',
      github_owner: 'globex',
      status: 'deployed',
      current_deployment_id: theirs.deployment,
    });
    await seedDeployment(stack.db, { deployment_id: mine.deployment, agent_id: mine.agent, app_name: 'mine-app' });
    await seedDeployment(stack.db, { deployment_id: theirs.deployment, agent_id: theirs.agent, app_name: 'their-app' });
    gh.addUser({ login: 'octocat', orgs: ['octo-org'] });
    gh.signInAs('octocat');

    browser = await launchBrowser();
    w = await watchedPage(browser, 'tenant');
    page = w.page;
  });
  afterEach(() => w.assertClean());
  afterAll(async () => {
    await w?.close();
    await browser?.close();
    await stack?.close();
    await gh?.close();
  });

  it('signs in with GitHub; the token leaves the address bar', async () => {
    await page.goto(`${stack.url}/admin`);
    await page.locator('button[name=github-login]').click();
    await page.locator('h1', { hasText: 'Agents' }).waitFor();
    const url = new URL(page.url());
    expect(url.pathname).toBe('/admin');
    expect(url.search).toBe('');
    const token = await w.storedToken();
    const me = await http(stack.url).get('/auth/me', { token: token! });
    expect(me.body).toMatchObject({ auth_method: 'github_oauth', is_admin: false, github_login: 'octocat' });
    // Only the tenant pages are offered.
    expect(await page.locator('header nav a').allTextContents()).toEqual(['My agents', 'My deployments']);
  });

  it('sees only their own agents and deployments', async () => {
    await page.locator(`tr[data-agent="${mine.agent}"]`).waitFor();
    expect(await page.locator('tr[data-agent]').count()).toBe(1);
    expect(await page.content()).not.toContain('vm-theirs');
    await w.screenshot('agents');
    await page.locator('header nav a', { hasText: 'My deployments' }).click();
    await page.locator(`tr[data-deployment="${mine.deployment}"]`).waitFor();
    expect(await page.locator('tr[data-deployment]').count()).toBe(1);
    expect(await page.content()).not.toContain('their-app');
    await w.screenshot('deployments');
  });

  it('opens their own agent with its attestation chain', async () => {
    await page.goto(`${stack.url}/admin#/agents/${mine.agent}`);
    await page.locator('tr[data-register="mrtd"]').waitFor();
    expect(await page.locator('h1').textContent()).toContain('vm-mine');
    // No admin actions for a tenant.
    expect(await page.locator('button[name=delete-agent], button[name=set-owner]').count()).toBe(0);
    await w.screenshot('agent');
  });

  it('attack: another owner’s agent id in the address shows the refusal and nothing of the agent', async () => {
    w.expectHttpError(`/api/v1/me/agents/${theirs.agent}`, 403);
    await page.goto(`${stack.url}/admin#/agents/${theirs.agent}`);
    await page.locator('p.error', { hasText: 'Not authorized for this agent' }).waitFor();
    const html = await page.content();
    expect(html).not.toContain('vm-theirs');
    expect(html).not.toContain('secret-host.example.com');
    expect(await page.locator('tr[data-register]').count()).toBe(0);
    await w.screenshot('forbidden-agent');
    // The baseline endpoint the page uses is owner-or-admin too.
    const token = (await w.storedToken())!;
    const baseline = await http(stack.url).get(`/api/v1/me/agents/${theirs.agent}/baseline`, { token });
    expect(baseline).toMatchObject({ status: 403, body: { detail: 'Not authorized for this agent' } });
    // Admin pages are not rendered for a tenant (and their API refuses the session).
    await page.goto(`${stack.url}/admin#/settings`);
    await page.locator('p.error', { hasText: 'No page settings for this session.' }).waitFor();
    expect((await http(stack.url).get('/api/v1/admin/settings', { token })).status).toBe(403);
  });

  it('sign-out ends the GitHub session', async () => {
    const token = (await w.storedToken())!;
    await page.locator('button[name=logout]').click();
    await page.locator('button[name=github-login]').waitFor();
    expect((await http(stack.url).get('/auth/me', { token })).status).toBe(401);
    await w.screenshot('signed-out');
  });
});
