/**
 * GET /api/v1/agents/challenge as bin/ serves it (api/app.ts createRequestListener: answered in front of Koa by
 * api/routes/challenge.ts challengeListener) answers exactly what the Koa route answers (`createApp(deps).callback()`,
 * the same deps): the 200 shape and headers, every validation 422, CORS, the caller's request id, the 429 of the
 * rate limit — and it writes one unconsumed nonce row, moves the request-latency histogram, and sees a setting
 * changed through the admin API on its next request.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp } from '../../api/app';
import { createMetrics, type Metrics } from '../../core/metrics';
import { adminLogin, http, startStack, type Stack } from '../helpers/stack';

const METRICS_TOKEN = 'challenge-metrics-token';
const PATH = '/api/v1/agents/challenge';
const ORIGIN = 'https://easyenclave.com';

interface Answer {
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

async function ask(base: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${base}${path}`, { headers });
  const text = await res.text();
  const out: Record<string, string> = {};
  // Date and the connection headers are node's own, whoever answers.
  for (const [k, v] of res.headers) if (!['date', 'connection', 'keep-alive'].includes(k)) out[k] = v;
  return { status: res.status, body: JSON.parse(text), headers: out };
}

/** The parts of a 200 that differ per request (nonce, time, fresh request id) replaced by their shape. */
function shapeOf(a: Answer): Answer {
  const body = a.body as Record<string, unknown>;
  const headers = { ...a.headers };
  if (headers['x-request-id'] && !headers['x-request-id'].startsWith('given-')) headers['x-request-id'] = '<uuid>';
  headers['content-length'] = '<n>';
  return {
    status: a.status,
    headers,
    body: a.status === 200 ? { ...body, nonce: '<nonce>', issued_at: '<iso>' } : body,
  };
}

