/** Billing accounts over HTTP against the real stack (api.md §8 with the v2 decisions). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeyCacheId, authenticateApiKey } from '../../core/auth/api-keys';
import { VerifiedTokenCache } from '../../core/auth/token-cache';
import { getAccount } from '../../core/stores/accounts';
import { adminLogin, http, startStack, ADMIN_PASSWORD, type Stack } from '../helpers/stack';

describe('accounts API', () => {
  let stack: Stack;
  let admin: string;
  let api: ReturnType<typeof http>;
  beforeAll(async () => {
    stack = await startStack();
    api = http(stack.url);
    admin = await adminLogin(stack.url);
  });
  afterAll(() => stack?.close());

  const create = (name: string, account_type = 'deployer') =>
    api.post('/api/v1/accounts', { json: { name, account_type, description: 'd' } });

  it('shows the key once: it works afterwards but is never readable again', async () => {
    const res = await create('alice');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'alice', account_type: 'deployer', balance: 0, description: 'd' });
    expect(res.body.api_key).toMatch(/^ee_live_[A-Za-z0-9_-]{32}$/);
    expect(res.body.warning).toMatch(/never be shown again/);
    const { account_id, api_key } = res.body;

    const me = await api.get(`/api/v1/accounts/${account_id}`, { token: api_key });
    expect(me.status).toBe(200);
    expect(me.body).toEqual({
      account_id,
      name: 'alice',
      description: 'd',
      account_type: 'deployer',
      github_login: null,
      github_org: null,
      balance: 0,
      created_at: expect.any(String),
    });
    const listed = await api.get('/api/v1/accounts?name=ALI', { token: admin });
    expect(listed.body.total).toBe(1);
    for (const text of [me.text, listed.text]) {
      expect(text).not.toContain(api_key);
      expect(text).not.toMatch(/api_key|argon2|hmac-sha256/);
    }
    const stored = await stack.db('accounts').where({ account_id }).first();
    expect(stored.api_key_hash).toMatch(/^hmac-sha256\$/);
    expect(stored.api_key_prefix).toBe(api_key.slice(0, 12));
    expect(JSON.stringify(stored)).not.toContain(api_key);

    expect((await api.get(`/api/v1/accounts/${account_id}`)).status).toBe(401);
    const wrong = await api.get(`/api/v1/accounts/${account_id}`, {
      token: `${api_key.slice(0, -1)}${api_key.endsWith('x') ? 'y' : 'x'}`,
    });
    expect(wrong).toMatchObject({ status: 401, body: { detail: 'Invalid API key' } });
    const bob = await create('bob');
    const other = await api.get(`/api/v1/accounts/${bob.body.account_id}`, { token: api_key });
    expect(other).toMatchObject({ status: 403, body: { detail: 'Cannot access other accounts' } });
  });

  it('validates creation like v1', async () => {
    // Both are schema constraints (enum, pattern): a 422 naming the field, and the OpenAPI document says so.
    const badType = await create('x', 'Deployer');
    expect(badType.status).toBe(422);
    expect(badType.body.detail[0]).toMatchObject({
      loc: ['body', 'account_type'],
      msg: "account_type must be 'deployer', 'agent', 'contributor', or 'launcher'",
    });
    const blank = await create('   ');
    expect(blank.status).toBe(422);
    expect(blank.body.detail[0]).toMatchObject({ loc: ['body', 'name'], msg: 'Account name is required' });
    await create('dup');
    expect(await create('dup')).toMatchObject({ status: 409, body: { detail: "Account 'dup' already exists" } });
    expect((await api.post('/api/v1/accounts', { json: { account_type: 'deployer' } })).status).toBe(422);
  });

  it('rotate invalidates the old key at once (even when it was just verified and cached)', async () => {
    const { account_id, api_key } = (await create('rotor')).body;
    expect((await api.get(`/api/v1/accounts/${account_id}`, { token: api_key })).status).toBe(200);
    const rot = await api.post(`/api/v1/accounts/${account_id}/api-key/rotate`, { token: api_key });
    expect(rot.status).toBe(200);
    expect(rot.body.warning).toMatch(/Previous key has been revoked/);
    expect(rot.body.api_key).not.toBe(api_key);
    expect((await api.get(`/api/v1/accounts/${account_id}`, { token: api_key })).status).toBe(401);
    expect((await api.get(`/api/v1/accounts/${account_id}`, { token: rot.body.api_key })).status).toBe(200);
    const foreign = await api.post(`/api/v1/accounts/${(await create('rotor2')).body.account_id}/api-key/rotate`, {
      token: rot.body.api_key,
    });
    expect(foreign).toMatchObject({ status: 403, body: { detail: 'Cannot rotate API key for other accounts' } });
  });

  it('a cached verification is bound to the stored hash', async () => {
    const { account_id, api_key } = (await create('cached')).body;
    const cache = new VerifiedTokenCache();
    const now = new Date();
    expect((await authenticateApiKey(stack.db, stack.deps.sealingKey, api_key, now, cache))?.account_id).toBe(
      account_id,
    );
    const hash = (await getAccount(stack.db, account_id))!.api_key_hash!;
    expect(cache.get(api_key, now.getTime())).toBe(apiKeyCacheId(account_id, hash));
    // Swap the stored hash for garbage: the cached verification alone must not let the key through.
    await stack.db('accounts').where({ account_id }).update({ api_key_hash: '$argon2id$v=19$m=19456,t=2,p=1$x$y' });
    expect(await authenticateApiKey(stack.db, stack.deps.sealingKey, api_key, now, cache)).toBeNull();
    await stack.db('accounts').where({ account_id }).update({ api_key_hash: hash });
    expect((await authenticateApiKey(stack.db, stack.deps.sealingKey, api_key, now, cache))?.account_id).toBe(
      account_id,
    );
  });

  it('refuses a deposit that would take the balance beyond exact integer micro-dollars (409, nothing written)', async () => {
    const { account_id, api_key } = (await create('whale')).body;
    // Each deposit is within the schema's bound (1e9 USD); nine of them pass 2^53 micro-dollars (~9.007e9 USD).
    for (let i = 0; i < 9; i++) {
      const ok = await api.post(`/api/v1/accounts/${account_id}/deposit`, { token: admin, json: { amount: 1e9 } });
      expect(ok.status).toBe(200);
    }
    const over = await api.post(`/api/v1/accounts/${account_id}/deposit`, { token: admin, json: { amount: 1e9 } });
    expect(over).toMatchObject({ status: 409, body: { detail: 'Deposit refused: the balance would be out of range' } });
    expect((await api.get(`/api/v1/accounts/${account_id}`, { token: api_key })).body.balance).toBe(9e9);
    expect(await stack.db('transactions').where({ account_id }).count({ n: '*' })).toEqual([{ n: 9 }]);
  });

  it('deposit is admin-only (a key cannot mint itself credit); delete refuses a non-zero balance', async () => {
    const { account_id, api_key } = (await create('saver')).body;
    const self = await api.post(`/api/v1/accounts/${account_id}/deposit`, { token: api_key, json: { amount: 1000 } });
    expect(self.status).toBe(401); // an API key is not an admin session
    expect((await api.get(`/api/v1/accounts/${account_id}`, { token: api_key })).body.balance).toBe(0);

    const dep = await api.post(`/api/v1/accounts/${account_id}/deposit`, { token: admin, json: { amount: 12.5 } });
    expect(dep.status).toBe(200);
    expect(dep.body).toMatchObject({
      account_id,
      amount: 12.5,
      balance_after: 12.5,
      tx_type: 'deposit',
      description: 'Deposit',
    });
    expect(
      (await api.post(`/api/v1/accounts/${account_id}/deposit`, { token: admin, json: { amount: -1 } })).status,
    ).toBe(422);
    expect((await api.post('/api/v1/accounts/nope/deposit', { token: admin, json: { amount: 1 } })).status).toBe(404);

    const me = await api.get(`/api/v1/accounts/${account_id}`, { token: api_key });
    expect(me.body.balance).toBe(12.5);
    const tx = await api.get(`/api/v1/accounts/${account_id}/transactions?limit=200`, { token: api_key });
    expect(tx.body.total).toBe(1);
    expect(tx.body.transactions[0]).toMatchObject({ amount: 12.5, tx_type: 'deposit' });
    expect((await api.get(`/api/v1/accounts/${account_id}/transactions?limit=201`, { token: api_key })).status).toBe(
      422,
    );

    const del = await api.delete(`/api/v1/accounts/${account_id}`, { token: api_key });
    expect(del).toMatchObject({ status: 400, body: { detail: 'Cannot delete account with non-zero balance (12.50)' } });
    expect(await stack.db('accounts').where({ account_id }).first()).toBeTruthy();

    const empty = (await create('empty')).body;
    const gone = await api.delete(`/api/v1/accounts/${empty.account_id}`, { token: empty.api_key });
    expect(gone.body).toEqual({ status: 'deleted', account_id: empty.account_id });
    expect((await api.get(`/api/v1/accounts/${empty.account_id}`, { token: empty.api_key })).status).toBe(401);
  });

  it('never links a typed GitHub name: a proof is required (tests/integration/trust-ownership.test.ts)', async () => {
    const { account_id, api_key } = (await create('linker')).body;
    const res = await api.post(`/api/v1/accounts/${account_id}/identity`, {
      token: api_key,
      json: { github_login: ' octocat ', github_org: '' },
    });
    expect(res.status).toBe(422);
    expect(res.body.detail).toMatch(/A proof is required/);
    expect(await stack.db('accounts').where({ account_id }).first()).toMatchObject({
      github_login: null,
      linked_at: null,
    });
    const other = (await create('linker-2')).body;
    const foreign = await api.post(`/api/v1/accounts/${other.account_id}/identity`, { token: api_key, json: {} });
    expect(foreign.status).toBe(403);
  });

  it('account listing needs an admin session', async () => {
    const { api_key } = (await create('nosy')).body;
    expect((await api.get('/api/v1/accounts', { token: api_key })).status).toBe(401);
    expect((await api.get('/api/v1/accounts?account_type=deployer', { token: admin })).status).toBe(200);
  });

  it('keeps the fixed v1 auth defects fixed: /auth/methods reveals no password, logout ends the session', async () => {
    const methods = await api.get('/auth/methods');
    expect(methods.text).not.toContain(ADMIN_PASSWORD);
    expect(Object.keys(methods.body).sort()).toEqual(['github', 'password']);
    const token = await adminLogin(stack.url);
    await api.post('/admin/logout', { token });
    expect((await api.get('/auth/me', { token })).status).toBe(401);
  });
});
