import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword, randomToken, tokenPrefix } from '../../core/auth/secrets';
import { ADMIN_PASSWORD, adminLogin, http, startStack, type Stack } from '../helpers/stack';

const sessionCount = async (stack: Stack) => Number((await stack.db('admin_sessions').count({ n: '*' }))[0]!.n);

describe('admin password login and sessions', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack?.close());

  it('a wrong password is 401 and writes no session', async () => {
    const before = await sessionCount(stack);
    const res = await http(stack.url).post('/admin/login', { json: { password: 'wrong' } });
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ detail: 'Invalid password' });
    expect(await sessionCount(stack)).toBe(before);
  });

  it('a missing password is a 422 validation error', async () => {
    const res = await http(stack.url).post('/admin/login', { json: {} });
    expect(res.status).toBe(422);
    expect(res.body.detail[0].loc).toEqual(['body', 'password']);
  });

  it('login returns a 24 h token stored only as a hash', async () => {
    const res = await http(stack.url).post('/admin/login', { json: { password: ADMIN_PASSWORD } });
    expect(res.status).toBe(200);
    const { token, expires_at } = res.body;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const ttl = Date.parse(expires_at) - Date.now();
    expect(ttl).toBeGreaterThan(23.9 * 3600_000);
    expect(ttl).toBeLessThanOrEqual(24 * 3600_000);
    const row = await stack
      .db('admin_sessions')
      .where({ token_prefix: tokenPrefix(token) })
      .first();
    expect(row.token_hash).toMatch(/^hmac-sha256\$[A-Za-z0-9_-]{11}\$[A-Za-z0-9_-]{43}$/);
    expect(row.token_hash).not.toContain(token);
    expect(row.auth_method).toBe('password');

    const me = await http(stack.url).get('/auth/me', { token });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ authenticated: true, auth_method: 'password', is_admin: true, github_orgs: [] });
  });

  it('logout really ends the session', async () => {
    const token = await adminLogin(stack.url);
    expect((await http(stack.url).get('/auth/me', { token })).status).toBe(200);
    const out = await http(stack.url).post('/admin/logout', { token });
    expect(out.body).toEqual({ message: 'Logged out' });
    const me = await http(stack.url).get('/auth/me', { token });
    expect(me.status).toBe(401);
    expect(me.body).toEqual({ detail: 'Invalid session token' });
    expect(
      await stack
        .db('admin_sessions')
        .where({ token_prefix: tokenPrefix(token) })
        .first(),
    ).toBeUndefined();
  });

  it('missing, malformed, forged and expired tokens are 401', async () => {
    const api = http(stack.url);
    expect((await api.get('/api/v1/admin/settings')).body).toEqual({ detail: 'Missing Authorization header' });
    const malformed = await api.get('/api/v1/admin/settings', { headers: { authorization: 'Token abc' } });
    expect(malformed.status).toBe(401);
    expect(malformed.body.detail).toBe('Invalid Authorization header format. Expected: Bearer <token>');

    // Forged: right prefix of a real token, wrong rest.
    const real = await adminLogin(stack.url);
    const forged = real.slice(0, 12) + randomToken(32).slice(12);
    const f = await api.get('/api/v1/admin/settings', { token: forged });
    expect(f.status).toBe(401);
    expect(f.body.detail).toBe('Invalid session token');

    const expiredToken = randomToken(32);
    const id = randomUUID();
    const past = new Date(Date.now() - 25 * 3600_000).toISOString();
    await stack.db('admin_sessions').insert({
      session_id: id,
      token_hash: await hashPassword(expiredToken),
      token_prefix: tokenPrefix(expiredToken),
      created_at: past,
      expires_at: new Date(Date.now() - 3600_000).toISOString(),
      last_used: past,
      auth_method: 'password',
    });
    const e = await api.get('/api/v1/admin/settings', { token: expiredToken });
    expect(e.status).toBe(401);
    expect(e.body.detail).toBe('Session expired');
    expect(await stack.db('admin_sessions').where({ session_id: id }).first()).toBeUndefined();
  });

  it('/auth/methods tells what is available and never a password', async () => {
    const res = await http(stack.url).get('/auth/methods');
    expect(res.body).toEqual({ password: true, github: false });
  });

  it('a non-admin GitHub session gets 403 on admin routes', async () => {
    const token = randomToken(32);
    const now = new Date();
    await stack.db('admin_sessions').insert({
      session_id: randomUUID(),
      token_hash: await hashPassword(token),
      token_prefix: tokenPrefix(token),
      created_at: now.toISOString(),
      expires_at: new Date(now.getTime() + 3600_000).toISOString(),
      last_used: now.toISOString(),
      auth_method: 'github_oauth',
      github_login: 'someone',
      github_orgs: JSON.stringify(['acme']),
    });
    const res = await http(stack.url).get('/api/v1/admin/settings', { token });
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ detail: 'Admin access required' });
    const me = await http(stack.url).get('/auth/me', { token });
    expect(me.body).toMatchObject({ is_admin: false, github_login: 'someone', github_orgs: ['acme'] });
  });
});

describe('password login policy', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ env: { PASSWORD_LOGIN_ENABLED: 'false' } });
  });
  afterAll(() => stack?.close());

  it('disabled password login is 403 and creates nothing', async () => {
    const res = await http(stack.url).post('/admin/login', { json: { password: ADMIN_PASSWORD } });
    expect(res.status).toBe(403);
    expect(res.body).toEqual({ detail: 'Password login is disabled. Use GitHub OAuth.' });
    expect(await sessionCount(stack)).toBe(0);
    expect((await http(stack.url).get('/auth/methods')).body.password).toBe(false);
  });
});