async function histogramCount(stack: Stack, status: string): Promise<number> {
  const text = (await http(stack.url).get('/metrics', { token: METRICS_TOKEN })).text;
  const line = text
    .split('\n')
    .find(
      (l) =>
        l.startsWith('easyenclave_http_request_duration_seconds_count{') &&
        l.includes(`route="${PATH}"`) &&
        l.includes(`status="${status}"`),
    );
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('GET /api/v1/agents/challenge in front of Koa', () => {
  let stack: Stack;
  let metrics: Metrics;
  let koa: Server;
  let koaUrl: string;

  beforeAll(async () => {
    metrics = createMetrics({ processMetrics: false });
    stack = await startStack({
      metrics,
      env: { METRICS_TOKEN, RATELIMIT_ENABLED: 'true', RATELIMIT_AGENT_CHALLENGE_PER_IP: '1000/1m' },
    });
    // The Koa route over the same deps: what every answer is compared with.
    koa = createServer(createApp(stack.deps).callback());
    await new Promise<void>((resolve) => koa.listen(0, '127.0.0.1', resolve));
    koaUrl = `http://127.0.0.1:${(koa.address() as AddressInfo).port}`;
  }, 60_000);
  afterAll(async () => {
    koa?.closeAllConnections();
    await new Promise((r) => koa?.close(r));
    await stack?.close();
  });

  it('issues a nonce: the 200 shape and headers of the Koa route, one unconsumed row, the histogram moves', async () => {
    const before = await histogramCount(stack, '200');
    const fast = await ask(stack.url, `${PATH}?vm_name=vm-fast`, { 'x-request-id': 'given-id-1' });
    expect(fast.status).toBe(200);
    const body = fast.body as { nonce: string; ttl_seconds: number; issued_at: string };
    expect(body).toEqual({
      nonce: expect.stringMatching(/^[0-9a-f]{32}$/),
      ttl_seconds: 300,
      issued_at: expect.any(String),
    });
    expect(new Date(body.issued_at).toISOString()).toBe(body.issued_at);
    expect(fast.headers['x-request-id']).toBe('given-id-1');
    expect(fast.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(Number(fast.headers['content-length'])).toBe(Buffer.byteLength(JSON.stringify(body)));
    expect(await histogramCount(stack, '200')).toBe(before + 1);
    expect(await stack.db('agent_nonces').where({ vm_name: 'vm-fast' }).first()).toMatchObject({
      nonce: body.nonce,
      consumed_by: null,
    });
    const slow = await ask(koaUrl, `${PATH}?vm_name=vm-koa`, { 'x-request-id': 'given-id-1' });
    expect(shapeOf(fast)).toEqual(shapeOf(slow));
  });

  it('a second challenge replaces the first; concurrent ones each get their own row', async () => {
    const first = (await ask(stack.url, `${PATH}?vm_name=vm-again`)).body as { nonce: string };
    const second = (await ask(stack.url, `${PATH}?vm_name=vm-again`)).body as { nonce: string };
    expect(second.nonce).not.toBe(first.nonce);
    expect((await stack.db('agent_nonces').where({ vm_name: 'vm-again' })).map((r) => r.nonce)).toEqual([second.nonce]);
    const many = await Promise.all(
      Array.from({ length: 40 }, (_, i) => ask(stack.url, `${PATH}?vm_name=vm-burst-${i}`)),
    );
    expect(many.map((a) => a.status)).toEqual(Array.from({ length: 40 }, () => 200));
    const rows = await stack.db('agent_nonces').where('vm_name', 'like', 'vm-burst-%');
    expect(rows).toHaveLength(40);
    const byVm = new Map(rows.map((r) => [r.vm_name as string, r.nonce as string]));
    many.forEach((a, i) => expect(byVm.get(`vm-burst-${i}`)).toBe((a.body as { nonce: string }).nonce));
    expect(new Set(byVm.values()).size).toBe(40);
  });

  it.each([
    ['missing', PATH],
    ['empty', `${PATH}?vm_name=`],
    ['blank', `${PATH}?vm_name=%20%09`],
    ['too long', `${PATH}?vm_name=${'a'.repeat(256)}`],
    ['repeated', `${PATH}?vm_name=a&vm_name=b`],
    ['another parameter only', `${PATH}?name=vm-x`],
  ])('%s vm_name: the same 422 {detail} as the Koa route, nothing written', async (_name, path) => {
    const before = await stack.db('agent_nonces').count({ n: '*' }).first();
    const fast = await ask(stack.url, path, { 'x-request-id': 'given-bad' });
    expect(fast.status).toBe(422);
    expect(fast.body).toEqual({ detail: [expect.objectContaining({ loc: expect.arrayContaining(['query']) })] });
    expect(fast).toEqual(await ask(koaUrl, path, { 'x-request-id': 'given-bad' }));
    expect(await stack.db('agent_nonces').count({ n: '*' }).first()).toEqual(before);
  });

  it('decodes the query as Koa does (percent-escapes, plus signs) and answers CORS for v1 origins', async () => {
    await ask(stack.url, `${PATH}?vm_name=vm%2Fone+two&x=1`);
    expect(await stack.db('agent_nonces').where({ vm_name: 'vm/one two' }).first()).toBeDefined();
    const fast = await ask(stack.url, `${PATH}?vm_name=vm-cors`, { origin: ORIGIN });
    expect(fast.headers).toMatchObject({
      'access-control-allow-origin': ORIGIN,
      'access-control-allow-credentials': 'true',
      vary: 'Origin',
    });
    expect(shapeOf(fast)).toEqual(shapeOf(await ask(koaUrl, `${PATH}?vm_name=vm-cors`, { origin: ORIGIN })));
    const other = await ask(stack.url, `${PATH}?vm_name=vm-cors`, { origin: 'https://evil.example' });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    // An insane request id is replaced by a fresh UUID, as Koa's middleware does.
    const insane = await ask(stack.url, `${PATH}?vm_name=vm-id`, { 'x-request-id': 'no spaces allowed' });
    expect(insane.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('GET is answered without entering Koa; HEAD, OPTIONS and other methods are still the Koa routes', async () => {
    // Koa's per-request entry (not in its type declarations).
    const entered = vi.spyOn(Koa.prototype as unknown as { handleRequest(...a: unknown[]): unknown }, 'handleRequest');
    try {
      expect((await ask(stack.url, `${PATH}?vm_name=vm-no-koa`)).status).toBe(200);
      expect((await ask(stack.url, PATH)).status).toBe(422);
      expect(entered).not.toHaveBeenCalled();
      expect((await fetch(`${stack.url}${PATH}?vm_name=vm-head`, { method: 'HEAD' })).status).toBe(200);
      expect(entered).toHaveBeenCalledTimes(1);
    } finally {
      entered.mockRestore();
    }
    const head = await fetch(`${stack.url}${PATH}?vm_name=vm-head`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    const options = await fetch(`${stack.url}${PATH}`, { method: 'OPTIONS' });
    expect(options.status).toBe(204);
    expect(options.headers.get('allow')).toBe('HEAD, GET, OPTIONS');
    // DELETE matches `/api/v1/agents/:agent_id` (an admin route: 401 without a session), through Koa either way.
    const del = await fetch(`${stack.url}${PATH}`, { method: 'DELETE' });
    expect(del.status).toBe((await fetch(`${koaUrl}${PATH}`, { method: 'DELETE' })).status);
    expect(del.status).toBe(401);
  });

  it('an admin change of the TTL and of the rate limit applies on the next request; 429 as the Koa route', async () => {
    const token = await adminLogin(stack.url);
    const api = http(stack.url);
    const put = (key: string, value: unknown) => api.put(`/api/v1/admin/settings/${key}`, { token, json: { value } });
    expect((await put('operational.nonce_ttl_seconds', 120)).status).toBe(200);
    expect(((await ask(stack.url, `${PATH}?vm_name=vm-ttl`)).body as { ttl_seconds: number }).ttl_seconds).toBe(120);

    // Every request so far counted in this minute's window: a limit of 0 refuses the next one at once.
    expect((await put('ratelimit.agent_challenge_per_ip', '0/1m')).status).toBe(200);
    const before429 = await histogramCount(stack, '429');
    const fast = await ask(stack.url, `${PATH}?vm_name=vm-limited`, { 'x-request-id': 'given-429' });
    expect(fast.status).toBe(429);
    // Refused before validation and before any write.
    expect((await ask(stack.url, PATH)).status).toBe(429);
    expect(await histogramCount(stack, '429')).toBe(before429 + 2);
    expect((fast.body as { detail: string }).detail).toMatch(/^Too many requests; retry in \d+ s$/);
    expect(Number(fast.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    const slow = await ask(koaUrl, `${PATH}?vm_name=vm-limited`, { 'x-request-id': 'given-429' });
    const sansRetry = (a: Answer) => ({ ...a, headers: { ...a.headers, 'retry-after': '<s>' }, body: '<detail>' });
    expect(sansRetry(fast)).toEqual(sansRetry(slow));
    expect(await stack.db('agent_nonces').where({ vm_name: 'vm-limited' }).first()).toBeUndefined();

    expect((await put('ratelimit.enabled', false)).status).toBe(200);
    expect((await ask(stack.url, `${PATH}?vm_name=vm-unlimited`)).status).toBe(200);
  });
});
