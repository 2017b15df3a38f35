/**
 * The dashboard in a real browser against the real stack (Temporal, worker, Koa, SQLite) and the fake Cloudflare as
 * an admin: sign-in, every page with the data seeded below, each admin action and its result (the clean-up's plan
 * and what it deleted, checked in the fake), failed actions showing the API's detail, sign-out ending the session.
 * Any console or page error fails the test (tests/helpers/browser.ts).
 */
import { randomUUID } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { appendLedgerEntry } from '../../core/stores/ledger';
import pkg from '../../package.json';
import { startFakeCloudflare, type FakeCloudflare, type FakeDnsRecord, type FakeTunnel } from '../fakes/cloudflare';
import { launchBrowser, watchedPage, type WatchedPage } from '../helpers/browser';
import { seedAccount, seedAgent, seedDeployment } from '../helpers/seed';
import { ADMIN_PASSWORD, adminLogin, http, startStack, type Stack } from '../helpers/stack';

const TRUSTED_MRTD = 'b'.repeat(96);
const BASELINE = { rtmr0: '0'.repeat(96), rtmr1: '1'.repeat(96), rtmr2: '2'.repeat(96), rtmr3: '3'.repeat(96) };
const DRIFTED_RTMR1 = `${'1'.repeat(90)}abcdef`;
const TEMPORAL_UI = 'http://temporal-ui.example:8233';
const SECRET = 'sk_test_supersecretvalue123456';
const SIGNER = 'https://github.com/octo-org/hello/.github/workflows/release.yml@refs/tags/v1.0.0';
const DIGEST = `sha256:${'d'.repeat(64)}`;

