/**
 * Trust issue, money (items 9 and 10): the last partial hour of a deployment is charged exactly once, prorated to
 * the second, with the usual split; deleting or resetting its agent ends it through its workflow; an account with
 * a live deployment cannot be deleted. Real stack, deploys over HTTP, a fake agent fleet that calls back.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { seal } from '../../core/auth/seal';
import { hourLabel, hourStartIso } from '../../core/billing';
import { usageChargeMicros } from '../../core/pricing';
import { chargeDeployments, stopDeploymentWithFinalCharge } from '../../core/stores/billing';
import { getBalance } from '../../core/stores/ledger';
import { startFakeAgent, type FakeAgentServer } from '../fakes/agent';
import { seedAgent, seedAgentSecret } from '../helpers/seed';
import { adminLogin, http, startStack, type Stack } from '../helpers/stack';

const COMPOSE = 'services:\n  web:\n    image: nginx:1.27\n';
const HOURLY = 100_000; // 2 vCPU + 4 GB, adhoc: $0.10/h

describe('trust: final charges and deployments that end with their agent', () => {
  let stack: Stack;
  let agents: FakeAgentServer;
  let admin: string;
  let api: ReturnType<typeof http>;

  beforeAll(async () => {
    agents = await startFakeAgent();
    stack = await startStack({
      env: { AGENT_DIRECT_URL: agents.directUrlTemplate, DEPLOY_CALLBACK_TIMEOUT_SECONDS: '10' },
    });
    api = http(stack.url);
    admin = await adminLogin(stack.url);
  });
  afterAll(async () => {
    await stack?.close();
    await agents?.close();
  });
  beforeEach(() => agents.reset());

  const row = (t: string, where: Record<string, unknown>) => stack.db(t).where(where).first();

  async function waitFor<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
    const until = Date.now() + ms;
    for (;;) {
      const v = await fn();
      if (ok(v) || Date.now() > until) return v;
      await new Promise((r) => setTimeout(r, 150));
    }
  }

  async function deployer(name: string): Promise<{ account_id: string; api_key: string }> {
    const r = await api.post('/api/v1/accounts', { json: { name, account_type: 'deployer' } });
    await api.post(`/api/v1/accounts/${r.body.account_id}/deposit`, { token: admin, json: { amount: 20 } });
    return { account_id: r.body.account_id, api_key: r.body.api_key };
  }

  /** An operator-owned agent running a fresh deployment of `owner`, started `minutesAgo` (never charged yet). */
  async function runningOnOwnAgent(owner: { api_key: string }, minutesAgo: number) {
    const operator = await api.post('/api/v1/accounts', {
      json: { name: `op-${Math.random().toString(36).slice(2)}`, account_type: 'agent' },
    });
    const a = await seedAgent(stack.db, { github_owner: null, account_id: operator.body.account_id });
    const secret = await seedAgentSecret(stack.db, a.agent_id);
    await stack
      .db('agent_control_credentials')
      .where({ agent_id: a.agent_id })
      .update({ api_secret_sealed: seal(stack.deps.sealingKey, secret).sealed });
    agents.agent(a.agent_id, { secret, callback: { cpUrl: stack.url, delayMs: 100 } });
    const r = await api.post('/api/v1/deploy', {
      token: owner.api_key,
      json: { compose: COMPOSE, app_name: 'metered', agent_id: a.agent_id },
    });
    expect(r.status, r.text).toBe(202);
    const id = r.body.deployment_id as string;
    await waitFor(
      () => row('deployments', { deployment_id: id }),
      (d) => d.status === 'running',
    );
    const startedAt = new Date(Date.now() - minutesAgo * 60_000).toISOString();
    await stack.db('deployments').where({ deployment_id: id }).update({ started_at: startedAt });
    return { deploymentId: id, agentId: a.agent_id, operatorId: operator.body.account_id as string, startedAt };
  }

  const ledger = (deploymentId: string) =>
    stack.db('transactions').where('ledger_key', 'like', `charge:${deploymentId}:%`).orderBy('ledger_key');

  /** The final period the stack must have charged: from `from` to the deployment's completed_at, whole seconds. */
  async function expectedFinal(deploymentId: string, from: string): Promise<number> {
    const d = await row('deployments', { deployment_id: deploymentId });
    const ms = Math.floor((new Date(d.completed_at).getTime() - new Date(from).getTime()) / 1000) * 1000;
    return usageChargeMicros({ hourlyMicros: HOURLY, elapsedMs: ms });
  }

  it('9. a deployment stopped mid-hour gets one final prorated charge, split 70/30; a re-run adds nothing', async () => {
    const owner = await deployer('final-charge');
    const before = await getBalance(stack.db, owner.account_id);
    const d = await runningOnOwnAgent(owner, 30);

    const u = await api.post(`/api/v1/agents/${d.agentId}/undeploy`, { token: admin });
    expect(u.status, u.text).toBe(200);
    const stopped = await row('deployments', { deployment_id: d.deploymentId });
    expect(stopped.status).toBe('stopped');

    const charge = await expectedFinal(d.deploymentId, d.startedAt);
    expect(charge).toBeGreaterThanOrEqual(50_000); // ~30 min of $0.10/h
    expect(charge).toBeLessThan(52_000);
    const rows = await ledger(d.deploymentId);
    expect(rows.map((r) => r.ledger_key)).toEqual([
      `charge:${d.deploymentId}:final:deployer`,
      `charge:${d.deploymentId}:final:operator`,
    ]);
    const byKey = Object.fromEntries(rows.map((r) => [r.ledger_key.split(':').pop(), Number(r.amount)]));
    expect(byKey.deployer).toBe(-charge);
    expect(byKey.operator).toBe(Math.floor((charge * 7000) / 10_000));
    expect(await getBalance(stack.db, owner.account_id)).toBe(before - charge);
    expect(Number(stopped.total_charged)).toBe(charge);

    // The hour's scheduled run and a retried stop both find nothing to bill.
    const settings = { contributorPoolBps: 5000, platformAccountId: '' };
    const hour = hourLabel(new Date(Date.now() + 3_600_000));
    const rerun = await chargeDeployments(stack.db, {
      ...settings,
      deploymentIds: [d.deploymentId],
      hour,
      chargeTime: hourStartIso(hour),
    });
    expect(rerun.get(d.deploymentId)).toMatchObject({ status: 'skipped', reason: 'not_running' });
    const again = await stopDeploymentWithFinalCharge(stack.db, {
      ...settings,
      deploymentId: d.deploymentId,
      agentId: d.agentId,
      stoppedAt: new Date().toISOString(),
      reason: null,
      billingEnabled: true,
    });
    expect(again.stopped).toBe(false);
    expect(await ledger(d.deploymentId)).toHaveLength(2);
  });

  it('10. deleting an agent ends its deployment through the workflow (final charge, stopped, reason)', async () => {
    const owner = await deployer('agent-deleted');
    const d = await runningOnOwnAgent(owner, 20);

    const del = await api.delete(`/api/v1/agents/${d.agentId}`, { token: admin });
    expect(del.status, del.text).toBe(200);
    const dep = await row('deployments', { deployment_id: d.deploymentId });
    expect(dep).toMatchObject({ status: 'stopped', error: 'agent deleted by an admin' });
    expect(await row('agents', { agent_id: d.agentId })).toBeUndefined();
    // the operator still got their share: the deployment ended before the agent row went
    const rows = await ledger(d.deploymentId);
    expect(rows.map((r) => r.ledger_key.split(':').slice(2).join(':'))).toEqual(['final:deployer', 'final:operator']);
    expect(Number(rows[0].amount)).toBe(-(await expectedFinal(d.deploymentId, d.startedAt)));
    // the deployment's own workflow recorded the end
    const wf = stack.client.workflow.getHandle(`deployment:${d.deploymentId}`);
    expect((await wf.describe()).status.name).toBe('COMPLETED');
    expect(await wf.result()).toMatchObject({ outcome: 'stopped', error: 'agent deleted by an admin' });
    // no later hour bills it
    const hour = hourLabel(new Date(Date.now() + 3_600_000));
    const later = await chargeDeployments(stack.db, {
      deploymentIds: [d.deploymentId],
      hour,
      chargeTime: hourStartIso(hour),
      contributorPoolBps: 5000,
      platformAccountId: '',
    });
    expect(later.get(d.deploymentId)?.status).toBe('skipped');
    expect(await ledger(d.deploymentId)).toHaveLength(2);
  });

  it('10. resetting an agent stops its workload on the agent and ends the deployment', async () => {
    const owner = await deployer('agent-reset');
    const d = await runningOnOwnAgent(owner, 10);
    const r = await api.post(`/api/v1/agents/${d.agentId}/reset`, { token: admin });
    expect(r.status, r.text).toBe(200);
    expect(await row('deployments', { deployment_id: d.deploymentId })).toMatchObject({
      status: 'stopped',
      error: 'agent reset',
    });
    expect(agents.agent(d.agentId).undeploys).toBe(1);
    expect(await row('agents', { agent_id: d.agentId })).toMatchObject({
      status: 'undeployed',
      current_deployment_id: null,
    });
    expect(await ledger(d.deploymentId)).toHaveLength(2);
  });

  it('10. an account with a running deployment cannot be deleted (409), and nothing changes', async () => {
    const owner = await deployer('busy-account');
    const d = await runningOnOwnAgent(owner, 5);
    const r = await api.delete(`/api/v1/accounts/${owner.account_id}`, { token: owner.api_key });
    expect(r.status).toBe(409);
    expect(r.body.detail).toMatch(/active deployment/);
    expect(await row('accounts', { account_id: owner.account_id })).toBeTruthy();
    expect((await row('deployments', { deployment_id: d.deploymentId })).status).toBe('running');
  });
});
