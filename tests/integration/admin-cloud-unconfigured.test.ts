/**
 * Admin Cloudflare endpoints on an install without Cloudflare: 503 with the detail, not v1's 400 — the request is
 * valid; the server lacks the integration (as GitHub OAuth and Stripe answer), and nothing is called or written.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminLogin, http, startStack, type Stack } from '../helpers/stack';

describe('admin Cloudflare without Cloudflare configured', () => {
  let stack: Stack;
  let token: string;
  beforeAll(async () => {
    stack = await startStack();
    token = await adminLogin(stack.url);
  });
  afterAll(() => stack?.close());

  it.each([
    ['get', '/api/v1/admin/cloudflare/tunnels'],
    ['get', '/api/v1/admin/cloudflare/dns'],
    ['delete', '/api/v1/admin/cloudflare/tunnels/t-1'],
    ['delete', '/api/v1/admin/cloudflare/dns/r-1'],
  ] as const)('%s %s → 503 Cloudflare not configured', async (method, path) => {
    const before = await stack.db('agents').count({ n: '*' }).first();
    const res = await http(stack.url)[method](path, { token });
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ detail: 'Cloudflare not configured' });
    expect(await stack.db('agents').count({ n: '*' }).first()).toEqual(before);
  });

  it('GET /api/v1/admin/cloudflare/status says it is not configured', async () => {
    const res = await http(stack.url).get('/api/v1/admin/cloudflare/status', { token });
    expect(res.status).toBe(200);
    expect(res.body.configured).toBe(false);
  });
});
