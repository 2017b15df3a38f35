import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyConsoleToken } from '../../core/auth/console-token';
import { silentLogger } from '../../core/logger';
import { ensureSchedules } from '../../bin/lib/schedules';
import { SCHEDULES } from '../../workflows/contracts/schedules';
import { startFakeAgent, type FakeAgentServer } from '../fakes/agent';
import { seedAgent, seedAgentSecret } from '../helpers/seed';
import {
  MRTD,
  RTMRS,
  UNTRUSTED_MRTD,
  register,
  setSetting,
  startAgentWorld,
  token,
  type AgentWorld,
} from '../helpers/agents';

const hbBody = async (w: AgentWorld, vm: string, claims = {}) => ({
  vm_name: vm,
  attestation: { tdx: { intel_ta_token: await token(w, claims) } },
});

describe('agent lifecycle', () => {
  let w: AgentWorld;
  let fake: FakeAgentServer;
  beforeAll(async () => {
    fake = await startFakeAgent();
    w = await startAgentWorld({ env: { AGENT_DIRECT_URL: fake.directUrlTemplate } });
  }, 60_000);
  afterAll(async () => {
    await w?.close();
    await fake?.close();
  });

  async function registered(vm: string) {
    const r = await register(w, vm, await token(w));
    expect(r.status, r.text).toBe(200);
    return r.body as { agent_id: string; agent_api_secret: string; hostname: string; tunnel_token: string };
  }

  it('heartbeats always need the agent secret (no legacy unauthenticated path)', async () => {
    const a = await registered('vm-auth');
    const body = await hbBody(w, 'vm-auth');
    expect((await w.api.post(`/api/v1/agents/nope/heartbeat`, { json: body })).status).toBe(404);
    const none = await w.api.post(`/api/v1/agents/${a.agent_id}/heartbeat`, { json: body });
    expect(none.status).toBe(401);
    expect(none.body.detail).toBe('Missing agent Authorization bearer token');
    const bad = await w.api.post(`/api/v1/agents/${a.agent_id}/heartbeat`, { json: body, token: 'x'.repeat(64) });
    expect(bad.body.detail).toBe('Invalid agent Authorization bearer token');
    // An agent without any stored credential is refused too (v1 let it through).
    const legacy = await seedAgent(w.stack.db, { mrtd: MRTD });
    const l = await w.api.post(`/api/v1/agents/${legacy.agent_id}/heartbeat`, {
      json: await hbBody(w, legacy.vm_name),
    });
    expect(l.status).toBe(401);
    const wrongVm = await w.api.post(`/api/v1/agents/${a.agent_id}/heartbeat`, {
      json: await hbBody(w, 'other'),
      token: a.agent_api_secret,
    });
    expect(wrongVm.status).toBe(400);
    expect(wrongVm.body.detail).toBe('vm_name does not match agent record');
    const forged = await w.api.post(`/api/v1/agents/${a.agent_id}/heartbeat`, {
      json: {
        vm_name: 'vm-auth',
        attestation: { tdx: { intel_ta_token: await w.ita.forgeToken({ tdx_mrtd: MRTD }) } },
      },
      token: a.agent_api_secret,
    });
    expect(forged.status).toBe(403);
    expect(forged.body.detail).toBe('Intel TA verification failed: Token signature verification failed');
  });

  it("a heartbeat's attestation refresh re-applies the full trust policy before marking verified", async () => {
    // An unverified (untrusted MRTD) agent that somehow holds a secret cannot flip itself to verified.
    const u = await seedAgent(w.stack.db, { mrtd: UNTRUSTED_MRTD, verified: false, status: 'unverified' });
    const secret = await seedAgentSecret(w.stack.db, u.agent_id);
    const hb = await w.api.post(`/api/v1/agents/${u.agent_id}/heartbeat`, {
      json: await hbBody(w, u.vm_name, { mrtd: UNTRUSTED_MRTD }),
      token: secret,
    });
    expect(hb.status, hb.text).toBe(200);
    const row = await w.stack.db('agents').where({ agent_id: u.agent_id }).first();
    expect(Boolean(row.verified)).toBe(false);
    expect(row.attestation_error).toMatch(/^MRTD not in trusted list/);

    // RTMR drift in the SIGNED token un-verifies a registered agent.
    const a = await registered('vm-drift');
    const drift = await w.api.post(`/api/v1/agents/${a.agent_id}/heartbeat`, {
      json: await hbBody(w, 'vm-drift', { rtmrs: { ...RTMRS, rtmr2: 'ee'.repeat(48) } }),
      token: a.agent_api_secret,
    });
    expect(drift.status).toBe(200);
    const d = await w.stack.db('agents').where({ agent_id: a.agent_id }).first();
    expect(Boolean(d.verified)).toBe(false);
    expect(Boolean(d.attestation_valid)).toBe(false);
    expect(d.attestation_error).toBe('RTMR drift detected: rtmr2 changed');

    // A different MRTD than the record is refused outright.
    const other = await w.api.post(`/api/v1/agents/${a.agent_id}/heartbeat`, {
      json: await hbBody(w, 'vm-drift', { mrtd: 'f0'.repeat(48) }),
      token: a.agent_api_secret,
    });
    expect(other.status).toBe(403);
    expect(other.body.detail).toBe('MRTD does not match agent record');
  });

  it('status and deployed reports go through the entity workflow', async () => {
    const a = await registered('vm-status');
    const st = await w.api.post(`/api/v1/agents/${a.agent_id}/status`, {
      json: { status: 'deploying', deployment_id: 'dep-1' },
      token: a.agent_api_secret,
    });
    expect(st.status, st.text).toBe(200);
    const dp = await w.api.post(`/api/v1/agents/${a.agent_id}/deployed`, {
      json: { deployment_id: 'dep-1', service_id: 'svc-1', attestation: {} },
      token: a.agent_api_secret,
    });
    expect(dp.status, dp.text).toBe(200);
    expect(dp.body).toEqual({ status: 'ok', service_id: 'svc-1' });
    const row = await w.stack.db('agents').where({ agent_id: a.agent_id }).first();
    expect(row.status).toBe('deployed');
    expect(row.current_deployment_id).toBe('dep-1');
    expect(row.health_status).toBe('healthy');
    expect(row.service_url).toBe(`https://${a.hostname}`);
    const history = await w.stack.client.workflow.getHandle(`agent:${a.agent_id}`).fetchHistory();
    const updates = (history.events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes);
    expect(updates).toHaveLength(2);
  });

  it('the entity workflow continues as new and keeps serving updates', async () => {
    const a = await registered('vm-can');
    const handle = await w.stack.client.workflow.start('agentEntity', {
      taskQueue: w.stack.taskQueue,
      workflowId: `agent:${a.agent_id}`,
      args: [{ agentId: a.agent_id, continueAfter: 2 }],
    });
    for (let i = 0; i < 3; i++) {
      const r = await w.api.post(`/api/v1/agents/${a.agent_id}/heartbeat`, {
        json: await hbBody(w, 'vm-can'),
        token: a.agent_api_secret,
      });
      expect(r.status).toBe(200);
    }
    const desc = await w.stack.client.workflow.getHandle(`agent:${a.agent_id}`).describe();
    expect(desc.runId).not.toBe(handle.firstExecutionRunId);
    expect(desc.status.name).toBe('RUNNING');
  });

  it('health sweep records health and counts as contact; stale clean-up removes silent agents with tunnel and DNS', async () => {
    const healthy = await registered('vm-healthy');
    const silent = await registered('vm-silent');
    fake.agent(silent.agent_id).healthMode = 'unhealthy';
    const sweep = await w.stack.client.workflow.execute('agentHealthSweep', {
      taskQueue: w.stack.taskQueue,
      workflowId: `test-sweep-${healthy.agent_id}`,
    });
    expect(sweep.checked).toBeGreaterThanOrEqual(2);
    const h = await w.stack.db('agents').where({ agent_id: healthy.agent_id }).first();
    const s = await w.stack.db('agents').where({ agent_id: silent.agent_id }).first();
    expect(h.health_status).toBe('healthy');
    expect(s.health_status).toBe('unhealthy');
    expect(s.unhealthy_since).toBeTruthy();

    // Both agents stopped heartbeating two days ago; only the healthy one was in contact since (health check).
    const old = new Date(Date.now() - 48 * 3600_000).toISOString();
    await w.stack.db('agents').whereIn('agent_id', [healthy.agent_id, silent.agent_id]).update({ last_heartbeat: old });
    await w.stack.db('agents').where({ agent_id: silent.agent_id }).update({ last_contact_at: old });
    const tunnelOf = (id: string) => w.cf.tunnels().filter((t) => t.name === `agent-${id}`);
    expect(tunnelOf(silent.agent_id)).toHaveLength(1);

    const res = await w.stack.client.workflow.execute('agentStaleCleanup', {
      taskQueue: w.stack.taskQueue,
      workflowId: `test-stale-${silent.agent_id}`,
      args: [{}],
    });
    expect(res.deleted).toContain(silent.agent_id);
    expect(res.deleted).not.toContain(healthy.agent_id);
    expect(await w.stack.db('agents').where({ agent_id: silent.agent_id })).toHaveLength(0);
    expect(await w.stack.db('agent_control_credentials').where({ agent_id: silent.agent_id })).toHaveLength(0);
    expect(tunnelOf(silent.agent_id)).toHaveLength(0);
    expect(w.cf.dnsRecords().filter((r) => r.name === silent.hostname)).toHaveLength(0);
    expect(tunnelOf(healthy.agent_id)).toHaveLength(1);
  });

  it('pull mode: the sweep fetches a fresh attestation and re-verifies it under the full policy', async () => {
    const a = await registered('vm-pull');
    // Registration counts as an attestation check; make this agent due (interval: 3600 s).
    await w.stack
      .db('agents')
      .where({ agent_id: a.agent_id })
      .update({ last_attestation_check: new Date(Date.now() - 7200_000).toISOString() });
    await setSetting(w, 'operational.agent_attestation_pull_enabled', 'true');
    try {
      await w.stack.client.workflow.execute('agentHealthSweep', {
        taskQueue: w.stack.taskQueue,
        workflowId: `test-sweep-pull-${a.agent_id}`,
      });
    } finally {
      await setSetting(w, 'operational.agent_attestation_pull_enabled', 'false');
    }
    expect(fake.requests.some((r) => r.agentId === a.agent_id && r.query.attest === 'true')).toBe(true);
    // The fake agent answers with an unsigned placeholder token: the refresh must not keep the agent verified.
    const row = await w.stack.db('agents').where({ agent_id: a.agent_id }).first();
    expect(Boolean(row.verified)).toBe(false);
    expect(Boolean(row.attestation_valid)).toBe(false);
    expect(row.attestation_error).toMatch(/^Intel TA verification failed/);
    expect(row.last_attestation_check).toBeTruthy();
  });

  it('stale clean-up honours a small agent_stale_hours', async () => {
    const a = await registered('vm-stale-hours');
    await setSetting(w, 'operational.agent_stale_hours', '0.0001'); // 0.36 s
    try {
      await new Promise((r) => setTimeout(r, 800));
      const res = await w.stack.client.workflow.execute('agentStaleCleanup', {
        taskQueue: w.stack.taskQueue,
        workflowId: `test-stale-hours-${a.agent_id}`,
        args: [{}],
      });
      expect(res.deleted).toContain(a.agent_id);
      expect(w.cf.tunnels().filter((t) => t.name === `agent-${a.agent_id}`)).toHaveLength(0);
    } finally {
      await setSetting(w, 'operational.agent_stale_hours', '24');
    }
  });

  it('admin delete, reset, owner label, console access, logs and stats', async () => {
    const a = await registered('vm-admin');
    const path = `/api/v1/agents/${a.agent_id}`;
    expect((await w.api.delete(path)).status).toBe(401);

    const owner = await w.api.patch(`${path}/owner`, { token: w.admin, json: { github_owner: 'acme' } });
    expect(owner.body).toEqual({ agent_id: a.agent_id, github_owner: 'acme' });
    expect((await w.api.get(path)).body.github_owner).toBe('acme');

    await w.stack.db('agents').where({ agent_id: a.agent_id }).update({ status: 'deployed', deployed_app: 'x' });
    const reset = await w.api.post(`${path}/reset`, { token: w.admin });
    expect(reset.body).toEqual({ status: 'reset', agent_id: a.agent_id, tunnel_created: false });
    expect((await w.api.get(path)).body.status).toBe('undeployed');

    const bad = await w.api.post(`${path}/console-access?ttl_seconds=10`, { token: w.admin });
    expect(bad.status).toBe(422);
    const ca = await w.api.post(`${path}/console-access?ttl_seconds=900`, { token: w.admin });
    expect(ca.status, ca.text).toBe(200);
    expect(ca.body.auth_mode).toBe('cp_relay');
    expect(ca.body.console_url).toBe(`https://${a.hostname}/admin?token=${encodeURIComponent(ca.body.token)}`);
    const claims = verifyConsoleToken(ca.body.token, a.agent_api_secret, Date.now());
    expect(claims).toMatchObject({ agent_id: a.agent_id, sub: 'agent-admin', is_admin: true });
    expect((claims!.exp as number) - (claims!.iat as number)).toBe(900);

    fake.agent(a.agent_id, { secret: a.agent_api_secret });
    expect((await w.api.get(`${path}/logs?since=10m`)).status).toBe(401); // tenant data: never anonymous
    const logs = await w.api.get(`${path}/logs?since=10m`, { token: w.admin });
    expect(logs.status, logs.text).toBe(200);
    expect(logs.body.logs.length).toBeGreaterThan(0);
    const stats = await w.api.get(`${path}/stats`, { token: w.admin });
    expect(stats.status).toBe(200);
    expect(stats.body.cpu_percent).toBe(3.5);

    const del = await w.api.delete(path, { token: w.admin });
    expect(del.body).toEqual({ status: 'deleted', agent_id: a.agent_id });
    expect((await w.api.get(path)).status).toBe(404);
    expect(w.cf.tunnels().filter((t) => t.name === `agent-${a.agent_id}`)).toHaveLength(0);
    expect(w.cf.dnsRecords().filter((r) => r.name === a.hostname)).toHaveLength(0);
    expect((await w.api.delete(path, { token: w.admin })).status).toBe(404);
  });

  it("reports the CP's own attestation without a TSM instead of crashing", async () => {
    const r = await w.api.get('/api/v1/attestation?nonce=abc');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ nonce: 'abc', error: 'TDX not available (control plane not in TEE)' });
  });

  it('the health sweep and stale clean-up are schedules', async () => {
    const defs = SCHEDULES.filter((s) => s.scheduleId.startsWith('agent-')).map((s) => ({
      ...s,
      scheduleId: `${s.scheduleId}-${w.stack.taskQueue}`,
    }));
    expect(defs.map((d) => d.everyMs)).toEqual([30_000, 3_600_000]);
    await ensureSchedules(w.stack.client, w.stack.taskQueue, silentLogger(), defs);
    try {
      for (const d of defs) {
        const desc = await w.stack.client.schedule.getHandle(d.scheduleId).describe();
        expect(desc.action.workflowType).toBe(d.workflowType);
      }
    } finally {
      for (const d of defs) await w.stack.client.schedule.getHandle(d.scheduleId).delete();
    }
  });
});
