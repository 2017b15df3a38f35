/**
 * Trust issue, attestation (items 6 and 7) with the settings as shipped: the nonce mode is `required` by default,
 * the v1 agent's REPORTDATA layout (hex-decoded nonce, zero-padded) registers, an unbound token — such as one an
 * agent's public health endpoint could mint — is refused, and a replayed registration never returns credentials.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { challenge, countAgents, register, startAgentWorld, token, type AgentWorld } from '../helpers/agents';

describe('trust: nonce layout and registration replay (default settings)', () => {
  let w: AgentWorld;

  // '' overrides the agent world's `optional`: an empty env value falls through to the registry default.
  beforeAll(async () => {
    w = await startAgentWorld({ env: { NONCE_ENFORCEMENT_MODE: '' } });
  });
  afterAll(async () => {
    await w?.close();
  });

  const v1ReportData = (nonce: string) => {
    // What the v1 agent writes (spec/agent.md §4.4): bytes.fromhex(nonce), zero-padded to 64 bytes.
    const b = Buffer.alloc(64);
    Buffer.from(nonce, 'hex').copy(b);
    return b.toString('hex');
  };

  it('ships with nonce_enforcement_mode = required', async () => {
    expect(await w.stack.deps.settings.get('operational.nonce_enforcement_mode')).toBe('required');
    const listed = await w.api.get('/api/v1/admin/settings', { token: w.admin });
    const entry = (listed.body.settings as { key: string; value: string; source: string }[]).find(
      (s) => s.key === 'operational.nonce_enforcement_mode',
    );
    expect(entry).toMatchObject({ value: 'required' });
  });

  it('a v1-layout nonce registers in required mode', async () => {
    const vm = 'vm-v1-layout';
    const nonce = await challenge(w, vm);
    const res = await register(w, vm, await token(w, { reportData: v1ReportData(nonce) }));
    expect(res.status, res.text).toBe(200);
    expect(res.body.agent_api_secret).toBeTruthy();
    expect(await countAgents(w, vm)).toBe(1);
    expect((await w.stack.db('agent_nonces').where({ vm_name: vm }).first()).consumed_by).toBeTruthy();
  });

  it('an unbound token (no nonce, or the nonce as ASCII text) is refused by default and writes nothing', async () => {
    const vm = 'vm-unbound';
    const nonce = await challenge(w, vm);
    const ascii = Buffer.alloc(64);
    Buffer.from(nonce, 'utf8').copy(ascii);
    for (const reportData of ['00'.repeat(64), ascii.toString('hex')]) {
      const res = await register(w, vm, await token(w, { reportData }));
      expect(res.status).toBe(400);
      expect(res.body.detail).toBe('Nonce required. Call GET /api/v1/agents/challenge first');
    }
    const wrong = await register(w, vm, await token(w, { reportData: v1ReportData('ab'.repeat(16)) }));
    expect(wrong.status).toBe(403);
    expect(wrong.body.detail).toBe(`Nonce verification failed: Nonce mismatch for ${vm}`);
    expect(await countAgents(w, vm)).toBe(0);
    expect(w.cf.tunnels()).toHaveLength(1); // only the v1-layout agent's tunnel exists
    // the challenge is still usable by the real agent
    expect((await w.stack.db('agent_nonces').where({ vm_name: vm }).first()).consumed_by).toBeNull();
  });

  it('a replayed registration gets the agent id but never the control secret or tunnel token again', async () => {
    const vm = 'vm-replayed';
    const nonce = await challenge(w, vm);
    const tok = await token(w, { reportData: v1ReportData(nonce) });
    const first = await register(w, vm, tok);
    expect(first.status, first.text).toBe(200);
    const cred = await w.stack.db('agent_control_credentials').where({ agent_id: first.body.agent_id }).first();

    const replay = await register(w, vm, tok);
    expect(replay.status).toBe(409);
    expect(replay.body.detail).toContain(first.body.agent_id);
    expect(replay.body.detail).toMatch(/Request a fresh challenge/);
    expect(replay.text).not.toContain(first.body.agent_api_secret);
    expect(replay.text).not.toContain(first.body.tunnel_token);
    // nothing rotated or re-created
    expect(await w.stack.db('agent_control_credentials').where({ agent_id: first.body.agent_id }).first()).toEqual(
      cred,
    );
    expect(await countAgents(w, vm)).toBe(1);
    expect(w.cf.tunnels().filter((t) => t.name === `agent-${first.body.agent_id}`)).toHaveLength(1);
  });
});
