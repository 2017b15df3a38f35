/**
 * api.md §4.3 through the deploy API: a deployment placed on an agent of a warm pool consumes the agent's open
 * reservation (made by the capacity-reconcile pass), and an agent of a pool without one gets an on-demand
 * reservation consumed on the spot. An agent outside every pool gets none.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seal } from '../../core/auth/seal';
import { startFakeAgent, type FakeAgentServer } from '../fakes/agent';
import { startFakeGithub, type FakeGithub } from '../fakes/github';
import { seedAgent, seedAgentSecret } from '../helpers/seed';
import { adminLogin, http, startStack, type Stack } from '../helpers/stack';

const COMPOSE = 'services:\n  web:\n    image: hashicorp/http-echo:latest\n    ports: ["8080:8080"]\n';
const DC = 'baremetal:warm-1';

let stack: Stack;
let gh: FakeGithub;
let agents: FakeAgentServer;
let admin: string;
let api: ReturnType<typeof http>;

async function agent(over: Record<string, unknown>) {
  const a = await seedAgent(stack.db, over);
  const secret = await seedAgentSecret(stack.db, a.agent_id);
  await stack
    .db('agent_control_credentials')
    .where({ agent_id: a.agent_id })
    .update({ api_secret_sealed: seal(stack.deps.sealingKey, secret).sealed });
  agents.agent(a.agent_id, { secret, callback: { cpUrl: stack.url, delayMs: 100 } });
  return a;
}
const reservations = (agentId: string) => stack.db('capacity_reservations').where({ agent_id: agentId });
async function deploy(owner: string, app: string): Promise<{ deployment_id: string; agent_id: string }> {
  const token = await gh.signOidcToken({ repository: `${owner}/${app}`, repository_owner: owner });
  const r = await api.post('/api/v1/deploy', { token, json: { compose: COMPOSE, app_name: app } });
  expect(r.status, r.text).toBe(202);
  return r.body;
}
async function until<T>(f: () => Promise<T | null | undefined | false>): Promise<T> {
  for (let i = 0; i < 300; i++) {
    const v = await f();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('timed out');
}

beforeAll(async () => {
  gh = await startFakeGithub();
  agents = await startFakeAgent();
  stack = await startStack({
    env: { GITHUB_OIDC_JWKS_URL: gh.jwksUrl, AGENT_DIRECT_URL: agents.directUrlTemplate },
  });
  api = http(stack.url);
  admin = await adminLogin(stack.url);
}, 60_000);
afterAll(async () => {
  await stack?.close();
  await agents?.close();
  await gh?.close();
});

describe('warm reservations at deploy', () => {
  it('the reconcile reserves a pool agent; its deployment consumes that reservation', async () => {
    const a = await agent({ datacenter: DC, github_owner: 'warm-org' });
    const put = await api.put('/api/v1/admin/agents/capacity/targets', {
      token: admin,
      json: { datacenter: DC, node_size: 'tiny', min_warm_count: 1 },
    });
    expect(put.status, put.text).toBe(200);
    await stack.client.workflow.execute('capacityReconcile', {
      taskQueue: stack.taskQueue,
      workflowId: `capacity-reconcile-test-${Date.now()}`,
      args: [],
    });
    const [open] = await reservations(a.agent_id);
    expect(open).toMatchObject({ status: 'open', datacenter: DC, deployment_id: null });

    const d = await deploy('warm-org', 'warm-app');
    expect(d.agent_id).toBe(a.agent_id);
    const rows = await until(async () => {
      const r = await reservations(a.agent_id);
      return r[0]?.status === 'consumed' ? r : null;
    });
    expect(rows).toEqual([
      expect.objectContaining({ reservation_id: open.reservation_id, deployment_id: d.deployment_id }),
    ]);
  }, 60_000);

  it('an unreserved pool agent gets an on-demand reservation consumed by the deployment; others get none', async () => {
    const b = await agent({ datacenter: DC, github_owner: 'ondemand-org' });
    const outside = await agent({ datacenter: 'baremetal:no-pool', github_owner: 'outside-org' });
    expect(await reservations(b.agent_id)).toHaveLength(0);
    const d = await deploy('ondemand-org', 'od-app');
    expect(d.agent_id).toBe(b.agent_id);
    const [r] = await until(async () => {
      const x = await reservations(b.agent_id);
      return x.length ? x : null;
    });
    expect(r).toMatchObject({
      status: 'consumed',
      deployment_id: d.deployment_id,
      note: 'on-demand reservation during deploy placement',
    });
    const o = await deploy('outside-org', 'out-app');
    expect(o.agent_id).toBe(outside.agent_id);
    await until(
      async () => (await stack.db('agents').where({ agent_id: outside.agent_id }).first()).status !== 'undeployed',
    );
    expect(await reservations(outside.agent_id)).toHaveLength(0);
  }, 60_000);
});
