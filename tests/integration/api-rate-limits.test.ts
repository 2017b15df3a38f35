/**
 * Rate limits and client IPs over HTTP against the real stack: two API apps share one database (as N
 * replicas do), refusals are 429 + Retry-After + {detail} and write nothing, X-Forwarded-For counts only
 * from a trusted proxy, and ratelimit.enabled=false lifts every limit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen } from '../../bin/lib/api-server';
import { VerifiedTokenCache } from '../../core/auth/token-cache';
import { SettingsService } from '../../core/settings/service';
import { deleteSetting, upsertSetting } from '../../core/stores/settings';
import { countAgents, register, startAgentWorld, token, type AgentWorld } from '../helpers/agents';
import { testEngines } from '../helpers/databases';
import { ADMIN_PASSWORD, http, startStack, type HttpResult, type Stack } from '../helpers/stack';

const count = async (stack: Stack, table: string) => Number((await stack.db(table).count({ n: '*' }))[0]!.n);

function expectLimited(res: HttpResult, windowSeconds: number) {
  expect(res.status, res.text).toBe(429);
  expect(res.body.detail).toMatch(/^Too many requests; retry in \d+ s$/);
  const retry = Number(res.headers.get('retry-after'));
  expect(Number.isInteger(retry)).toBe(true);
  expect(retry).toBeGreaterThanOrEqual(1);
  expect(retry).toBeLessThanOrEqual(windowSeconds);
}

for (const engine of testEngines()) {
  describe(`admin login limits across two API replicas (${engine})`, () => {
    let stack: Stack;
    let replica: { url: string; close(): Promise<void> };
    let replicaSettings: SettingsService;
    const a = () => http(stack.url);
    const b = () => http(replica.url);
    const login = (api: ReturnType<typeof http>, password: string, xff?: string) =>
      api.post('/admin/login', { json: { password }, headers: xff ? { 'x-forwarded-for': xff } : {} });
    const setDb = async (key: string, value: string | null) => {
      if (value === null) await deleteSetting(stack.db, key);
      else await upsertSetting(stack.db, { key, value, isSecret: false });
      stack.deps.settings.invalidate();
      replicaSettings.invalidate();
    };

    beforeAll(async () => {
      stack = await startStack({ engine, env: { RATELIMIT_ENABLED: 'true' } });
      replicaSettings = new SettingsService(stack.db, { env: stack.env });
      // A second API process over the same database: its own settings cache and credential cache.
      replica = await listen(
        { ...stack.deps, settings: replicaSettings, credentialCache: new VerifiedTokenCache() },
        '127.0.0.1',
        0,
      );
    });
    afterAll(async () => {
      await replica?.close();
      await stack?.close();
    });

    it('the 6th wrong password is 429 on the other replica; a forged X-Forwarded-For changes nothing', async () => {
      for (let i = 0; i < 5; i += 1) {
        // A different X-Forwarded-For each time: the peer is not a trusted proxy, so the socket address counts.
        const res = await login(i % 2 === 0 ? a() : b(), `wrong-${i}`, `203.0.113.${i + 1}`);
        expect(res.status).toBe(401);
        expect(res.body).toEqual({ detail: 'Invalid password' });
      }
      const sessions = await count(stack, 'admin_sessions');
      const sixth = await login(b(), 'wrong-6', '203.0.113.99');
      expectLimited(sixth, 15 * 60);
      // Even the right password is refused from this address now, and no session was written.
      expectLimited(await login(a(), ADMIN_PASSWORD), 15 * 60);
      expect(await count(stack, 'admin_sessions')).toBe(sessions);
      const rows = await stack.db('rate_limits').select('key', 'count');
      expect(rows).toEqual(
        expect.arrayContaining([
          { key: 'admin_login_per_ip:ip:127.0.0.1', count: 5 },
          { key: 'admin_login_per_account:account:admin', count: 5 },
        ]),
      );
      expect(rows.some((r) => String(r.key).includes('203.0.113'))).toBe(false);
    });

    it('behind a trusted proxy the forwarded address counts, and a correct password from another IP works', async () => {
      await setDb('api.trusted_proxies', '10.0.0.0/8, 127.0.0.1');
      try {
        // 198.51.100.7 has its own window although the proxy (127.0.0.1) is locked out.
        const ok = await login(b(), ADMIN_PASSWORD, '198.51.100.7');
        expect(ok.status, ok.text).toBe(200);
        const session = await stack.db('admin_sessions').orderBy('created_at', 'desc').first();
        expect(session.ip_address).toBe('198.51.100.7');
        // The rightmost untrusted hop is the client: a client-supplied first entry is not believed.
        for (let i = 0; i < 5; i += 1) {
          expect((await login(i % 2 ? a() : b(), 'nope', `1.2.3.4, 198.51.100.8, 10.1.2.3`)).status).toBe(401);
        }
        expectLimited(await login(a(), 'nope', '5.6.7.8, 198.51.100.8'), 15 * 60);
        expect((await login(a(), ADMIN_PASSWORD, '198.51.100.9')).status).toBe(200);
        const keys = (await stack.db('rate_limits').select('key')).map((r) => r.key);
        expect(keys).toContain('admin_login_per_ip:ip:198.51.100.8');
        expect(keys.some((k) => k.includes('1.2.3.4') || k.includes('5.6.7.8'))).toBe(false);
      } finally {
        await setDb('api.trusted_proxies', null);
      }
    });

    it('the per-account limit stops a spread-out guess from many addresses', async () => {
      await setDb('api.trusted_proxies', '127.0.0.1');
      await setDb('ratelimit.admin_login_per_account', '12/15m'); // 10 failures so far
      try {
        expect((await login(a(), 'nope', '192.0.2.1')).status).toBe(401);
        expect((await login(b(), 'nope', '192.0.2.2')).status).toBe(401);
        expectLimited(await login(a(), 'nope', '192.0.2.3'), 15 * 60);
        expectLimited(await login(b(), ADMIN_PASSWORD, '192.0.2.4'), 15 * 60);
        // The refusal gave the per-IP count back: 192.0.2.3 and .4 were not charged.
        const keys = (await stack.db('rate_limits').where('count', '>', 0).select('key')).map((r) => r.key);
        expect(keys).toContain('admin_login_per_ip:ip:192.0.2.1');
        expect(keys).not.toContain('admin_login_per_ip:ip:192.0.2.3');
      } finally {
        await setDb('ratelimit.admin_login_per_account', null);
        await setDb('api.trusted_proxies', null);
      }
    });

    it('ratelimit.enabled=false lifts the limits', async () => {
      expectLimited(await login(a(), ADMIN_PASSWORD), 15 * 60);
      await setDb('ratelimit.enabled', 'false');
      try {
        expect((await login(a(), ADMIN_PASSWORD)).status).toBe(200);
        expect((await login(b(), 'wrong')).status).toBe(401);
      } finally {
        await setDb('ratelimit.enabled', null);
      }
      expectLimited(await login(b(), ADMIN_PASSWORD), 15 * 60);
    });
  });
}

describe('account creation and challenge limits', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: {
        RATELIMIT_ENABLED: 'true',
        RATELIMIT_ACCOUNT_CREATE_PER_IP: '2/1h',
        RATELIMIT_AGENT_CHALLENGE_PER_IP: '2/1m',
      },
    });
  });
  afterAll(() => stack?.close());

  it('POST /api/v1/accounts: 429 after the configured count, no account written', async () => {
    const api = http(stack.url);
    const create = (name: string) => api.post('/api/v1/accounts', { json: { name, account_type: 'deployer' } });
    expect((await create('first')).status).toBe(200);
    // A rejected request counts too: the limit guards the endpoint, not just successes.
    expect((await create('')).status).toBe(422);
    const before = await count(stack, 'accounts');
    expectLimited(await create('third'), 3600);
    expect(await count(stack, 'accounts')).toBe(before);
    expect(await stack.db('accounts').where({ name: 'third' }).first()).toBeUndefined();
  });

  it('GET /api/v1/agents/challenge: 429 after the configured count, no nonce written', async () => {
    const api = http(stack.url);
    expect((await api.get('/api/v1/agents/challenge?vm_name=vm-a')).status).toBe(200);
    expect((await api.get('/api/v1/agents/challenge?vm_name=vm-b')).status).toBe(200);
    expectLimited(await api.get('/api/v1/agents/challenge?vm_name=vm-c'), 60);
    expect(await stack.db('agent_nonces').where({ vm_name: 'vm-c' }).first()).toBeUndefined();
    expect(await count(stack, 'agent_nonces')).toBe(2);
  });
});

describe('registration limit and attestation size cap', () => {
  let w: AgentWorld;
  beforeAll(async () => {
    w = await startAgentWorld({ env: { RATELIMIT_ENABLED: 'true', RATELIMIT_AGENT_REGISTER_PER_IP: '3/1h' } });
  }, 60_000);
  afterAll(() => w?.close());

  it('an oversized attestation blob is refused with a detail and writes nothing', async () => {
    const tok = await token(w);
    const huge = { tdx: { intel_ta_token: tok, quote: 'A'.repeat(70 * 1024) } };
    const res = await register(w, 'vm-huge', tok, { attestation: huge });
    expect(res.status).toBe(422);
    expect(res.body.detail).toEqual([
      expect.objectContaining({ loc: ['body', 'attestation'], msg: 'attestation exceeds 65536 bytes' }),
    ]);
    expect(await countAgents(w, 'vm-huge')).toBe(0);
    expect(w.cf.tunnels()).toHaveLength(0);
  });

  it('a heartbeat with an oversized attestation blob is refused and changes nothing', async () => {
    const reg = await register(w, 'vm-hb', await token(w));
    expect(reg.status, reg.text).toBe(200);
    const before = await w.stack.db('agents').where({ vm_name: 'vm-hb' }).first();
    const hb = await w.api.post(`/api/v1/agents/${reg.body.agent_id}/heartbeat`, {
      token: reg.body.agent_api_secret,
      json: { vm_name: 'vm-hb', attestation: { tdx: { intel_ta_token: await token(w) }, pad: 'x'.repeat(65 * 1024) } },
    });
    expect(hb.status).toBe(422);
    expect(hb.body.detail[0]).toMatchObject({ loc: ['body', 'attestation'], msg: 'attestation exceeds 65536 bytes' });
    expect(await w.stack.db('agents').where({ vm_name: 'vm-hb' }).first()).toEqual(before);
  });

  it('POST /api/v1/agents/register: 429 after the configured count, no agent or tunnel written', async () => {
    // Two registrations counted so far (the oversized one and vm-hb); the third is allowed, the fourth not.
    const third = await register(w, 'vm-three', await token(w));
    expect(third.status, third.text).toBe(200);
    const tunnels = w.cf.tunnels().length;
    const refused = await register(w, 'vm-four', await token(w));
    expectLimited(refused, 3600);
    expect(await countAgents(w, 'vm-four')).toBe(0);
    expect(w.cf.tunnels()).toHaveLength(tunnels);
  });
});
