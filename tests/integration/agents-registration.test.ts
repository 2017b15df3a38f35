import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MRTD,
  RTMRS,
  challenge,
  countAgents,
  register,
  registrationWorkflowId,
  setSetting,
  startAgentWorld,
  token,
  type AgentWorld,
} from '../helpers/agents';
import { recordHistory } from '../helpers/histories';

describe('agent registration (end to end over HTTP)', () => {
  let w: AgentWorld;
  beforeAll(async () => {
    w = await startAgentWorld();
  }, 60_000);
  afterAll(() => w?.close());

  it('registers a verified agent with tunnel + CNAME, a working secret and a completed workflow', async () => {
    const vm = 'vm-e2e';
    const nonce = await challenge(w, vm);
    const tok = await token(w, { nonce });
    const cfBefore = w.cf.requests.length;
    const res = await register(w, vm, tok);
    expect(res.status, res.text).toBe(200);
    const { agent_id, agent_api_secret, tunnel_token, hostname, poll_interval } = res.body;
    // A brand-new agent's tunnel and CNAME are created without a look-up first (issue #19): three calls.
    expect(
      w.cf.requests.slice(cfBefore).map((r) => `${r.method} ${r.path.replace(/^.*\/(accounts|zones)\/[^/]+/, '')}`),
    ).toEqual([
      'POST /cfd_tunnel',
      `PUT /cfd_tunnel/${w.cf.tunnels().find((t) => t.name === `agent-${agent_id}`)!.id}/configurations`,
      'POST /dns_records',
    ]);
    expect(poll_interval).toBe(30);
    expect(agent_api_secret).toMatch(/^[A-Za-z0-9_-]{64}$/);
    expect(hostname).toBe(`agent-${agent_id}.${w.cf.zoneName}`);

    // Row: verified with MRTD/RTMRs/TCB from the signed token.
    const row = await w.stack.db('agents').where({ agent_id }).first();
    expect(row.vm_name).toBe(vm);
    expect(Boolean(row.verified)).toBe(true);
    expect(row.status).toBe('undeployed');
    expect(row.mrtd).toBe(MRTD);
    expect(JSON.parse(row.rtmrs)).toEqual(RTMRS);
    expect(row.tcb_status).toBe('UpToDate');
    expect(row.node_size).toBe('tiny');
    expect(row.datacenter).toBe('gcp:us-central1-a');

    // Cloudflare: one tunnel and one CNAME with the deterministic names.
    const tunnels = w.cf.tunnels().filter((t) => t.name === `agent-${agent_id}`);
    expect(tunnels).toHaveLength(1);
    expect(tunnel_token).toBe(tunnels[0]!.token);
    expect(row.tunnel_id).toBe(tunnels[0]!.id);
    const dns = w.cf.dnsRecords().filter((r) => r.name === hostname);
    expect(dns).toHaveLength(1);
    expect(dns[0]!.type).toBe('CNAME');
    expect(dns[0]!.content).toBe(`${tunnels[0]!.id}.cfargotunnel.com`);

    // The control secret is stored as an HMAC (never argon2, never clear) and works on heartbeat.
    const cred = await w.stack.db('agent_control_credentials').where({ agent_id }).first();
    expect(cred.api_secret_hash).toMatch(/^hmac-sha256\$[A-Za-z0-9_-]{11}\$[A-Za-z0-9_-]{43}$/);
    expect(JSON.stringify(cred)).not.toContain(agent_api_secret);
    const hb = await w.api.post(`/api/v1/agents/${agent_id}/heartbeat`, {
      token: agent_api_secret,
      json: { vm_name: vm, attestation: { tdx: { intel_ta_token: await token(w) } } },
    });
    expect(hb.status, hb.text).toBe(200);
    expect(hb.body).toEqual({ status: 'ok' });

    // The registration is a completed workflow whose history never shows the secret or tunnel token in clear.
    const handle = w.stack.client.workflow.getHandle(registrationWorkflowId(vm, tok));
    expect((await handle.describe()).status.name).toBe('COMPLETED');
    const history = JSON.stringify(await handle.fetchHistory());
    expect(history).not.toContain(agent_api_secret);
    expect(history).not.toContain(tunnel_token);
    await recordHistory(w.stack.client, registrationWorkflowId(vm, tok), 'agents', 'register-agent-one-task');
    // …and the agent's entity workflow took the heartbeat.
    expect((await w.stack.client.workflow.getHandle(`agent:${agent_id}`).describe()).status.name).toBe('RUNNING');

    // A repeated identical request re-joins the same run: no second agent, tunnel or secret rotation — and the
    // credentials are not handed out again (409 naming the agent, never the secret or the tunnel token).
    const again = await register(w, vm, tok);
    expect(again.status).toBe(409);
    expect(again.body.detail).toContain(agent_id);
    expect(again.body.detail).toMatch(/fresh challenge/);
    expect(again.text).not.toContain(agent_api_secret);
    expect(again.text).not.toContain(tunnel_token);
    expect(await countAgents(w, vm)).toBe(1);
    expect(w.cf.tunnels().filter((t) => t.name === `agent-${agent_id}`)).toHaveLength(1);
  });

  it('never serves tunnel tokens, ITA tokens or secrets from GET /agents[/{id}]', async () => {
    const vm = 'vm-secrets';
    const tok = await token(w);
    const res = await register(w, vm, tok);
    expect(res.status).toBe(200);
    const one = await w.api.get(`/api/v1/agents/${res.body.agent_id}`);
    const all = await w.api.get(`/api/v1/agents?vm_name=SECRETS`);
    expect(one.status).toBe(200);
    expect(all.body.total).toBe(1);
    expect(Object.keys(one.body)).toHaveLength(33);
    for (const text of [one.text, all.text]) {
      expect(text).not.toContain(tok);
      expect(text).not.toContain(res.body.tunnel_token);
      expect(text).not.toContain(res.body.agent_api_secret);
      expect(text).not.toContain('tunnel_token');
      expect(text).not.toContain('intel_ta_token');
    }
    const chain = await w.api.get(`/api/v1/agents/${res.body.agent_id}/attestation`);
    expect(chain.status).toBe(200);
    expect(chain.body).toMatchObject({ mrtd: MRTD, mrtd_type: 'agent', intel_ta_verified: true, verified: true });
    expect(chain.text).not.toContain(tok);
  });

  it('re-registration keeps the agent id, returns a working tunnel token, keeps tunnel fields and rotates the secret', async () => {
    const vm = 'vm-rereg';
    const first = await register(w, vm, await token(w));
    expect(first.status).toBe(200);
    const before = await w.stack.db('agents').where({ vm_name: vm }).first();
    const second = await register(w, vm, await token(w));
    expect(second.status, second.text).toBe(200);
    expect(second.body.agent_id).toBe(first.body.agent_id);
    expect(second.body.hostname).toBe(first.body.hostname);
    const tunnel = w.cf.tunnels().filter((t) => t.name === `agent-${first.body.agent_id}`);
    expect(tunnel).toHaveLength(1);
    expect(second.body.tunnel_token).toBe(tunnel[0]!.token);
    const after = await w.stack.db('agents').where({ vm_name: vm }).first();
    expect(after.tunnel_id).toBe(before.tunnel_id);
    expect(after.hostname).toBe(before.hostname);
    expect(after.tunnel_token).toBe(tunnel[0]!.token);
    const hb = (secret: string) =>
      token(w).then((t) =>
        w.api.post(`/api/v1/agents/${first.body.agent_id}/heartbeat`, {
          token: secret,
          json: { vm_name: vm, attestation: { tdx: { intel_ta_token: t } } },
        }),
      );
    expect((await hb(first.body.agent_api_secret)).status).toBe(401);
    expect((await hb(second.body.agent_api_secret)).status).toBe(200);
  });

  it('registers without a tunnel when Cloudflare is not configured', async () => {
    const local = await startAgentWorld({ cloudflare: false });
    try {
      const res = await register(local, 'vm-no-cf', await token(local));
      expect(res.status, res.text).toBe(200);
      expect(res.body.tunnel_token).toBeNull();
      expect(res.body.hostname).toBeNull();
      expect(local.cf.requests).toHaveLength(0);
    } finally {
      await local.close();
    }
  }, 60_000);

  it('nonce mode required: the nonce must be bound in the signed REPORTDATA and is one-time', async () => {
    await setSetting(w, 'operational.nonce_enforcement_mode', 'required');
    try {
      const vm = 'vm-nonce';
      const nonce = await challenge(w, vm);
      // The agent claims the nonce next to the token, but the signed report data does not carry it.
      const unbound = await register(w, vm, await token(w), { nonce });
      expect(unbound.status).toBe(400);
      expect(unbound.body.detail).toBe('Nonce required. Call GET /api/v1/agents/challenge first');
      const mismatch = await register(w, vm, await token(w, { nonce: 'f'.repeat(32) }));
      expect(mismatch.status).toBe(403);
      expect(mismatch.body.detail).toBe(`Nonce verification failed: Nonce mismatch for ${vm}`);
      expect(await countAgents(w, vm)).toBe(0);

      const ok = await register(w, vm, await token(w, { nonce }));
      expect(ok.status, ok.text).toBe(200);
      // Replay: the same nonce inside another (fresh, valid) token.
      const replay = await register(w, vm, await token(w, { nonce }));
      expect(replay.status).toBe(403);
      expect(replay.body.detail).toBe(`Nonce verification failed: No nonce challenge found for ${vm}`);
      expect(await countAgents(w, vm)).toBe(1);
      expect(w.cf.tunnels().filter((t) => t.name === `agent-${ok.body.agent_id}`)).toHaveLength(1);

      const vm2 = 'vm-nonce-expired';
      const n2 = await challenge(w, vm2);
      await w.stack
        .db('agent_nonces')
        .where({ vm_name: vm2 })
        .update({ issued_at: new Date(Date.now() - 600_000).toISOString() });
      const expired = await register(w, vm2, await token(w, { nonce: n2 }));
      expect(expired.status).toBe(403);
      expect(expired.body.detail).toBe(`Nonce verification failed: Nonce expired for ${vm2}`);
      expect(await countAgents(w, vm2)).toBe(0);
    } finally {
      await setSetting(w, 'operational.nonce_enforcement_mode', 'optional');
    }
  });
});
