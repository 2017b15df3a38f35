/**
 * POST /api/v1/deploy end to end: real Temporal + worker + API, the fake GitHub (OIDC JWKS) and a fake agent
 * server standing in for every agent (AGENT_DIRECT_URL), which calls the CP back like a real agent.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { seal } from '../../core/auth/seal';
import { appendLedgerEntry } from '../../core/stores/ledger';
import { startFakeAgent, type FakeAgentServer } from '../fakes/agent';
import { startFakeGithub, type FakeGithub } from '../fakes/github';
import { recordHistory } from '../helpers/histories';
import { seedAccount, seedAgent, seedAgentSecret } from '../helpers/seed';
import { adminLogin, http, startStack, type Stack } from '../helpers/stack';

const COMPOSE = 'services:\n  web:\n    image: hashicorp/http-echo:latest\n    ports: ["8080:8080"]\n';

describe('deploy API', () => {
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
        AGENT_DIRECT_URL: agents.directUrlTemplate,
        DEPLOY_CALLBACK_TIMEOUT_SECONDS: '3',
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
  beforeEach(async () => {
    agents.reset();
    await stack.db('deployments').delete();
    await stack.db('agent_control_credentials').delete();
    await stack.db('agents').delete();
  });

  /** A registered, verified, healthy agent whose fake answers deploys and (by default) calls back. */
  async function agent(over: Record<string, unknown> = {}, opts: { callback?: boolean } = {}) {
    const a = await seedAgent(stack.db, over);
    const secret = await seedAgentSecret(stack.db, a.agent_id);
    await stack
      .db('agent_control_credentials')
      .where({ agent_id: a.agent_id })
      .update({ api_secret_sealed: seal(stack.deps.sealingKey, secret).sealed });
    agents.agent(a.agent_id, { secret, callback: opts.callback === false ? null : { cpUrl: stack.url, delayMs: 300 } });
    return a;
  }

  const row = (id: string) => stack.db('deployments').where({ deployment_id: id }).first();
  const agentRow = (id: string) => stack.db('agents').where({ agent_id: id }).first();
  const count = async (t: string) => Number((await stack.db(t).count({ n: '*' }).first())?.n ?? 0);

  async function waitFor<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
    const until = Date.now() + ms;
    for (;;) {
      const v = await fn();
      if (ok(v) || Date.now() > until) return v;
      await new Promise((r) => setTimeout(r, 150));
    }
  }

  async function deploymentRuns(): Promise<number> {
    let n = 0;
    for await (const _ of stack.client.workflow.list({
      query: `WorkflowType = 'deployment' AND TaskQueue = '${stack.taskQueue}'`,
    })) {
      n += 1;
    }
    return n;
  }

  it('accepts a GitHub Actions OIDC token and places only on agents of its repository_owner; the deployment goes deploying → running on the callback', async () => {
    const other = await agent({ github_owner: 'other-org' });
    const unowned = await agent({ github_owner: null });
    const mine = await agent({ github_owner: 'Octo-Org' });
    const token = await gh.signOidcToken({ repository: 'octo-org/app', repository_owner: 'octo-org' });

    const res = await api.post('/api/v1/deploy', { token, json: { compose: COMPOSE, app_name: 'hello' } });
    expect(res.status, res.text).toBe(202);
    expect(res.body.agent_id).toBe(mine.agent_id);
    expect(res.body.status).toBe('deploying');
    const id = res.body.deployment_id as string;
    expect(res.headers.get('location')).toBe(`/api/v1/deployments/${id}`);
    expect((await agentRow(mine.agent_id)).status).toBe('deploying');

    const done = await waitFor(
      () => row(id),
      (r) => r.status === 'running',
    );
    expect(done.status).toBe('running');
    expect(done.started_at).toBeTruthy();
    expect(done.account_id).toBeNull();
    const a = await agentRow(mine.agent_id);
    expect(a).toMatchObject({ status: 'deployed', current_deployment_id: id, deployed_app: 'hello' });
    // The push carried the stored compose (base64) and X-Agent-Secret.
    const push = agents.requests.find((r) => r.agentId === mine.agent_id && r.path === '/api/deploy')!;
    expect(JSON.parse(push.body).compose).toBe(Buffer.from(COMPOSE.trim()).toString('base64'));
    expect(push.headers['x-agent-secret']).toBeTruthy();
    for (const x of [other, unowned]) expect((await agentRow(x.agent_id)).status).toBe('undeployed');

    const view = await api.get(`/api/v1/deployments/${id}`);
    expect(view.body).toMatchObject({ deployment_id: id, status: 'running', agent_id: mine.agent_id });
    const listed = await api.get(`/api/v1/deployments?status=running&agent_id=${mine.agent_id}`);
    expect(listed.body.total).toBe(1);
  });

  it('an OIDC deploy is billed to the deployer account linked to its repository_owner', async () => {
    // Its own owner name, so the linked account does not change who pays in other tests.
    const mine = await agent({ github_owner: 'paying-org' });
    const acct = await seedAccount(stack.db, { account_type: 'deployer', github_org: 'Paying-Org' });
    await seedAccount(stack.db, { account_type: 'contributor', github_org: 'paying-org' }); // not a payer
    const token = await gh.signOidcToken({ repository: 'paying-org/app', repository_owner: 'paying-org' });
    const dryRun = () =>
      api.post('/api/v1/deploy', { token, json: { compose: COMPOSE, app_name: 'paid', dry_run: true } });

    // The linked account pays, so its balance is checked first.
    expect((await dryRun()).body).toMatchObject({ eligible: false, issues: [{ code: 'INSUFFICIENT_FUNDS' }] });
    await appendLedgerEntry(stack.db, { accountId: acct.account_id, amount: 5_000_000, txType: 'deposit' });
    expect((await dryRun()).body).toMatchObject({ eligible: true, selected_agent_id: mine.agent_id });

    const real = await api.post('/api/v1/deploy', { token, json: { compose: COMPOSE, app_name: 'paid' } });
    expect(real.status, real.text).toBe(202);
    expect((await row(real.body.deployment_id)).account_id).toBe(acct.account_id);
  });

  it('refuses tokens of another owner (no eligible agent), a wrong audience, an expired token, an unsigned and a forged token', async () => {
    await agent({ github_owner: 'octo-org' });
    const before = await count('deployments');

    const foreign = await gh.signOidcToken({ repository: 'evil-org/app', repository_owner: 'evil-org' });
    const r1 = await api.post('/api/v1/deploy', { token: foreign, json: { compose: COMPOSE } });
    expect(r1.status).toBe(503);
    expect(r1.body.detail).toMatch(/No eligible agents available for deployment\. Last reason: Agent owner/);
    const pre = await api.post('/api/v1/deploy', { token: foreign, json: { compose: COMPOSE, dry_run: true } });
    expect(pre.body.issues.map((i: { code: string }) => i.code)).toEqual([
      'AGENT_OWNER_MISMATCH',
      'NO_ELIGIBLE_AGENTS',
    ]);

    const refused = [
      await gh.signOidcToken({ repository_owner: 'octo-org', aud: 'someone-else' }),
      await gh.signOidcToken({ repository_owner: 'octo-org' }, { expiresInSec: -120 }),
      gh.unsignedToken({ repository_owner: 'octo-org' }),
      await gh.signOidcToken({ repository_owner: 'octo-org' }, { key: 'unpublished' }),
    ];
    const details: string[] = [];
    for (const token of refused) {
      const r = await api.post('/api/v1/deploy', { token, json: { compose: COMPOSE } });
      expect(r.status).toBe(401);
      details.push(r.body.detail);
    }
    expect(details[0]).toMatch(/Invalid GitHub OIDC token: .*aud/);
    expect(details[1]).toMatch(/expired/);
    expect(details[2]).toMatch(/algorithm/);
    expect(details[3]).toMatch(/signature|key/);
    expect(await count('deployments')).toBe(before);
  });

  it('is never anonymous and never trusts account_id / github_owner from the body', async () => {
    const a = await agent({ github_owner: null });
    const anon = await api.post('/api/v1/deploy', { json: { compose: COMPOSE } });
    expect(anon.status).toBe(401);
    expect(anon.body.detail).toBe('Missing Authorization header');

    const victim = await api.post('/api/v1/accounts', { json: { name: 'victim', account_type: 'deployer' } });
    const me = await api.post('/api/v1/accounts', { json: { name: 'deployer-1', account_type: 'deployer' } });
    await api.post(`/api/v1/accounts/${victim.body.account_id}/deposit`, { token: admin, json: { amount: 100 } });
    const cheap = { compose: COMPOSE, account_id: victim.body.account_id, github_owner: 'mallory' };
    const broke = await api.post('/api/v1/deploy', { token: me.body.api_key, json: cheap });
    expect(broke.status).toBe(402); // charged to the key's own (empty) account, not the victim's
    expect(broke.body.detail).toMatch(/^Insufficient funds: balance \$0\.00 < hourly cost \$0\.10$/);

    await api.post(`/api/v1/accounts/${me.body.account_id}/deposit`, { token: admin, json: { amount: 5 } });
    const ok = await api.post('/api/v1/deploy', { token: me.body.api_key, json: cheap });
    expect(ok.status, ok.text).toBe(202);
    expect((await row(ok.body.deployment_id)).account_id).toBe(me.body.account_id);
    expect((await agentRow(a.agent_id)).github_owner).toBeNull();
  });

  it('dry_run changes nothing, starts nothing and explains the choice', async () => {
    const busy = await agent({ status: 'deployed', deployed_app: 'someone-else', github_owner: 'octo-org' });
    const small = await agent({ node_size: 'tiny', github_owner: 'octo-org' });
    const chosen = await agent({ node_size: 'standard', datacenter: 'azure:eastus', github_owner: 'octo-org' });
    const token = await gh.signOidcToken({ repository_owner: 'octo-org' });
    const runs = await deploymentRuns();

    const res = await api.post('/api/v1/deploy', {
      token,
      json: { compose: COMPOSE, dry_run: true, node_size: 'Standard', allowed_clouds: ['az'] },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      dry_run: true,
      eligible: true,
      selected_agent_id: chosen.agent_id,
      selected_node_size: 'standard',
      selected_datacenter: 'azure:eastus',
      selected_cloud: 'azure',
      owner_scope: "repository_owner 'octo-org'",
    });
    expect(res.body.reason).toContain(chosen.agent_id);
    expect(res.body.issues).toEqual([
      expect.objectContaining({ code: 'AGENT_OCCUPIED', agent_id: busy.agent_id }),
      expect.objectContaining({ code: 'AGENT_NODE_SIZE_MISMATCH', agent_id: small.agent_id }),
    ]);
    const pre = await api.post('/api/v1/deploy/preflight', { token, json: { compose: COMPOSE, node_size: 'llm' } });
    expect(pre.body).toMatchObject({ dry_run: true, eligible: false, selected_agent_id: null });

    expect(await count('deployments')).toBe(0);
    expect((await agentRow(chosen.agent_id)).status).toBe('undeployed');
    expect(await deploymentRuns()).toBe(runs);
  });

  it('automatic placement never replaces another app’s running workload', async () => {
    const busy = await agent({
      status: 'deployed',
      deployed_app: 'their-app',
      current_deployment_id: 'x',
      github_owner: 'octo-org',
    });
    const token = await gh.signOidcToken({ repository_owner: 'octo-org' });
    const res = await api.post('/api/v1/deploy', { token, json: { compose: COMPOSE, app_name: 'mine' } });
    expect(res.status).toBe(503);
    expect(res.body.detail).toMatch(/automatic placement never replaces it/);
    expect(await agentRow(busy.agent_id)).toMatchObject({ status: 'deployed', deployed_app: 'their-app' });
    expect(agents.requests.filter((r) => r.path === '/api/deploy')).toHaveLength(0);
  });

  it('an agent that never calls back ends failed after the timeout and is free again', async () => {
    const silent = await agent({ github_owner: 'octo-org' }, { callback: false });
    const token = await gh.signOidcToken({ repository_owner: 'octo-org' });
    const res = await api.post('/api/v1/deploy', { token, json: { compose: COMPOSE, app_name: 'quiet' } });
    expect(res.status).toBe(202);
    const d = await waitFor(
      () => row(res.body.deployment_id),
      (r) => r.status === 'failed',
    );
    expect(d.status).toBe('failed');
    expect(d.error).toMatch(/did not report the deployment within 3 s/);
    const a = await agentRow(silent.agent_id);
    expect(a).toMatchObject({ status: 'undeployed', current_deployment_id: null });
    // and it is placeable again
    const again = await api.post('/api/v1/deploy', { token, json: { compose: COMPOSE, dry_run: true } });
    expect(again.body.selected_agent_id).toBe(silent.agent_id);
    await recordHistory(stack.client, `deployment:${res.body.deployment_id}`, 'deployments', 'deploy-callback-timeout');
  });

  it('two concurrent deploys never land on the same agent', async () => {
    const a1 = await agent({ github_owner: 'octo-org' });
    const a2 = await agent({ github_owner: 'octo-org' });
    const token = await gh.signOidcToken({ repository_owner: 'octo-org' });
    const three = await Promise.all(
      [1, 2, 3].map((i) => api.post('/api/v1/deploy', { token, json: { compose: COMPOSE, app_name: `c${i}` } })),
    );
    const ok = three.filter((r) => r.status === 202);
    expect(ok).toHaveLength(2);
    expect(new Set(ok.map((r) => r.body.agent_id))).toEqual(new Set([a1.agent_id, a2.agent_id]));
    const loser = three.find((r) => r.status !== 202)!;
    expect(loser.status).toBe(503);
    const placed = await stack.db('agents').whereNotNull('current_deployment_id').select('current_deployment_id');
    expect(new Set(placed.map((p) => p.current_deployment_id)).size).toBe(2);
  });

  it('bad input is a 4xx with detail, creates no deployment row and starts no workflow', async () => {
    await agent({ github_owner: 'octo-org' });
    const token = await gh.signOidcToken({ repository_owner: 'octo-org' });
    const runs = await deploymentRuns();
    const cases: [unknown, number, RegExp][] = [
      [{ app_name: 'x' }, 422, /compose/],
      [{ compose: 'just: text' }, 422, /services/],
      [{ compose: COMPOSE, node_size: 'galactic' }, 422, /node_size/],
      [{ compose: COMPOSE, allowed_datacenters: 'gcp:us-central1-a' }, 422, /allowed_datacenters/],
      [{ compose: COMPOSE, denied_datacenters: ['not a dc!'] }, 422, /datacenter/],
      [
        { compose: COMPOSE, allowed_datacenters: ['gcp:a'], denied_datacenters: ['GCP:A'] },
        400,
        /Datacenter policy conflict/,
      ],
    ];
    for (const [json, status, detail] of cases) {
      const r = await api.post('/api/v1/deploy', { token, json });
      expect(r.status, JSON.stringify(json)).toBe(status);
      expect(JSON.stringify(r.body.detail)).toMatch(detail);
    }
    const bad = await api.post('/api/v1/deploy', { token, raw: '{"compose": ' });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toMatch(/Malformed JSON/);
    expect(await count('deployments')).toBe(0);
    expect(await deploymentRuns()).toBe(runs);
  });

  it('keeps v1 catalog deploy paths as authenticated aliases using the attested version’s compose', async () => {
    const a = await agent({ github_owner: 'octo-org' });
    const token = await gh.signOidcToken({ repository_owner: 'octo-org' });
    const now = new Date().toISOString();
    await stack.db('apps').insert({ app_id: 'app-1', name: 'hello', created_at: now });
    const compose = Buffer.from(COMPOSE).toString('base64');
    await stack.db('app_versions').insert([
      { version_id: 'v-1', app_name: 'hello', version: '1.0', compose, status: 'attested', published_at: now },
      { version_id: 'v-2', app_name: 'hello', version: '2.0', compose, status: 'pending', published_at: now },
    ]);
    const path = '/api/v1/apps/hello/versions/1.0/deploy';
    expect((await api.post(path, { json: {} })).status).toBe(401);
    expect((await api.post('/api/v1/apps/nope/versions/1.0/deploy', { token, json: {} })).body.detail).toBe(
      "App 'nope' not found",
    );
    const pending = await api.post('/api/v1/apps/hello/versions/2.0/deploy', { token, json: {} });
    expect(pending).toMatchObject({ status: 400, body: { detail: "Version '2.0' is not attested (status: pending)" } });
    const pre = await api.post(`${path}/preflight`, { token, json: {} });
    expect(pre.body).toMatchObject({ dry_run: true, eligible: true, selected_agent_id: a.agent_id });
    const res = await api.post(path, { token, json: {} });
    expect(res.status, res.text).toBe(202);
    expect(await row(res.body.deployment_id)).toMatchObject({ app_name: 'hello', app_version: '1.0', compose });
  });

  it('undeploy stops through the deployment workflow and frees the agent', async () => {
    const a = await agent({ github_owner: 'octo-org' });
    const token = await gh.signOidcToken({ repository_owner: 'octo-org' });
    const res = await api.post('/api/v1/deploy', { token, json: { compose: COMPOSE, app_name: 'bye' } });
    await waitFor(
      () => row(res.body.deployment_id),
      (r) => r.status === 'running',
    );

    expect((await api.post(`/api/v1/agents/${a.agent_id}/undeploy`, { token })).status).toBe(401);
    const u = await api.post(`/api/v1/agents/${a.agent_id}/undeploy`, { token: admin });
    expect(u.status, u.text).toBe(200);
    expect(u.body).toEqual({ status: 'undeployed', agent_id: a.agent_id, deployment_id: res.body.deployment_id });
    expect((await row(res.body.deployment_id)).status).toBe('stopped');
    expect(await agentRow(a.agent_id)).toMatchObject({ status: 'undeployed', current_deployment_id: null });
    expect(agents.agent(a.agent_id).undeploys).toBe(1);
    expect((await api.post('/api/v1/agents/nope/undeploy', { token: admin })).status).toBe(404);
    await recordHistory(stack.client, `deployment:${res.body.deployment_id}`, 'deployments', 'deploy-run-undeploy');
  });
});
