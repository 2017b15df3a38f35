/**
 * Services registry, service proxy and container logs end to end: a real deploy (Temporal workflow, SQLite) onto
 * the fake agent, which forwards non-/api/ paths to a fake workload like v1's agent does. The registry row is
 * written when the deployment reaches running and removed when it stops; the proxy reaches the workload only
 * through the registered agent.
 */
import { createHash } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newApiKey } from '../../core/auth/api-keys';
import { seal } from '../../core/auth/seal';
import { startFakeAgent, type FakeAgentServer } from '../fakes/agent';
import { recordHistory } from '../helpers/histories';
import { seedAccount, seedAgent, seedAgentSecret } from '../helpers/seed';
import { testEngines } from '../helpers/databases';
import { adminLogin, http, startStack, type Stack } from '../helpers/stack';

const BIG = 5 * 1024 * 1024;

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
}

async function listenOn(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** The echo workload: /echo mirrors the request, /big streams 5 MB, /redirect answers 302, /slow never answers. */
function workload(seen: Seen[]) {
  return createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = new URL(req.url!, 'http://w').pathname;
      if (path === '/echo') {
        res.writeHead(201, { 'content-type': 'application/json', 'x-workload': 'echo' });
        res.end(
          JSON.stringify({
            method: req.method,
            url: req.url,
            body: Buffer.concat(chunks).toString('utf8'),
            authorization: req.headers.authorization ?? null,
            forwardedFor: req.headers['x-forwarded-for'] ?? null,
          }),
        );
      } else if (path === '/big') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        let sent = 0;
        const pump = () => {
          while (sent < BIG) {
            const n = Math.min(64 * 1024, BIG - sent);
            const chunk = Buffer.alloc(n, sent % 251);
            sent += n;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
      } else if (path === '/redirect') {
        res.writeHead(302, { location: 'http://127.0.0.1:9/elsewhere' });
        res.end();
      } else if (path === '/slow') {
        // never answers; the proxy's timeout must fire
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end(`no route ${path}`);
      }
    });
  });
}

/** A raw request (no client-side path normalisation), to send dot segments and absolute-form targets. */
function rawRequest(base: string, path: string): Promise<{ status: number; body: string }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method: 'GET', path }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** File names and contents of a zip (central directory → local headers; stored or deflated entries). */
function unzip(buf: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = buf.length - 22; i >= 0; i--) {
    if (buf.readUInt32LE(i) !== 0x06054b50) continue;
    let p = buf.readUInt32LE(i + 16);
    const n = buf.readUInt16LE(i + 10);
    for (let k = 0; k < n; k++) {
      const method = buf.readUInt16LE(p + 10);
      const size = buf.readUInt32LE(p + 20);
      const nameLen = buf.readUInt16LE(p + 28);
      const skip = nameLen + buf.readUInt16LE(p + 30) + buf.readUInt16LE(p + 32);
      const name = buf.subarray(p + 46, p + 46 + nameLen).toString();
      const local = buf.readUInt32LE(p + 42);
      const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
      const data = buf.subarray(start, start + size);
      out[name] = (method === 8 ? inflateRawSync(data) : data).toString('utf8');
      p += 46 + skip;
    }
    return out;
  }
  throw new Error('not a zip');
}

