/**
 * Every machine-generated credential is stored as HMAC-SHA-256 under the install's key, a wrong one is refused, and a
 * legacy argon2id hash (what earlier releases stored) still works once and is rewritten as HMAC by that use.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY_PREFIX } from '../../core/auth/api-keys';
import { hashPassword, hashToken, randomToken, tokenPrefix } from '../../core/auth/secrets';
import { seedAccount, seedAgent, seedAgentSecret } from '../helpers/seed';
import { adminLogin, http, startStack, type Stack } from '../helpers/stack';

const HMAC = /^hmac-sha256\$[A-Za-z0-9_-]{11}\$[A-Za-z0-9_-]{43}$/;

describe('machine-generated credentials are HMAC-SHA-256, legacy argon2id hashes migrate on use', () => {
  let stack: Stack;
  let api: ReturnType<typeof http>;
  beforeAll(async () => {
    stack = await startStack();
    api = http(stack.url);
  });
  afterAll(() => stack?.close());

  it('API keys: new keys are HMAC; a wrong key is 401; a legacy argon2id key works and is migrated', async () => {
    const created = await api.post('/api/v1/accounts', { json: { name: 'hmac-new', account_type: 'deployer' } });
    expect(created.status, created.text).toBe(200);
    const row = await stack.db('accounts').where({ account_id: created.body.account_id }).first();
    expect(row.api_key_hash).toMatch(HMAC);
    expect(row.api_key_hash).toBe(hashToken(stack.deps.sealingKey, created.body.api_key));

    const key = `${API_KEY_PREFIX}${randomToken(24)}`;
    const legacy = await hashPassword(key);
    const { account_id } = await seedAccount(stack.db, { api_key_hash: legacy, api_key_prefix: tokenPrefix(key) });
    // Same prefix, different key: the hash check (not the prefix look-up) refuses it, and nothing is rewritten.
    const wrong = `${key.slice(0, 12)}${randomToken(24).slice(0, 28)}`;
    const w = await api.get(`/api/v1/accounts/${account_id}`, { token: wrong });
    expect(w).toMatchObject({ status: 401, body: { detail: 'Invalid API key' } });
    expect((await stack.db('accounts').where({ account_id }).first()).api_key_hash).toBe(legacy);

    expect((await api.get(`/api/v1/accounts/${account_id}`, { token: key })).status).toBe(200);
    const migrated = (await stack.db('accounts').where({ account_id }).first()).api_key_hash;
    expect(migrated).toBe(hashToken(stack.deps.sealingKey, key));
    stack.deps.credentialCache.forgetId(`account:${account_id}|${migrated}`);
    expect((await api.get(`/api/v1/accounts/${account_id}`, { token: key })).status).toBe(200);
    expect((await api.get(`/api/v1/accounts/${account_id}`, { token: wrong })).status).toBe(401);
  });

  it('sessions: login stores HMAC; a wrong token is 401; a legacy argon2id session works and is migrated', async () => {
    const token = await adminLogin(stack.url);
    const row = await stack
      .db('admin_sessions')
      .where({ token_prefix: tokenPrefix(token) })
      .first();
    expect(row.token_hash).toBe(hashToken(stack.deps.sealingKey, token));

    const legacyToken = randomToken(32);
    const session_id = randomUUID();
    const now = new Date();
    const legacy = await hashPassword(legacyToken);
    await stack.db('admin_sessions').insert({
      session_id,
      token_hash: legacy,
      token_prefix: tokenPrefix(legacyToken),
      created_at: now.toISOString(),
      expires_at: new Date(now.getTime() + 3600_000).toISOString(),
      last_used: now.toISOString(),
      auth_method: 'password',
    });
    const wrong = `${legacyToken.slice(0, 12)}${randomToken(32).slice(12)}`;
    expect(await api.get('/auth/me', { token: wrong })).toMatchObject({ status: 401 });
    expect((await stack.db('admin_sessions').where({ session_id }).first()).token_hash).toBe(legacy);

    const me = await api.get('/auth/me', { token: legacyToken });
    expect(me.status, me.text).toBe(200);
    expect(me.body).toMatchObject({ authenticated: true, auth_method: 'password' });
    expect((await stack.db('admin_sessions').where({ session_id }).first()).token_hash).toBe(
      hashToken(stack.deps.sealingKey, legacyToken),
    );
    stack.deps.credentialCache.forgetId(session_id);
    expect((await api.get('/api/v1/admin/settings', { token: legacyToken })).status).toBe(200);
  });

  it('agent control secrets: a wrong secret is 401; a legacy argon2id secret works and is migrated', async () => {
    const a = await seedAgent(stack.db);
    const secret = await seedAgentSecret(stack.db, a.agent_id);
    const cred = () => stack.db('agent_control_credentials').where({ agent_id: a.agent_id }).first();
    const legacy = (await cred()).api_secret_hash as string;
    expect(legacy).toMatch(/^\$argon2id\$/);
    const heartbeat = (token: string) => api.post(`/api/v1/agents/${a.agent_id}/heartbeat`, { token, json: {} });

    // Auth runs before validation: 401 for the wrong secret, 422 (the empty body) once the secret is accepted.
    expect(await heartbeat(randomToken(48))).toMatchObject({ status: 401 });
    expect((await cred()).api_secret_hash).toBe(legacy);
    expect((await heartbeat(secret)).status).toBe(422);
    const after = await cred();
    expect(after.api_secret_hash).toMatch(HMAC);
    expect(after.api_secret_hash).toBe(hashToken(stack.deps.sealingKey, secret));
    // A fresh API process (empty cache) verifies the migrated HMAC; the wrong secret still fails.
    stack.deps.credentialCache.forgetId(`agent:${a.agent_id}:${String(after.updated_at)}:${after.api_secret_prefix}`);
    expect((await heartbeat(secret)).status).toBe(422);
    expect((await heartbeat(`${secret.slice(0, 63)}A`)).status).toBe(401);
  });

  it('a hash made under another install key (a stolen database elsewhere) never verifies', async () => {
    const key = `${API_KEY_PREFIX}${randomToken(24)}`;
    const foreign = `hmac-sha256$${stack.deps.sealingKey.current.id}$${'A'.repeat(43)}`;
    const { account_id } = await seedAccount(stack.db, { api_key_hash: foreign, api_key_prefix: tokenPrefix(key) });
    expect((await api.get(`/api/v1/accounts/${account_id}`, { token: key })).status).toBe(401);
  });
});
