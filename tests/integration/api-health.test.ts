import { Client, Connection } from '@temporalio/client';
import { request, type IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkflowGateway } from '../../api/temporal';
import { apiConnectionOptions } from '../../api/temporal-availability';
import pkg from '../../package.json';
import { freePort } from '../helpers/embedded';
import { adminLogin, http, startStack, type Stack } from '../helpers/stack';

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
      version: pkg.version,
      boot_id: 'boot-123',
      git_sha: 'abc123',
      attestation: null,
      proxy_url: 'https://app-staging.easyenclave.com',
      gcp_project_configured: true,
      gcp_service_account_key_configured: false,
      gcp_capacity_fulfiller_enabled: false,
      temporal: 'ok',
    });
    expect(Date.now() - Date.parse(res.body.timestamp)).toBeLessThan(60_000);
  });

  it('GET/HEAD /health, answered in front of Koa, sends the headers Koa would: JSON, length, request id, CORS', async () => {
    const raw = (method: string, path: string, headers: Record<string, string>) =>
      new Promise<{ status: number; headers: IncomingHttpHeaders; body: string }>((resolve, reject) => {
        const req = request(`${stack.url}${path}`, { method, headers }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        });
        req.on('error', reject);
        req.end();
      });
    const get = await raw('GET', '/health?probe=lb', { origin: 'https://easyenclave.com', 'x-request-id': 'lb-1' });
    expect(get.status).toBe(200);
    expect(get.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(Number(get.headers['content-length'])).toBe(Buffer.byteLength(get.body));
    expect(get.headers['x-request-id']).toBe('lb-1');
    expect(get.headers['access-control-allow-origin']).toBe('https://easyenclave.com');
    expect(get.headers['access-control-allow-credentials']).toBe('true');
    expect(get.headers.vary).toBe('Origin');
    const body = JSON.parse(get.body);
    expect(Object.keys(body)).toEqual(Object.keys((await http(stack.url).get('/health')).body));
    expect(body).toMatchObject({ status: 'healthy', temporal: 'ok', boot_id: 'boot-123' });

    const foreign = await raw('GET', '/health', { origin: 'https://evil.example' });
    expect(foreign.headers['access-control-allow-origin']).toBeUndefined();
    expect(foreign.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    // Each answer carries its own time, not the prebuilt one.
    await new Promise((r) => setTimeout(r, 5));
    expect(JSON.parse(foreign.body).timestamp).not.toBe(body.timestamp);

    const head = await raw('HEAD', '/health', {});
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect(Number(head.headers['content-length'])).toBeGreaterThan(100);

    // Other methods and CORS preflights are still Koa's.
    expect((await raw('POST', '/health', {})).status).toBe(405);
    const preflight = await raw('OPTIONS', '/health', {
      origin: 'https://easyenclave.com',
      'access-control-request-method': 'GET',
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-methods']).toMatch(/GET/);
  });

  it('GET /ready answers 200 while Temporal and the database answer', async () => {
    const res = await http(stack.url).get('/ready');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ready', temporal: 'ok', database: 'ok' });
  });

  it('unknown routes are JSON 404s', async () => {
    const res = await http(stack.url).get('/api/v1/nope');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ detail: 'Not Found' });
  });

  it('a wrong method is a JSON 405 with Allow', async () => {
    const res = await http(stack.url).post('/api/v1/trusted-mrtds', { json: {} });
    expect(res.status).toBe(405);
    expect(res.body).toEqual({ detail: 'Method Not Allowed' });
    expect(res.headers.get('allow')).toBe('HEAD, GET, OPTIONS');
  });

  it('methods the router does not know (TRACE, PROPFIND) are JSON 405s too, never 501 text', async () => {
    // fetch refuses to send TRACE, so a raw node:http request.
    const raw = (method: string) =>
      new Promise<{ status: number; headers: IncomingHttpHeaders; body: string }>((resolve, reject) => {
        const req = request(`${stack.url}/health`, { method }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        });
        req.on('error', reject);
        req.end();
      });
    for (const method of ['TRACE', 'PROPFIND', 'PURGE']) {
      const res = await raw(method);
      expect(res.status, method).toBe(405);
      expect(res.headers['content-type']).toMatch(/application\/json/);
      expect(JSON.parse(res.body)).toEqual({ detail: 'Method Not Allowed' });
      expect(res.headers.allow).toBe('HEAD, GET, OPTIONS');
    }
  });

  it('OPTIONS lists exactly the methods of the path; a literal route is not widened by a parameter route', async () => {
    const challenge = await fetch(`${stack.url}/api/v1/agents/challenge`, { method: 'OPTIONS' });
    expect(challenge.status).toBe(204);
    expect(challenge.headers.get('allow')).toBe('HEAD, GET, OPTIONS');
    const register = await fetch(`${stack.url}/api/v1/agents/register`, { method: 'OPTIONS' });
    expect(register.headers.get('allow')).toBe('POST, OPTIONS');
    const agent = await fetch(`${stack.url}/api/v1/agents/some-id`, { method: 'OPTIONS' });
    expect(agent.headers.get('allow')?.split(', ').sort()).toEqual(['DELETE', 'GET', 'HEAD', 'OPTIONS']);
  });

  it('the OpenAPI document declares the error statuses an operation can answer, with the {detail} schema', async () => {
    const doc = (await http(stack.url).get('/openapi.json')).body;
    const register = doc.paths['/api/v1/agents/register'].post.responses;
    for (const s of ['400', '403', '409', '413', '422', '503']) expect(register[s], s).toBeDefined();
    const settings = doc.paths['/api/v1/admin/settings/{key}'].put.responses;
    for (const s of ['401', '403', '404', '422']) expect(settings[s], s).toBeDefined();
    expect(settings['401']).toEqual({ $ref: '#/components/responses/Unauthorized' });
    expect(doc.components.responses.Unauthorized.content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/Error',
    });
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

describe('Temporal unreachable (an API whose Temporal address answers nothing)', () => {
  let stack: Stack;
  let client: Client;
  beforeAll(async () => {
    // A port nobody listens on: every call fails UNAVAILABLE, as with a cluster that is down.
    const connection = Connection.lazy({ address: `127.0.0.1:${await freePort()}`, ...apiConnectionOptions(1000) });
    client = new Client({ connection });
    stack = await startStack({ deps: { workflows: createWorkflowGateway(client, 'unused') } });
  });
  afterAll(async () => {
    await stack?.close();
    await client?.connection.close();
  });

  it('a workflow-backed write answers 503 with a detail, within the call deadline', async () => {
    const token = await adminLogin(stack.url);
    const t = Date.now();
    const res = await http(stack.url).put('/api/v1/admin/settings/billing.enabled', { token, json: { value: true } });
    console.log(`settings write with Temporal unreachable answered ${res.status} in ${Date.now() - t} ms`);
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ detail: 'The orchestrator (Temporal) is unavailable; try again shortly' });
  });

  it('/health stays 200 and says unreachable; /ready answers 503', async () => {
    const health = await http(stack.url).get('/health');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: 'healthy', temporal: 'unreachable' });
    const ready = await http(stack.url).get('/ready');
    expect(ready.status).toBe(503);
    expect(ready.body).toEqual({ detail: 'Not ready: the orchestrator (Temporal) is unreachable' });
  });
});
