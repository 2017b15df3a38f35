/**
 * `POST /api/v1/deploy` is one update-with-start on `deployment:<id>` (issue #9): the workflow inserts its own row,
 * so a failed start leaves nothing behind, and a start no worker answers yet is still a durable deployment.
 */
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { seal } from '../../core/auth/seal';
import { dataConverterFor } from '../../core/temporal/codec';
import { apiConnectionOptions } from '../../api/temporal-availability';
import { createWorkflowGateway } from '../../api/temporal';
import { listen } from '../../bin/lib/api-server';
import { deploymentWorkflowId } from '../../workflows/contracts/deployments';
import { startFakeAgent, type FakeAgentServer } from '../fakes/agent';
import { startFakeGithub, type FakeGithub } from '../fakes/github';
import { seedAgent, seedAgentSecret } from '../helpers/seed';
import { http, startStack, type Stack } from '../helpers/stack';

type Interceptor = NonNullable<ConnectionOptions['interceptors']>[number];

const COMPOSE = 'services:\n  web:\n    image: nginx\n';

describe('deploy through update-with-start', () => {
  let stack: Stack;
  let gh: FakeGithub;
  let agents: FakeAgentServer;
  let token: string;

  beforeAll(async () => {
    gh = await startFakeGithub();
    agents = await startFakeAgent();
    stack = await startStack({
      env: { GITHUB_OIDC_JWKS_URL: gh.jwksUrl, AGENT_DIRECT_URL: agents.directUrlTemplate },
      gateway: { placementWaitMs: 1500 },
    });
    token = await gh.signOidcToken({ repository: 'octo-org/app', repository_owner: 'octo-org' });
  });
  afterAll(async () => {
    await stack?.close();
    await agents?.close();
    await gh?.close();
  });

  const agentThatAnswers = async () => {
    const a = await seedAgent(stack.db, { github_owner: 'octo-org' });
    const secret = await seedAgentSecret(stack.db, a.agent_id);
    await stack
      .db('agent_control_credentials')
      .where({ agent_id: a.agent_id })
      .update({ api_secret_sealed: seal(stack.deps.sealingKey, secret).sealed });
    agents.agent(a.agent_id, { secret, callback: { cpUrl: stack.url, delayMs: 100 } });
    return a;
  };

  /** A second API on the same database whose Temporal client goes through `connection`. */
  const apiVia = async (connection: Connection, placementWaitMs: number) => {
    const client = new Client({ connection, dataConverter: dataConverterFor(stack.deps.sealingKey) });
    const workflows = createWorkflowGateway(client, stack.taskQueue, { placementWaitMs });
    return listen({ ...stack.deps, workflows }, '127.0.0.1', 0);
  };

  it('makes exactly one Temporal call and answers the placement', async () => {
    const a = await agentThatAnswers();
    const calls: string[] = [];
    const count = ((options, nextCall) => {
      calls.push(options.method_definition.path.split('/').pop()!);
      return nextCall(options);
    }) as Interceptor;
    const connection = await Connection.connect({ address: inject('temporalAddress'), interceptors: [count] });
    const api = await apiVia(connection, 30_000);
    try {
      calls.length = 0;
      const res = await http(api.url).post('/api/v1/deploy', { token, json: { compose: COMPOSE, app_name: 'one' } });
      expect(res.status, res.text).toBe(202);
      expect(res.body).toMatchObject({ agent_id: a.agent_id, status: 'deploying' });
      expect(calls).toEqual(['ExecuteMultiOperation']);
      // The row is the workflow's: written by its first activity, with the request's fields and the staged compose.
      const row = await stack.db('deployments').where({ deployment_id: res.body.deployment_id }).first();
      expect(row).toMatchObject({ agent_id: a.agent_id, app_name: 'one', github_owner: 'octo-org' });
      expect(Buffer.from(row.compose, 'base64').toString('utf8')).toBe(COMPOSE.trim());
    } finally {
      await api.close();
      await connection.close();
    }
  });

  it('leaves no deployments row when the start fails', async () => {
    const a = await agentThatAnswers();
    const before = Number((await stack.db('deployments').count({ n: '*' }).first())!.n);
    // Nothing listens on port 1: the update-with-start never reaches a server.
    const connection = Connection.lazy({ address: '127.0.0.1:1', ...apiConnectionOptions(500) });
    const api = await apiVia(connection, 1500);
    try {
      const res = await http(api.url).post('/api/v1/deploy', { token, json: { compose: COMPOSE, app_name: 'nope' } });
      expect(res.status, res.text).toBe(503);
      expect(Number((await stack.db('deployments').count({ n: '*' }).first())!.n)).toBe(before);
      expect(await stack.db('deployments').where({ app_name: 'nope' }).first()).toBeUndefined();
    } finally {
      await stack.db('agents').where({ agent_id: a.agent_id }).delete();
      await api.close();
      await connection.close();
    }
  });

  it('answers 202 pending when no worker takes the placement, and completes once one returns', async () => {
    const a = await agentThatAnswers();
    await stack.stopWorker();
    let id: string;
    try {
      const res = await http(stack.url).post('/api/v1/deploy', {
        token,
        json: { compose: COMPOSE, app_name: 'paused' },
      });
      expect(res.status, res.text).toBe(202);
      expect(res.body).toMatchObject({ agent_id: null, status: 'pending' });
      id = res.body.deployment_id as string;
      // Started (the execution exists) but not run: the row does not exist until the workflow's first activity.
      const described = await stack.client.workflow.getHandle(deploymentWorkflowId(id)).describe();
      expect(described.status.name).toBe('RUNNING');
      expect(await stack.db('deployments').where({ deployment_id: id }).first()).toBeUndefined();
    } finally {
      await stack.startWorker();
    }
    let status = '';
    for (let i = 0; i < 150 && status !== 'running'; i++) {
      status = (await stack.db('deployments').where({ deployment_id: id }).first())?.status ?? '';
      if (status !== 'running') await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe('running');
    expect((await stack.db('deployments').where({ deployment_id: id }).first()).agent_id).toBe(a.agent_id);
  });
});
