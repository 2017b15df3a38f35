import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countAgents, register, startAgentWorld, token, type AgentWorld } from '../helpers/agents';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('agent registration under faults', () => {
  let w: AgentWorld;
  beforeAll(async () => {
    w = await startAgentWorld();
  }, 60_000);
  afterAll(() => w?.close());

  it('Cloudflare answering 500 twice then succeeding → one tunnel, registration succeeds', async () => {
    w.cf.reset();
    w.cf.failNext(2, { status: 500, pathIncludes: 'cfd_tunnel' });
    const res = await register(w, 'vm-cf500', await token(w));
    expect(res.status, res.text).toBe(200);
    expect(w.cf.requests.filter((r) => r.status === 500)).toHaveLength(2);
    const tunnels = w.cf.tunnels().filter((t) => t.name === `agent-${res.body.agent_id}`);
    expect(tunnels).toHaveLength(1);
    expect(res.body.tunnel_token).toBe(tunnels[0]!.token);
    expect(w.cf.dnsRecords().filter((r) => r.name === res.body.hostname)).toHaveLength(1);
  });

  it('Cloudflare refusing the tunnel → 502 Failed to create tunnel, no agent row or tunnel left', async () => {
    w.cf.reset();
    w.cf.failNext(1, { status: 400, pathIncludes: 'cfd_tunnel', method: 'POST' });
    const res = await register(w, 'vm-cf400', await token(w));
    expect(res.status).toBe(502);
    expect(res.body.detail).toMatch(/^Failed to create tunnel: /);
    expect(await countAgents(w, 'vm-cf400')).toBe(0);
    expect(w.cf.tunnels()).toHaveLength(0);
  });

  it('a worker killed mid-registration and restarted completes it with exactly one tunnel and one agent', async () => {
    w.cf.reset();
    // Cloudflare fails until the worker is gone, so the registration is certainly in flight when it dies.
    w.cf.failNext(1_000_000, { status: 503, pathIncludes: 'cfd_tunnel' });
    const pending = register(w, 'vm-crash', await token(w));
    for (let i = 0; i < 200 && !w.cf.requests.some((r) => r.status === 503); i++) await sleep(50);
    expect(w.cf.requests.some((r) => r.status === 503)).toBe(true);
    await w.stack.stopWorker();
    const created = w.cf.tunnels().length;
    w.cf.reset(); // clears the fault (and the request log); nothing was created while it failed
    expect(created).toBe(0);
    await sleep(500);
    await w.stack.startWorker();
    const res = await pending;
    expect(res.status, res.text).toBe(200);
    expect(await countAgents(w, 'vm-crash')).toBe(1);
    expect(w.cf.tunnels().filter((t) => t.name === `agent-${res.body.agent_id}`)).toHaveLength(1);
    expect(w.cf.tunnels()).toHaveLength(1);
    expect(w.cf.dnsRecords().filter((r) => r.name === res.body.hostname)).toHaveLength(1);
    const row = await w.stack.db('agents').where({ vm_name: 'vm-crash' }).first();
    expect(row.tunnel_id).toBe(w.cf.tunnels()[0]!.id);
    // The secret returned is the one stored.
    const hb = await w.api.post(`/api/v1/agents/${res.body.agent_id}/heartbeat`, {
      token: res.body.agent_api_secret,
      json: { vm_name: 'vm-crash', attestation: { tdx: { intel_ta_token: await token(w) } } },
    });
    expect(hb.status).toBe(200);
  }, 60_000);
});