describe('dashboard as an admin', () => {
  let stack: Stack;
  let browser: Browser;
  let w: WatchedPage;
  let page: Page;
  let cf: FakeCloudflare;
  /** agentA's tunnel and CNAME: a live agent's, which no clean-up may touch. */
  let liveTunnel: FakeTunnel;
  let liveDns: FakeDnsRecord;
  const ids = {
    agentA: randomUUID(),
    agentB: randomUUID(),
    deployment: randomUUID(),
    deployer: randomUUID(),
    operator: randomUUID(),
    order: randomUUID(),
  };

  const text = async (selector: string) => {
    const l = page.locator(selector).first();
    await l.waitFor();
    return (await l.textContent()) ?? '';
  };
  const nav = async (label: string, heading: string) => {
    await page.locator('header nav a', { hasText: label }).click();
    await page.locator('h1', { hasText: heading }).waitFor();
  };

  beforeAll(async () => {
    cf = await startFakeCloudflare();
    stack = await startStack({
      env: {
        CLOUDFLARE_ACCOUNT_ID: cf.accountId,
        CLOUDFLARE_ZONE_ID: cf.zoneId,
        CLOUDFLARE_API_TOKEN: cf.apiToken,
        CLOUDFLARE_API_URL: cf.url,
        EASYENCLAVE_DOMAIN: cf.zoneName,
        TEMPORAL_UI_URL: TEMPORAL_UI,
        TRUSTED_AGENT_MRTDS: TRUSTED_MRTD,
        TRUSTED_AGENT_RTMRS: JSON.stringify(BASELINE),
      },
    });
    const db = stack.db;
    liveTunnel = cf.seedTunnel({ name: `agent-${ids.agentA}` });
    liveDns = cf.seedDnsRecord({
      name: `agent-${ids.agentA}.${cf.zoneName}`,
      content: `${liveTunnel.id}.cfargotunnel.com`,
    });
    await seedAgent(db, {
      agent_id: ids.agentA,
      vm_name: 'vm-alpha',
      tunnel_id: liveTunnel.id,
      hostname: liveDns.name,
      mrtd: TRUSTED_MRTD,
      rtmrs: JSON.stringify({ ...BASELINE, rtmr1: DRIFTED_RTMR1 }),
      github_owner: 'octocat',
      status: 'deployed',
      current_deployment_id: ids.deployment,
    });
    await seedAgent(db, { agent_id: ids.agentB, vm_name: 'vm-bravo', mrtd: 'c'.repeat(96), github_owner: 'globex' });
    await seedAccount(db, { account_id: ids.deployer, name: 'acme-deployer' });
    await seedAccount(db, { account_id: ids.operator, name: 'alpha-operator', account_type: 'agent' });
    await seedDeployment(db, {
      deployment_id: ids.deployment,
      agent_id: ids.agentA,
      app_name: 'hello',
      app_version: '1.0.0',
      account_id: ids.deployer,
      total_charged: 1_500_000,
    });
    await appendLedgerEntry(db, { accountId: ids.deployer, amount: 100_000_000, txType: 'deposit' });
    await appendLedgerEntry(db, {
      accountId: ids.deployer,
      amount: -1_500_000,
      txType: 'charge',
      referenceId: ids.deployment,
      description: 'Deployment usage (1.00 hours)',
    });
    await appendLedgerEntry(db, { accountId: ids.operator, amount: 1_000_000, txType: 'earning' });
    const now = new Date().toISOString();
    await db('apps').insert({ app_id: randomUUID(), name: 'hello', description: 'Greets', created_at: now });
    await db('app_versions').insert({
      version_id: randomUUID(),
      app_name: 'hello',
      version: '1.0.0',
      compose: Buffer.from('services:\n  web:\n    image: ghcr.io/octo-org/hello:1.0.0\n').toString('base64'),
      status: 'published',
      published_at: now,
      attestation: JSON.stringify({
        signature_mode: 'strict',
        resolved_images: {
          web: {
            original: 'ghcr.io/octo-org/hello:1.0.0',
            digest: DIGEST,
            signature_verified: true,
            signed_by: SIGNER,
          },
        },
      }),
    });
    await db('capacity_launch_orders').insert({
      order_id: ids.order,
      datacenter: 'gcp:us-central1-a',
      node_size: 'tiny',
      status: 'open',
      reason: 'test-order',
      requested_count: 1,
      created_at: now,
      updated_at: now,
    });
    const token = await adminLogin(stack.url);
    const put = await http(stack.url).put('/api/v1/admin/settings/stripe.secret_key', {
      token,
      json: { value: SECRET },
    });
    expect(put.status, put.text).toBe(200);

    browser = await launchBrowser();
    w = await watchedPage(browser, 'admin');
    page = w.page;
  });
  afterEach(() => w.assertClean());
  afterAll(async () => {
    await w?.close();
    await browser?.close();
    await stack?.close();
    await cf?.close();
  });

  it('serves the app with a strict CSP, no-cache HTML and immutable hashed assets', async () => {
    const res = await fetch(`${stack.url}/admin`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    const html = await res.text();
    expect(html).not.toMatch(/<script>|<style>| style=/);
    const asset = /src="(\/assets\/app-[A-Z0-9]{8}\.js)"/.exec(html)![1]!;
    const js = await fetch(`${stack.url}${asset}`);
    expect(js.status).toBe(200);
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(js.headers.get('content-type')).toMatch(/^application\/javascript/);
    // Nothing but built asset names is reachable under /assets.
    for (const probe of ['/assets/..%2Findex.html', '/assets/app.js', '/assets/%2E%2E%2F%2E%2E%2Fpackage.json']) {
      expect((await fetch(`${stack.url}${probe}`)).status).toBe(404);
    }
    // v1 clients asking `/` for JSON still get the discovery answer.
    const v1 = await http(stack.url).get('/', { headers: { accept: 'application/json' } });
    expect(v1.body).toEqual({ message: 'EasyEnclave Discovery Service', docs: '/docs' });
  });

  it('the public page renders health and links to the dashboard', async () => {
    await page.goto(`${stack.url}/`);
    expect(await text('.home h1')).toBe('easyenclave');
    await page.locator('.home .facts dd', { hasText: pkg.version }).waitFor();
    expect(await text('.home')).toContain('1 trusted MRTD baseline(s)');
    await w.screenshot('home');
  });

  it('refuses a wrong password with the API’s detail, then signs in', async () => {
    await page.goto(`${stack.url}/admin`);
    await page.locator('input[name=password]').fill('wrong password');
    w.expectHttpError('/admin/login', 401);
    await page.locator('button[name=login]').click();
    expect(await text('.login .error')).toBe('Invalid password');
    await w.screenshot('login-failed');
    await page.locator('input[name=password]').fill(ADMIN_PASSWORD);
    await page.locator('button[name=login]').click();
    await page.locator('h1', { hasText: 'Agents' }).waitFor();
    expect(await w.localStorageSize()).toBe(0);
    expect(await w.storedToken()).toMatch(/.{20,}/);
  });

  it('agents: every agent with status, verification, owner and its workflow link', async () => {
    const alpha = page.locator(`tr[data-agent="${ids.agentA}"]`);
    await alpha.waitFor();
    expect(await alpha.textContent()).toContain('vm-alpha');
    expect(await alpha.textContent()).toContain('octocat');
    expect(await alpha.textContent()).toContain('deployed');
    expect(await page.locator(`tr[data-agent="${ids.agentB}"]`).textContent()).toContain('globex');
    expect(await alpha.locator('a.workflow').getAttribute('href')).toBe(
      `${TEMPORAL_UI}/namespaces/default/workflows/${encodeURIComponent(`agent:${ids.agentA}`)}`,
    );
    await w.screenshot('agents');
  });

  it('agent: the attestation chain beside the trusted baseline, the differing RTMR highlighted; owner change', async () => {
    await page.locator(`tr[data-agent="${ids.agentA}"] a`, { hasText: 'vm-alpha' }).click();
    const rtmr1 = page.locator('tr[data-register="rtmr1"]');
    await rtmr1.waitFor();
    expect(await rtmr1.getAttribute('class')).toBe('mismatch');
    expect(await rtmr1.locator('mark.differs').textContent()).toBe('abcdef');
    expect(await rtmr1.textContent()).toContain('differs');
    expect(await page.locator('tr[data-register="mrtd"]').textContent()).toContain('match');
    expect(await page.locator('tr[data-register="rtmr0"] mark').count()).toBe(0);
    expect(await text('.facts')).toContain('agent'); // MRTD trust type
    await w.screenshot('agent');

    await page.locator('input[name=github_owner]').fill('new-owner');
    await page.locator('button[name=set-owner]').click();
    expect(await text('.actions .result')).toBe('Owner set to new-owner');
    await page.locator('dd.owner', { hasText: 'new-owner' }).waitFor();
    expect((await stack.db('agents').where({ agent_id: ids.agentA }).first()).github_owner).toBe('new-owner');
  });

  it('deployments: state, agent and cost so far', async () => {
    await nav('Deployments', 'Deployments');
    const row = page.locator(`tr[data-deployment="${ids.deployment}"]`);
    await row.waitFor();
    expect(await row.locator('td.cost').textContent()).toBe('$1.50');
    expect(await row.textContent()).toContain('hello@1.0.0');
    expect(await row.textContent()).toContain('running');
    expect(await row.locator(`a[href="#/agents/${ids.agentA}"]`).count()).toBe(1);
    expect(await row.locator('a.workflow').getAttribute('href')).toContain(
      encodeURIComponent(`deployment:${ids.deployment}`),
    );
    await w.screenshot('deployments');
  });

  it('apps: each version’s measurement per image with digest, signature and signer', async () => {
    await nav('Apps', 'Apps and versions');
    const version = page.locator('[data-app="hello"] [data-version="1.0.0"]');
    await version.locator('td.signer').waitFor();
    expect(await version.locator('td.signer').textContent()).toBe(SIGNER);
    expect(await version.textContent()).toContain('verified');
    expect(await version.locator('td.mono').getAttribute('title')).toBe(DIGEST);
    expect(await version.locator('a.workflow').getAttribute('href')).toContain(
      encodeURIComponent('measure:hello:1.0.0'),
    );
    await w.screenshot('apps');
  });

  it('accounts: balances and a 30-day chart of charges and earnings; credit works, a bad amount shows the detail', async () => {
    await nav('Accounts', 'Accounts and ledger');
    await page.locator(`tr[data-account="${ids.deployer}"]`).waitFor();
    expect(await page.locator(`tr[data-account="${ids.deployer}"] td.balance`).textContent()).toBe('$98.50');
    expect(await page.locator('.chart g[data-day]').count()).toBe(30);
    const today = new Date().toISOString().slice(0, 10);
    const bar = (cls: string) => page.locator(`.chart g[data-day="${today}"] rect.${cls}`);
    expect(Number(await bar('charges').getAttribute('height'))).toBeGreaterThan(0);
    expect(await bar('charges').locator('title').textContent()).toBe(`${today} charges $1.50`);
    expect(await bar('earnings').locator('title').textContent()).toBe(`${today} earnings $1.00`);
    await w.screenshot('accounts');

    await page.locator(`tr[data-account="${ids.deployer}"] a`).click();
    await page.locator('h1', { hasText: 'Account acme-deployer' }).waitFor();
    await page.locator('td', { hasText: 'Deployment usage (1.00 hours)' }).waitFor();
    await page.locator('input[name=amount]').fill('not a number');
    w.expectHttpError(`/api/v1/accounts/${ids.deployer}/deposit`, 422);
    await page.locator('button[name=deposit]').click();
    expect(await text('form .error')).toMatch(/^body\.amount: /);
    await page.locator('input[name=amount]').fill('25');
    await page.locator('button[name=deposit]').click();
    expect(await text('form .result')).toBe('Credited $25.00; balance $123.50');
    await page.locator('strong.balance', { hasText: '$123.50' }).waitFor();
    await w.screenshot('account');
  });

  it('settings: grouped, secrets masked, a bad value shows the detail, a good one is saved', async () => {
    await nav('Settings', 'Settings');
    const secret = page.locator('tr[data-setting="stripe.secret_key"]');
    await secret.waitFor();
    expect(await secret.locator('td.value').textContent()).toBe('sk_t****3456');
    expect(await page.content()).not.toContain('supersecret');
    expect(await page.locator('details.group[data-group="operational"]').count()).toBe(1);
    expect(await page.locator('tr[data-setting="operational.temporal_ui_url"] td.value').textContent()).toBe(
      TEMPORAL_UI,
    );

    const row = () => page.locator('tr[data-setting="operational.agent_stale_hours"]');
    await row().locator('input[name=value]').fill('two days');
    w.expectHttpError('/api/v1/admin/settings/operational.agent_stale_hours', 422);
    await row().locator('button[name=save]').click();
    expect(await row().locator('.error').textContent()).toBe('operational.agent_stale_hours must be a number');
    await w.screenshot('settings-refused');
    await row().locator('input[name=value]').fill('48');
    await row().locator('button[name=save]').click();
    await row().locator('.badge-db').waitFor();
    expect(await row().locator('td.value').textContent()).toBe('48');
    await w.screenshot('settings');
    await row().locator('button[name=reset]').click();
    await row().locator('.badge-default').waitFor();
    expect(await row().locator('td.value').textContent()).toBe('24');
  });

  it('trusted MRTDs: a malformed one shows the detail; add and remove', async () => {
    await nav('Trusted MRTDs', 'Trusted MRTDs');
    await page.locator('td', { hasText: TRUSTED_MRTD }).waitFor(); // from the environment
    await page.locator('input[name=mrtd]').fill('abc');
    w.expectHttpError('/api/v1/admin/trusted-mrtds', 422);
    await page.locator('button[name=add-mrtd]').click();
    expect(await text('form .error')).toBe('body.mrtd: mrtd must be a 96-character hex string');
    const mrtd = 'e'.repeat(96);
    await page.locator('input[name=mrtd]').fill(mrtd);
    await page.locator('input[name=note]').fill('image v2');
    await page.locator('button[name=add-mrtd]').click();
    expect(await text('form .result')).toBe(`Trusted ${mrtd.slice(0, 16)}…`);
    const row = page.locator(`tr[data-mrtd="${mrtd}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain('image v2');
    await w.screenshot('mrtds');
    await row.locator('button[name=remove-mrtd]').click();
    await row.waitFor({ state: 'detached' });
    expect(await stack.db('trusted_mrtds').where({ mrtd }).first()).toBeUndefined();
  });

  it('capacity: targets (refused, saved, reconciled, deleted) and launch orders with their workflows', async () => {
    await nav('Capacity', 'Capacity');
    const order = page.locator(`tr[data-order="${ids.order}"]`);
    await order.waitFor();
    expect(await order.textContent()).toContain('open');
    expect(await order.locator('a.workflow').getAttribute('href')).toContain(
      encodeURIComponent(`launch-order:${ids.order}`),
    );
    await page.locator('input[name=datacenter]').fill('not a datacenter');
    w.expectHttpError('/api/v1/admin/agents/capacity/targets', 422);
    await page.locator('button[name=save-target]').click();
    expect(await text('form .error')).toBe(
      "body.datacenter: Invalid datacenter. Expected '<cloud>:<zone>' (for example gcp:us-central1-a)",
    );
    await page.locator('input[name=datacenter]').fill('gcp:us-central1-a');
    await page.locator('input[name=node_size]').fill('tiny');
    await page.locator('input[name=min_warm_count]').fill('3');
    await page.locator('button[name=save-target]').click();
    expect(await text('form .result')).toBe('Target gcp:us-central1-a/tiny: shortfall 3');
    const target = page.locator('tr[data-target="gcp:us-central1-a/tiny"]');
    await target.waitFor();
    await page.locator('button[name=reconcile]').click();
    // Both seeded agents are verified, healthy tiny agents with a hostname there (deployed counts): one short.
    expect(await text('button[name=reconcile] + .result')).toBe(
      'Total shortfall 1: gcp:us-central1-a/tiny eligible 2, short 1',
    );
    await w.screenshot('capacity');
    await target.locator('button[name=delete-target]').click();
    await target.waitFor({ state: 'detached' });
  });

  it('clean-up: the dry run lists exactly the orphan tunnel and its record; the real run deletes them, nothing else', async () => {
    const ghost = cf.seedTunnel({ name: 'agent-ghost-1' });
    const ghostDns = cf.seedDnsRecord({
      name: `agent-ghost-1.${cf.zoneName}`,
      content: `${ghost.id}.cfargotunnel.com`,
    });
    await nav('Clean-up', 'Cloud clean-up');
    expect(await page.locator('button[name=cleanup-run]').count()).toBe(0); // the dry run comes first

    await page.locator('button[name=cleanup-dry-run]').click();
    const plan = page.locator('.report[data-dry-run="true"]');
    await plan.waitFor();
    const rows = plan.locator('tr[data-plan]');
    expect(await rows.count()).toBe(2);
    const tunnelRow = plan.locator(`tr[data-plan="tunnel"][data-id="${ghost.id}"]`);
    expect(await tunnelRow.textContent()).toContain('agent-ghost-1');
    const dnsRow = plan.locator(`tr[data-plan="dns"][data-id="${ghostDns.id}"]`);
    expect(await dnsRow.textContent()).toContain(`agent-ghost-1.${cf.zoneName}`);
    expect(await plan.locator('dd.cf').textContent()).toBe('1 tunnel(s), 1 DNS record(s) would be deleted');
    expect(await plan.locator('dd.gcp').textContent()).toBe('not configured');
    expect(await plan.locator('dd.stale').textContent()).toBe('0 would be deleted');
    // A dry run deletes nothing.
    expect(cf.tunnels().map((t) => t.id)).toContain(ghost.id);
    expect(cf.dnsRecords().map((r) => r.id)).toContain(ghostDns.id);
    await w.screenshot('cleanup-plan');

    await page.locator('button[name=cleanup-run]').click();
    const result = page.locator('.report[data-dry-run="false"]');
    await result.waitFor();
    expect(await result.locator('dd.cf').textContent()).toBe('1 tunnel(s), 1 DNS record(s) deleted; 0 failed');
    expect(await result.locator(`tr[data-plan="tunnel"][data-id="${ghost.id}"]`).count()).toBe(1);
    expect(await result.locator('tr[data-plan]').count()).toBe(2);
    await w.screenshot('cleanup');
    // The fake: the orphans are gone, the live agent's tunnel and record survive.
    expect(cf.tunnels().map((t) => t.id)).toEqual([liveTunnel.id]);
    expect(cf.dnsRecords().map((r) => r.id)).toEqual([liveDns.id]);
    expect((await stack.db('agents').where({ agent_id: ids.agentA }).first()).tunnel_id).toBe(liveTunnel.id);
  });

  it('clean-up: Cloudflare failing shows the API’s detail and offers no real run', async () => {
    await page.reload();
    await page.locator('h1', { hasText: 'Cloud clean-up' }).waitFor();
    // Listing tunnels answers 500 on every attempt of the plan activity (3): the clean-up workflow fails.
    cf.requests.length = 0;
    cf.failNext(3, { status: 500, pathIncludes: '/cfd_tunnel', method: 'GET' });
    w.expectHttpError('/api/v1/admin/cleanup/orphans', 502);
    await page.locator('button[name=cleanup-dry-run]').click();
    // The cause, not a bare 500 whose reason only the worker log knew.
    expect(await text('.action .error')).toMatch(/^Orphan clean-up failed: .*HTTP 500/);
    expect(await page.locator('.report').count()).toBe(0);
    expect(await page.locator('button[name=cleanup-run]').count()).toBe(0);
    expect(cf.requests.filter((r) => r.status === 500)).toHaveLength(3);
    await w.screenshot('cleanup-failed');
    expect(cf.tunnels().map((t) => t.id)).toEqual([liveTunnel.id]);
  });

  it('cloudflare: status, tunnels and records; an orphan record is deleted after confirmation', async () => {
    const dangling = cf.seedDnsRecord({ name: `agent-gone.${cf.zoneName}`, content: 'deadbeef.cfargotunnel.com' });
    await nav('Cloudflare', 'Cloudflare');
    expect(await text('.cf-status dd.configured')).toBe('yes');
    const tunnel = page.locator(`tr[data-tunnel="${liveTunnel.id}"]`);
    await tunnel.waitFor();
    expect(await tunnel.textContent()).toContain('vm-alpha');
    expect(await tunnel.getAttribute('class')).toBeNull(); // not orphaned
    const live = page.locator(`tr[data-record="${liveDns.id}"]`);
    await live.waitFor();
    expect(await live.getAttribute('class')).toBeNull();
    const row = page.locator(`tr[data-record="${dangling.id}"]`);
    expect(await row.getAttribute('class')).toBe('orphaned');
    expect(await row.textContent()).toContain('deadbeef');

    // Cancel keeps it; Confirm deletes it.
    await row.locator('button[name=delete]').click();
    expect(await row.locator('.confirm').textContent()).toContain(`Delete record agent-gone.${cf.zoneName}?`);
    await w.screenshot('cloudflare-confirm');
    await row.locator('button[name=cancel]').click();
    await row.locator('button[name=delete]').waitFor();
    expect(cf.dnsRecords().map((r) => r.id)).toContain(dangling.id);
    await row.locator('button[name=delete]').click();
    await row.locator('button[name=confirm-delete]').click();
    await row.waitFor({ state: 'detached' });
    expect(cf.dnsRecords().map((r) => r.id)).toEqual([liveDns.id]);
    expect(cf.tunnels().map((t) => t.id)).toEqual([liveTunnel.id]);
    await w.screenshot('cloudflare');
  });

  it('agent delete removes the agent and says so', async () => {
    await nav('Agents', 'Agents');
    await page.locator(`tr[data-agent="${ids.agentB}"] a`, { hasText: 'vm-bravo' }).click();
    await page.locator('button[name=delete-agent]').click();
    await page.locator('p.result', { hasText: 'Agent deleted.' }).waitFor();
    expect(await stack.db('agents').where({ agent_id: ids.agentB }).first()).toBeUndefined();
    await nav('Agents', 'Agents');
    await page.locator(`tr[data-agent="${ids.agentA}"]`).waitFor();
    expect(await page.locator(`tr[data-agent="${ids.agentB}"]`).count()).toBe(0);
  });

  it('sign-out ends the session', async () => {
    const token = (await w.storedToken())!;
    expect((await http(stack.url).get('/auth/me', { token })).status).toBe(200);
    await page.locator('button[name=logout]').click();
    await page.locator('input[name=password]').waitFor();
    expect(await w.storedToken()).toBeNull();
    expect((await http(stack.url).get('/auth/me', { token })).status).toBe(401);
    await page.reload();
    await page.locator('input[name=password]').waitFor();
    await w.screenshot('signed-out');
  });
});
