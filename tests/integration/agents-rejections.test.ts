import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { itaClaims } from '../fakes/intel-ta';
import {
  MRTD,
  RTMRS,
  UNTRUSTED_MRTD,
  countAgents,
  register,
  setSetting,
  startAgentWorld,
  token,
  type AgentWorld,
} from '../helpers/agents';

describe('agent registration rejections', () => {
  let w: AgentWorld;
  beforeAll(async () => {
    w = await startAgentWorld();
  }, 60_000);
  afterAll(() => w?.close());

  /** Each rejection leaves no agent row (unless stated) and no tunnel. */
  async function expectRejected(
    vm: string,
    res: { status: number; body: { detail: string | { msg: string }[] } },
    status: number,
    detail: string | RegExp,
  ) {
    expect(res.status).toBe(status);
    // A 422 carries the schema's list of issues; the message is one of their `msg`.
    const text = Array.isArray(res.body.detail) ? res.body.detail.map((i) => i.msg).join('\n') : res.body.detail;
    if (typeof detail === 'string') expect(text).toBe(detail);
    else expect(text).toMatch(detail);
    expect(await countAgents(w, vm)).toBe(0);
    expect(w.cf.tunnels()).toHaveLength(0);
  }

  it('rejects a missing, forged, expired, wrongly signed or mis-addressed token', async () => {
    await expectRejected(
      'vm-a',
      await register(w, 'vm-a', undefined),
      422,
      'Registration requires attestation with tdx.intel_ta_token (or insecure-local development evidence)',
    );
    const claims = itaClaims({ mrtd: MRTD, rtmrs: RTMRS });
    await expectRejected(
      'vm-b',
      await register(w, 'vm-b', await w.ita.forgeToken(claims)),
      403,
      'Intel TA verification failed: Token signature verification failed',
    );
    await expectRejected(
      'vm-c',
      await register(w, 'vm-c', await token(w, {}, { expiresInSec: -600 })),
      403,
      'Intel TA verification failed: Token has expired',
    );
    await expectRejected(
      'vm-d',
      await register(w, 'vm-d', await w.ita.hs256Token(claims)),
      403,
      /^Intel TA verification failed: JWT verification failed: .*alg/,
    );
    await expectRejected(
      'vm-e',
      await register(w, 'vm-e', w.ita.unsignedToken(claims)),
      403,
      /^Intel TA verification failed: JWT verification failed/,
    );
    await expectRejected(
      'vm-f',
      await register(w, 'vm-f', await token(w, {}, { issuer: 'https://evil.example' })),
      403,
      /^Intel TA verification failed: JWT verification failed: Invalid issuer/,
    );
    await expectRejected(
      'vm-g',
      await register(w, 'vm-g', await token(w, {}, { audience: 'someone-else' })),
      403,
      /^Intel TA verification failed: JWT verification failed: Invalid audience/,
    );
  });

  it('checks the audience when one is configured', async () => {
    await setSetting(w, 'intel_ta.audience', 'easyenclave-cp');
    try {
      await expectRejected(
        'vm-aud',
        await register(w, 'vm-aud', await token(w, {}, { audience: 'other' })),
        403,
        /Invalid audience/,
      );
      const ok = await register(w, 'vm-aud2', await token(w, {}, { audience: 'easyenclave-cp' }));
      expect(ok.status, ok.text).toBe(200);
      await w.api.delete(`/api/v1/agents/${ok.body.agent_id}`, { token: w.admin });
    } finally {
      await setSetting(w, 'intel_ta.audience', '');
    }
  });

  it('rejects bad vm_name, node_size and datacenter before anything runs', async () => {
    const tok = await token(w);
    // Declared in the route schema (the OpenAPI document says the same), so each is a 422 naming the field.
    await expectRejected('', await register(w, '   ', tok), 422, 'Registration requires vm_name');
    const nodeSize = 'Registration requires node_size: a lowercase token like tiny, standard, llm';
    await expectRejected('vm-h', await register(w, 'vm-h', tok, { node_size: '' }), 422, nodeSize);
    await expectRejected('vm-h', await register(w, 'vm-h', tok, { node_size: 'Big Size!' }), 422, nodeSize);
    const dc = "Registration requires datacenter: '<cloud>:<zone>' (for example gcp:us-central1-a)";
    await expectRejected('vm-h', await register(w, 'vm-h', tok, { datacenter: '' }), 422, dc);
    await expectRejected('vm-h', await register(w, 'vm-h', tok, { datacenter: 'gcp:bad zone!' }), 422, dc);
    await expectRejected(
      'vm-h',
      await register(w, 'vm-h', tok, { attestation: {} }),
      422,
      'Registration requires attestation with tdx.intel_ta_token (or insecure-local development evidence)',
    );
  });

  it('records an untrusted MRTD as one unverified row for admin approval, with no tunnel or secret', async () => {
    const vm = 'vm-untrusted';
    const res = await register(w, vm, await token(w, { mrtd: UNTRUSTED_MRTD }));
    expect(res.status).toBe(403);
    expect(res.body.detail).toBe(`MRTD not in trusted list: ${UNTRUSTED_MRTD.slice(0, 32)}...`);
    const rows = await w.stack.db('agents').where({ vm_name: vm });
    expect(rows).toHaveLength(1);
    expect(rows[0].status).toBe('unverified');
    expect(Boolean(rows[0].verified)).toBe(false);
    expect(rows[0].mrtd).toBe(UNTRUSTED_MRTD);
    expect(rows[0].verification_error).toBe(res.body.detail);
    expect(await w.stack.db('agent_control_credentials').where({ agent_id: rows[0].agent_id })).toHaveLength(0);
    expect(w.cf.tunnels()).toHaveLength(0);

    // Once an admin trusts the MRTD the same vm_name registers under the same id.
    const put = await w.api.post('/api/v1/admin/trusted-mrtds', {
      token: w.admin,
      json: { mrtd: UNTRUSTED_MRTD, type: 'agent' },
    });
    expect(put.status, put.text).toBe(200);
    const again = await register(w, vm, await token(w, { mrtd: UNTRUSTED_MRTD }));
    expect(again.status, again.text).toBe(200);
    expect(again.body.agent_id).toBe(rows[0].agent_id);
    await w.api.delete(`/api/v1/agents/${again.body.agent_id}`, { token: w.admin });
    await w.api.delete(`/api/v1/admin/trusted-mrtds/${UNTRUSTED_MRTD}`, { token: w.admin });
  });

  it('never downgrades a verified agent when it comes back with an untrusted MRTD', async () => {
    const vm = 'vm-keep';
    const ok = await register(w, vm, await token(w));
    expect(ok.status).toBe(200);
    const res = await register(w, vm, await token(w, { mrtd: UNTRUSTED_MRTD }));
    expect(res.status).toBe(403);
    const row = await w.stack.db('agents').where({ vm_name: vm }).first();
    expect(Boolean(row.verified)).toBe(true);
    expect(row.mrtd).toBe(MRTD);
    await w.api.delete(`/api/v1/agents/${ok.body.agent_id}`, { token: w.admin });
  });

  it('rejects re-registration drift of a verified agent with 409', async () => {
    const ok = await register(w, 'vm-drift409', await token(w));
    expect(ok.status).toBe(200);
    const res = await register(w, 'vm-drift409', await token(w), { node_size: 'llm' });
    expect(res.status).toBe(409);
    expect(res.body.detail).toBe("Re-registration rejected: node_size changed for existing vm_name ('tiny' -> 'llm')");
    await w.api.delete(`/api/v1/agents/${ok.body.agent_id}`, { token: w.admin });
  });

  it('strict TCB mode rejects an out-of-date TCB', async () => {
    await setSetting(w, 'operational.tcb_enforcement_mode', 'strict');
    try {
      await expectRejected(
        'vm-tcb',
        await register(w, 'vm-tcb', await token(w, { tcbStatus: 'OutOfDate' })),
        403,
        "TCB status 'OutOfDate' not in allowed list: UpToDate",
      );
    } finally {
      await setSetting(w, 'operational.tcb_enforcement_mode', 'warn');
    }
  });

  it('strict RTMR mode compares the SIGNED RTMRs, never the self-reported ones', async () => {
    await setSetting(w, 'operational.rtmr_enforcement_mode', 'strict');
    try {
      const drifted = { ...RTMRS, rtmr1: 'dd'.repeat(48) };
      // Signed RTMRs drifted, self-report claims the baseline: rejected.
      const res = await register(w, 'vm-rtmr', await token(w, { rtmrs: drifted }), {
        attestation: {
          tdx: { intel_ta_token: await token(w, { rtmrs: drifted }), measurements: { mrtd: MRTD, ...RTMRS } },
        },
      });
      await expectRejected(
        'vm-rtmr',
        res,
        403,
        `RTMR mismatch node_size='tiny': RTMR1: expected ${'b1'.repeat(8)}..., got ${'dd'.repeat(8)}...`,
      );
      // Signed RTMRs match, self-report is garbage: accepted.
      const ok = await register(w, 'vm-rtmr2', undefined, {
        attestation: { tdx: { intel_ta_token: await token(w), measurements: { mrtd: MRTD, ...drifted } } },
      });
      expect(ok.status, ok.text).toBe(200);
      await w.api.delete(`/api/v1/agents/${ok.body.agent_id}`, { token: w.admin });
    } finally {
      await setSetting(w, 'operational.rtmr_enforcement_mode', 'warn');
    }
  });
});
