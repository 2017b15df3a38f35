/**
 * A client generated from the contract works as a user would use it: openapi-fetch over clients/ts/schema.ts
 * (openapi-typescript output of /openapi.json) against the real stack. The calls below type-check against the
 * generated types, so `npx tsc --noEmit` is the proof that the generated client compiles.
 */
import createClient from 'openapi-fetch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { paths } from '../../clients/ts/schema';
import { ADMIN_PASSWORD, startStack, type Stack } from '../helpers/stack';

describe('generated TypeScript client', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack?.close());

  it('logs in, creates an account and reads it back with its API key', async () => {
    const client = createClient<paths>({ baseUrl: stack.url });

    const login = await client.POST('/admin/login', { body: { password: ADMIN_PASSWORD } });
    expect(login.response.status).toBe(200);
    const admin = login.data!.token;
    expect(admin.length).toBeGreaterThan(20);

    const created = await client.POST('/api/v1/accounts', {
      body: { name: 'client-generated', account_type: 'deployer' },
    });
    expect(created.response.status).toBe(200);
    const { account_id, api_key } = created.data!;
    expect(api_key).toMatch(/^ee_live_/);

    const read = await client.GET('/api/v1/accounts/{account_id}', {
      params: { path: { account_id } },
      headers: { authorization: `Bearer ${api_key}` },
    });
    expect(read.response.status).toBe(200);
    expect(read.data).toMatchObject({ account_id, name: 'client-generated', account_type: 'deployer', balance: 0 });

    const listed = await client.GET('/api/v1/accounts', {
      params: { query: { name: 'client-gen' } },
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(listed.data!.accounts.map((a) => a.account_id)).toEqual([account_id]);
  });

  it('gives typed {detail} errors', async () => {
    const client = createClient<paths>({ baseUrl: stack.url });
    const missing = await client.GET('/api/v1/agents/{agent_id}', {
      params: { path: { agent_id: '00000000-0000-4000-8000-00000000dead' } },
    });
    expect(missing.response.status).toBe(404);
    expect(missing.data).toBeUndefined();
    expect(missing.error).toEqual({ detail: 'Agent not found' });

    const other = await client.GET('/api/v1/accounts/{account_id}', {
      params: { path: { account_id: 'nope' } },
      headers: { authorization: 'Bearer ee_live_not-a-key' },
    });
    expect(other.response.status).toBe(401);
    expect(typeof other.error?.detail).toBe('string');
  });
});