describe.each(testEngines())('services registry, proxy and container logs (%s)', (engine) => {
  let stack: Stack;
  let agents: FakeAgentServer;
  let api: ReturnType<typeof http>;
  let admin: string;
  let deployer: { key: string; accountId: string };
  let stranger: string;
  const seen: Seen[] = [];
  const canarySeen: Seen[] = [];
  let work: Server;
  let canary: Server;
  let canaryUrl: string;
  let agentId: string;
  let deploymentId: string;

  async function key(over: Record<string, unknown> = {}) {
    const k = await newApiKey(stack.deps.sealingKey);
    const a = await seedAccount(stack.db, { api_key_hash: k.hash, api_key_prefix: k.prefix, ...over });
    return { key: k.key, accountId: a.account_id };
  }

  async function waitFor<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
    const until = Date.now() + ms;
    for (;;) {
      const v = await fn();
      if (ok(v) || Date.now() > until) return v;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  beforeAll(async () => {
    work = workload(seen);
    const workUrl = await listenOn(work);
    canary = workload(canarySeen);
    canaryUrl = await listenOn(canary);
    agents = await startFakeAgent();
    stack = await startStack({
      engine,
      env: {
        AGENT_DIRECT_URL: agents.directUrlTemplate,
        BILLING_ENABLED: 'false',
        PROXY_TIMEOUT_SECONDS: '1',
        DEPLOY_CALLBACK_TIMEOUT_SECONDS: '5',
      },
    });
    api = http(stack.url);
    admin = await adminLogin(stack.url);
    deployer = await key();
    stranger = (await key()).key;

    const a = await seedAgent(stack.db, { github_owner: null });
    agentId = a.agent_id;
    const secret = await seedAgentSecret(stack.db, a.agent_id);
    await stack
      .db('agent_control_credentials')
      .where({ agent_id: a.agent_id })
      .update({ api_secret_sealed: seal(stack.deps.sealingKey, secret).sealed });
    agents.agent(a.agent_id, { secret, workloadUrl: workUrl, callback: { cpUrl: stack.url, delayMs: 100 } });

    const dep = await api.post('/api/v1/deploy', {
      token: deployer.key,
      json: { compose: 'services:\n  web:\n    image: nginx\n', app_name: 'echo-svc' },
    });
    expect(dep.status, dep.text).toBe(202);
    const svc = await waitFor(
      () => stack.db('services').where({ name: 'echo-svc' }).first(),
      (r) => r !== undefined,
    );
    expect(svc).toMatchObject({ agent_id: a.agent_id, deployment_id: dep.body.deployment_id });
    deploymentId = dep.body.deployment_id;
  });
  afterAll(async () => {
    await stack?.close();
    await agents?.close();
    work?.closeAllConnections();
    canary?.closeAllConnections();
    await new Promise((r) => work?.close(r));
    await new Promise((r) => canary?.close(r));
  });

  it('GET /api/v1/proxy describes the proxy as v1 did', async () => {
    const r = await api.get('/api/v1/proxy');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      proxy_url: expect.stringMatching(/^https:\/\/app/),
      proxies: [r.body.proxy_url],
      note: 'Route service requests through /proxy/{service_name}/{path}',
    });
  });

  it('a POST reaches the workload with its body, query and status; credentials are not forwarded', async () => {
    const r = await fetch(`${stack.url}/proxy/echo-svc/echo?x=1&y=two`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', authorization: 'Bearer secret-of-the-caller' },
      body: 'hello through the proxy',
    });
    expect(r.status).toBe(201);
    expect(r.headers.get('x-workload')).toBe('echo');
    const body = (await r.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ method: 'POST', url: '/echo?x=1&y=two', body: 'hello through the proxy' });
    expect(body.authorization).toBeNull();
    expect(body.forwardedFor).toBeTruthy();
  });

  it('streams a 5 MB answer intact', async () => {
    const r = await fetch(`${stack.url}/proxy/echo-svc/big`);
    expect(r.status).toBe(200);
    const got = Buffer.from(await r.arrayBuffer());
    expect(got.length).toBe(BIG);
    const want = createHash('sha256');
    for (let sent = 0; sent < BIG; sent += 64 * 1024)
      want.update(Buffer.alloc(Math.min(64 * 1024, BIG - sent), sent % 251));
    expect(createHash('sha256').update(got).digest('hex')).toBe(want.digest('hex'));
  });

  it('unknown service 404, redirects passed back not followed, timeout 504, agent down 502 — each {detail}', async () => {
    const unknown = await api.get('/proxy/no-such-svc/echo');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ detail: 'Service not found: no-such-svc' });

    const redirect = await fetch(`${stack.url}/proxy/echo-svc/redirect`, { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('location')).toBe('http://127.0.0.1:9/elsewhere');

    const slow = await api.get('/proxy/echo-svc/slow');
    expect(slow.status).toBe(504);
    expect(slow.body).toEqual({ detail: 'Service timeout: echo-svc' });

    agents.failNext(1, 0, { agentId, network: true });
    const down = await api.get('/proxy/echo-svc/echo');
    expect(down.status).toBe(502);
    expect(down.body.detail).toMatch(/Cannot connect to service: echo-svc/);
  });

  it('dot segments, encoded slashes and absolute URLs never reach anything but the registered agent', async () => {
    const agentRequests = agents.requests.length;
    for (const p of [
      '/proxy/echo-svc/..%2f..%2fapi%2fdeploy',
      '/proxy/echo-svc/../../api/undeploy',
      '/proxy/echo-svc/%2e%2e/x',
    ]) {
      const r = await rawRequest(stack.url, p);
      expect(r.status, p).toBe(400);
      expect(JSON.parse(r.body).detail).toMatch(/Invalid proxy path/);
    }
    expect(agents.requests.length).toBe(agentRequests);

    const abs = await rawRequest(stack.url, `/proxy/echo-svc/${canaryUrl}/steal`);
    expect(abs.status).toBe(404); // the workload's own 404 for that path
    expect(abs.body).toBe(`no route /${canaryUrl}/steal`);
    const absForm = await rawRequest(stack.url, `${canaryUrl}/proxy/echo-svc/echo`);
    expect(absForm.status).toBe(201);
    expect(canarySeen).toHaveLength(0);
    expect(agents.requests.filter((r) => r.agentId === agentId && r.path === '/api/undeploy')).toHaveLength(0);
  });

  it('container logs are scoped to the deployer (or an admin) and exported as a streamed zip', async () => {
    expect((await api.get('/api/v1/logs/containers')).status).toBe(401);
    const mine = await api.get('/api/v1/logs/containers?since=10m', { token: deployer.key });
    expect(mine.status, mine.text).toBe(200);
    expect(mine.body.count).toBeGreaterThan(0);
    expect(mine.body.logs[0]).toMatchObject({ agent_id: agentId, container: 'app-web-1' });
    const theirs = await api.get('/api/v1/logs/containers', { token: stranger });
    expect(theirs.body).toEqual({ logs: [], count: 0, errors: [] });
    expect((await api.get(`/api/v1/logs/containers?agent_id=${agentId}`, { token: stranger })).status).toBe(404);
    const all = await api.get('/api/v1/logs/containers', { token: admin });
    expect(all.body.logs.map((l: { agent_id: string }) => l.agent_id)).toContain(agentId);
    expect((await api.get('/api/v1/logs/containers?since=$(rm)', { token: admin })).status).toBe(422);

    const res = await fetch(`${stack.url}/api/v1/logs/export`, { headers: { authorization: `Bearer ${admin}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/zip');
    expect(res.headers.get('content-disposition')).toMatch(
      /^attachment; filename="easyenclave-logs-\d{8}-\d{6}\.zip"$/,
    );
    const files = unzip(Buffer.from(await res.arrayBuffer()));
    expect(Object.keys(files).sort()).toEqual(['containers.log', 'control-plane.log']);
    expect(files['containers.log']).toContain(`[${agentId}] [app-web-1] `);

    const own = await fetch(`${stack.url}/api/v1/logs/export`, {
      headers: { authorization: `Bearer ${deployer.key}` },
    });
    const ownFiles = unzip(Buffer.from(await own.arrayBuffer()));
    expect(Object.keys(ownFiles)).toEqual(['containers.log']);
    expect(ownFiles['containers.log']).toContain('listening on :8080');
  });

  it('stopping the deployment removes the service; the proxy then answers 404', async () => {
    const r = await api.post(`/api/v1/agents/${agentId}/undeploy`, { token: admin });
    expect(r.status, r.text).toBe(200);
    expect(await stack.db('services').where({ name: 'echo-svc' }).first()).toBeUndefined();
    expect((await api.get('/proxy/echo-svc/echo')).status).toBe(404);
    await recordHistory(stack.client, `deployment:${deploymentId}`, 'deployments', 'deploy-services-registry');
  });
});
