/**
 * The deploy action's committed bundle, run as the runner runs it (node, INPUT_* env, GITHUB_OUTPUT and
 * GITHUB_STEP_SUMMARY files, ACTIONS_ID_TOKEN_REQUEST_* pointing at the fake GitHub's token service), against the
 * real control plane (Temporal + worker + API) and the fake agent server. The happy path deploys and prints the
 * URL the workload answers on; each refusal of the CP (401, 402, 403, no eligible agent, agent failure) fails the
 * step with one readable `::error::` line and no stack trace.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { seal } from '../../core/auth/seal';
import { startFakeAgent, type FakeAgentServer, type FakeCallbackOptions } from '../fakes/agent';
import { startFakeGithub, type FakeGithub } from '../fakes/github';
import { runActionBundle, type ActionRun } from '../helpers/actions';
import { seedAccount, seedAgent, seedAgentSecret } from '../helpers/seed';
import { startStack, type Stack } from '../helpers/stack';

const COMPOSE = 'services:\n  web:\n    image: hashicorp/http-echo:latest\n    ports: ["8080:8080"]\n';

describe('the deploy action against the real control plane', () => {
  let stack: Stack;
  let gh: FakeGithub;
  let agents: FakeAgentServer;
  let workload: Server;
  let workloadUrl: string;
  let workspace: string;

  beforeAll(async () => {
    gh = await startFakeGithub();
    agents = await startFakeAgent();
    workload = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`hello from the workload: ${req.method} ${req.url}`);
    });
    await new Promise<void>((r) => workload.listen(0, '127.0.0.1', () => r()));
    workloadUrl = `http://127.0.0.1:${(workload.address() as AddressInfo).port}`;
    stack = await startStack({
      env: {
        GITHUB_OIDC_JWKS_URL: gh.jwksUrl,
        AGENT_DIRECT_URL: agents.directUrlTemplate,
        DEPLOY_CALLBACK_TIMEOUT_SECONDS: '10',
      },
    });
    workspace = mkdtempSync(join(tmpdir(), 'deploy-action-ws-'));
    writeFileSync(join(workspace, 'docker-compose.yml'), COMPOSE);
  });
  afterAll(async () => {
    await stack?.close();
    await agents?.close();
    await gh?.close();
    await new Promise((r) => workload?.close(r));
    if (workspace) rmSync(workspace, { recursive: true, force: true });
  });
  beforeEach(async () => {
    agents.reset();
    await stack.db('services').delete();
    await stack.db('deployments').delete();
    await stack.db('agent_control_credentials').delete();
    await stack.db('agents').delete();
  });

  async function agent(over: Record<string, unknown>, callback: Partial<FakeCallbackOptions> | null = {}) {
    const a = await seedAgent(stack.db, over);
    const secret = await seedAgentSecret(stack.db, a.agent_id);
    await stack
      .db('agent_control_credentials')
      .where({ agent_id: a.agent_id })
      .update({ api_secret_sealed: seal(stack.deps.sealingKey, secret).sealed });
    agents.agent(a.agent_id, {
      secret,
      workloadUrl,
      callback: callback === null ? null : { cpUrl: stack.url, delayMs: 200, ...callback },
    });
    return a;
  }

  const deploy = (owner: string, inputs: Record<string, string> = {}) =>
    runActionBundle(
      'deploy',
      {
        control_plane_url: stack.url,
        compose_file: 'docker-compose.yml',
        app_name: 'hello',
        poll_seconds: '1',
        timeout_seconds: '60',
        ...inputs,
      },
      { job: gh.actionsJob({ repository: `${owner}/app`, repository_owner: owner }), workspace },
    );

  /** One readable annotation, exit 1, no stack trace anywhere. */
  function expectReadableFailure(r: ActionRun): string {
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.errors).toHaveLength(1);
    expect(r.stdout + r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
    expect(r.stderr).toBe('');
    return r.errors[0]!;
  }

  const deployments = async () => Number((await stack.db('deployments').count({ n: '*' }).first())?.n ?? 0);

  it('mints the OIDC token for its audience, deploys, waits for running and writes the outputs, the summary and the URL', async () => {
    const mine = await agent({ github_owner: 'octo-org' });
    const job = gh.actionsJob({ repository: 'octo-org/app', repository_owner: 'octo-org' });
    const r = await runActionBundle(
      'deploy',
      { control_plane_url: stack.url, compose_file: 'docker-compose.yml', app_name: 'hello', poll_seconds: '1' },
      { job, workspace },
    );
    expect(r.code, r.stdout).toBe(0);
    expect(job.minted.map((m) => m.audience)).toEqual(['easyenclave']);
    // The token is masked before anything could print it.
    expect(r.stdout).toContain(`::add-mask::${job.minted[0]!.token}`);
    expect(r.outputs).toMatchObject({
      agent_id: mine.agent_id,
      status: 'running',
      service_url: `${stack.url}/proxy/hello/`,
    });
    const id = r.outputs.deployment_id!;
    expect((await stack.db('deployments').where({ deployment_id: id }).first()).status).toBe('running');
    expect(r.stdout).toContain(`Service URL: ${stack.url}/proxy/hello/`);
    expect(r.summary).toContain('easyenclave deployment running');
    expect(r.summary).toContain(id);
    // The deployed compose is the file's, and the URL reaches the workload through the CP's proxy.
    const push = agents.requests.find((q) => q.path === '/api/deploy')!;
    expect(Buffer.from(JSON.parse(push.body).compose, 'base64').toString()).toBe(COMPOSE);
    const answer = await fetch(`${r.outputs.service_url}status?x=1`);
    expect(await answer.text()).toBe('hello from the workload: GET /status?x=1');
  });

  it('401: a token minted for another audience is refused, with what to check', async () => {
    await agent({ github_owner: 'octo-org' });
    const msg = expectReadableFailure(await deploy('octo-org', { audience: 'not-easyenclave' }));
    expect(msg).toMatch(
      /^Deploy of docker-compose\.yml failed: the control plane answered 401: Invalid GitHub OIDC token/,
    );
    expect(msg).toContain("'audience' input");
    expect(await deployments()).toBe(0);
  });

  it('402: the deployer account linked to the repository owner has no funds', async () => {
    await agent({ github_owner: 'broke-org' });
    await seedAccount(stack.db, { account_type: 'deployer', github_org: 'broke-org' });
    const msg = expectReadableFailure(await deploy('broke-org'));
    expect(msg).toMatch(/answered 402: Insufficient funds: balance \$0\.00 < hourly cost/);
    expect(msg).toContain('Deposit funds');
    expect(await deployments()).toBe(0);
  });

  it('403: an explicit agent of another owner', async () => {
    const theirs = await agent({ github_owner: 'other-org' });
    const msg = expectReadableFailure(await deploy('octo-org', { agent_id: theirs.agent_id }));
    expect(msg).toMatch(/answered 403: Not authorized for this agent/);
    expect(await deployments()).toBe(0);
  });

  it('503: no eligible agent — the placement issues are printed before the failure', async () => {
    await agent({ github_owner: 'octo-org' });
    const r = await deploy('evil-org');
    const msg = expectReadableFailure(r);
    expect(msg).toMatch(/answered 503: No eligible agents available for deployment/);
    expect(r.stdout).toContain('AGENT_OWNER_MISMATCH');
    expect(await deployments()).toBe(0);
  });

  it('agent failure: the deployment fails on the agent and the step fails with the agent’s reason', async () => {
    const a = await agent(
      { github_owner: 'octo-org' },
      { outcome: 'error', error: 'pull access denied for hashicorp/http-echo: manifest unknown' },
    );
    const r = await deploy('octo-org');
    const msg = expectReadableFailure(r);
    expect(msg).toMatch(new RegExp(`^Deployment \\S+ failed on agent ${a.agent_id}: .*manifest unknown`));
    expect(r.outputs.deployment_id).toBeTruthy();
    expect(r.outputs.status).toBe('failed');
    expect(r.summary).toContain('manifest unknown');
  });

  it('dry_run prints the choice and changes nothing', async () => {
    const mine = await agent({ github_owner: 'octo-org' });
    const r = await deploy('octo-org', { dry_run: 'true' });
    expect(r.code, r.stdout).toBe(0);
    expect(r.outputs).toMatchObject({ eligible: 'true', agent_id: mine.agent_id });
    expect(r.stdout).toContain("owner=repository_owner 'octo-org'");
    expect(await deployments()).toBe(0);
    expect(agents.requests.filter((q) => q.path === '/api/deploy')).toHaveLength(0);
  });

  it('without id-token permission (no ACTIONS_ID_TOKEN_REQUEST_URL) it says so; a wrong runtime token is refused by GitHub', async () => {
    const none = await runActionBundle(
      'deploy',
      { control_plane_url: stack.url, compose_file: 'docker-compose.yml' },
      { job: null, workspace },
    );
    expect(expectReadableFailure(none)).toContain('permissions: id-token: write');
    const job = gh.actionsJob({ repository_owner: 'octo-org' });
    const forged = await runActionBundle(
      'deploy',
      { control_plane_url: stack.url, compose_file: 'docker-compose.yml' },
      { job: { ...job, requestToken: 'stolen' }, workspace },
    );
    expect(expectReadableFailure(forged)).toMatch(/GitHub OIDC token service answered 401/);
    const missing = await deploy('octo-org', { compose_file: 'nope.yml' });
    expect(expectReadableFailure(missing)).toMatch(/^compose_file not found: nope\.yml/);
  });
});
