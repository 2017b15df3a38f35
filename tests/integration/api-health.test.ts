import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, startStack, type Stack } from '../helpers/stack';

describe('health, errors and docs', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      env: {
        EASYENCLAVE_BOOT_ID: ' boot-123 ',
        EASYENCLAVE_GIT_SHA: 'abc123',
        EASYENCLAVE_ENV: 'staging',
        GCP_PROJECT_ID: 'p1',
      },
    });
  });
  afterAll(() => stack?.close());

  it('GET /health answers the SEED fields', async () => {
    const res = await http(stack.url).get('/health');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: 'healthy',
      version: expect.any(String),
      boot_id: 'boot-123',
      git_sha: 'abc123',
      attestation: null,
      proxy_url: 'https://app-staging.easyenclave.com',
      gcp_project_configured: true,
      gcp_service_account_key_configured: false,
      gcp_capacity_fulfiller_enabled: false,
    });
    expect(Date.now() - Date.parse(res.body.timestamp)).toBeLessThan(60_000);
  });

  it('unknown routes are JSON 404s', async () => {
    const res = await http(stack.url).get('/api/v1/nope');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ detail: 'Not Found' });
  });

  it('a wrong method is a JSON 405', async () => {
    const res = await http(stack.url).post('/api/v1/trusted-mrtds', { json: {} });
    expect(res.status).toBe(405);
    expect(res.body).toEqual({ detail: 'Method Not Allowed' });
  });

  it('malformed JSON is a 400 with detail', async () => {
    const res = await http(stack.url).post('/admin/login', { raw: '{"password": ' });
    expect(res.status).toBe(400);
    expect(res.body.detail).toMatch(/^Malformed JSON body/);
  });

  it('an oversized body is refused with 413', async () => {
    const res = await http(stack.url).post('/admin/login', {
      raw: JSON.stringify({ password: 'x'.repeat(6 * 1024 * 1024) }),
    });
    expect(res.status).toBe(413);
    expect(res.body.detail).toMatch(/exceeds/);
  });
});
