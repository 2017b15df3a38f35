/**
 * A deploy accepted while no worker is polling: the API answers 202 "pending" after a bounded wait instead of an
 * error, and the deployment runs to `running` once a worker is back (the workflow is durable).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seal } from '../../core/auth/seal';
import { startFakeAgent, type FakeAgentServer } from '../fakes/agent';
import { startFakeGithub, type FakeGithub } from '../fakes/github';
import { seedAgent, seedAgentSecret } from '../helpers/seed';
import { http, startStack, type Stack } from '../helpers/stack';

describe('deploy while the worker is down', () => {
  let stack: Stack;
  let gh: FakeGithub;
  let agents: FakeAgentServer;

  beforeAll(async () => {
    gh = await startFakeGithub();
    agents = await startFakeAgent();
    stack = await startStack({
      env: { GITHUB_OIDC_JWKS_URL: gh.jwksUrl, AGENT_DIRECT_URL: agents.directUrlTemplate },
      gateway: { placementWaitMs: 1500 },
    });
  });
  afterAll(async () => {
    await stack?.close();
    await agents?.close();
    await gh?.close();
  });

  it('answers 202 pending, then the deployment reaches running when a worker polls again', async () => {
    const a = await seedAgent(stack.db, { github_owner: 'octo-org' });
    const secret = await seedAgentSecret(stack.db, a.agent_id);
    await stack
      .db('agent_control_credentials')
      .where({ agent_id: a.agent_id })
      .update({ api_secret_sealed: seal(stack.deps.sealingKey, secret).sealed });
    agents.agent(a.agent_id, { secret, callback: { cpUrl: stack.url, delayMs: 100 } });
    const token = await gh.signOidcToken({ repository: 'octo-org/app', repository_owner: 'octo-org' });

    await stack.stopWorker();
    const res = await http(stack.url).post('/api/v1/deploy', {
      token,
      json: { compose: 'services:\n  web:\n    image: nginx\n', app_name: 'later' },
    });
    expect(res.status, res.text).toBe(202);
    expect(res.body).toMatchObject({ agent_id: null, status: 'pending' });
    const id = res.body.deployment_id as string;
    expect(res.headers.get('location')).toBe(`/api/v1/deployments/${id}`);

    await stack.startWorker();
    let status = '';
    for (let i = 0; i < 150 && status !== 'running'; i++) {
      // The workflow inserts the row as its first step, once a worker runs it.
      status = (await stack.db('deployments').where({ deployment_id: id }).first())?.status ?? '';
      if (status !== 'running') await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe('running');
    expect((await stack.db('deployments').where({ deployment_id: id }).first()).agent_id).toBe(a.agent_id);
  });
});
