/**
 * Observability end to end: Prometheus text at /metrics (not public) whose named metrics move with traffic and
 * workflows; pino JSON logs with request ids and redacted secrets; and one deploy traced API → workflow → activity
 * into a local OTLP receiver.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seal } from '../../core/auth/seal';
import { LogBuffer, Logger, pinoSink } from '../../core/logger';
import { createMetrics, type Metrics } from '../../core/metrics';
import { countAgentsByStatus } from '../../core/stores/agents';
import { createTracing, type Tracing } from '../../core/tracing';
import { startFakeAgent, type FakeAgentServer } from '../fakes/agent';
import { startFakeOtlp, type FakeOtlp } from '../fakes/otlp';
import { seedAgent, seedAgentSecret } from '../helpers/seed';
import { adminLogin, http, startStack, type Stack } from '../helpers/stack';

const METRICS_TOKEN = 'scrape-token-0123456789abcdefghijklmnopqrstuv';
const COMPOSE = 'services:\n  web:\n    image: nginx:1.27\n';

/** The value of one sample line (`name{labels} value`), 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{(.*)\})? ([0-9.e+-]+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[3] ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[4]);
  }
  return 0;
}

describe('metrics and structured logs', () => {
  let stack: Stack;
  let metrics: Metrics;
  const lines: Record<string, unknown>[] = [];
  beforeAll(async () => {
    metrics = createMetrics({ agentsByStatus: () => countAgentsByStatus(stack.db) });
    const sink = pinoSink(
      new Writable({
        write(chunk: Buffer, _enc, done) {
          for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l));
          done();
        },
      }),
    );
    stack = await startStack({ metrics, logger: new Logger(new LogBuffer(2000, sink)), env: { METRICS_TOKEN } });
  });
  afterAll(() => stack?.close());

  const scrape = async () => {
    const r = await http(stack.url).get('/metrics', { token: METRICS_TOKEN });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
    return r.text;
  };

  it('/metrics is not public: no token or a wrong one is 401, an admin session or METRICS_TOKEN is 200', async () => {
    const api = http(stack.url);
    expect(await api.get('/metrics')).toMatchObject({ status: 401, body: { detail: expect.any(String) } });
    expect((await api.get('/metrics', { token: `${METRICS_TOKEN}x` })).status).toBe(401);
    expect((await api.get('/metrics', { token: 'x' })).status).toBe(401);
    expect((await api.get('/metrics', { token: await adminLogin(stack.url) })).status).toBe(200);
    expect((await api.get('/metrics', { token: METRICS_TOKEN })).status).toBe(200);
    expect((await api.post('/metrics', { token: METRICS_TOKEN, json: {} })).status).toBe(405);
    // Not part of the API contract.
    expect(Object.keys((await api.get('/openapi.json')).body.paths)).not.toContain('/metrics');
  });

  it('the named metrics move with requests, agents, registrations and workflows', async () => {
    const api = http(stack.url);
    const before = await scrape();
    for (let i = 0; i < 3; i++) expect((await api.get('/health')).status).toBe(200);
    await seedAgent(stack.db, { status: 'undeployed' });
    await seedAgent(stack.db, { status: 'deployed', hostname: null });
    expect((await api.post('/api/v1/agents/register', { json: {} })).status).toBe(422);
    const sweep = await stack.client.workflow.execute('agentHealthSweep', {
      taskQueue: stack.taskQueue,
      workflowId: `metrics-sweep-${Date.now()}`,
      args: [{ batchSize: 5 }],
    });
    expect(sweep).toMatchObject({ checked: 1 });
    await stack.client.workflow.execute('billingRun', {
      taskQueue: stack.taskQueue,
      workflowId: `metrics-billing-${Date.now()}`,
      args: [{ hour: '2026-01-01T00' }],
    });
    const after = await scrape();

    const count = (t: string, labels: Record<string, string>) =>
      sample(t, 'easyenclave_http_request_duration_seconds_count', labels);
    // /health is answered in front of Koa and counted without a histogram; other routes keep their latency series.
    expect(sample(after, 'easyenclave_health_requests_total')).toBe(
      sample(before, 'easyenclave_health_requests_total') + 3,
    );
    expect(count(after, { method: 'POST', route: '/api/v1/agents/register', status: '422' })).toBe(
      count(before, { method: 'POST', route: '/api/v1/agents/register', status: '422' }) + 1,
    );
    expect(sample(after, 'easyenclave_agents', { status: 'undeployed' })).toBe(
      sample(before, 'easyenclave_agents', { status: 'undeployed' }) + 1,
    );
    expect(sample(after, 'easyenclave_agents', { status: 'deployed' })).toBe(1);
    expect(sample(after, 'easyenclave_agent_registration_duration_seconds_count', { status: '422' })).toBe(1);
    for (const type of ['agentHealthSweep', 'agentHealthSweepBatch', 'billingRun']) {
      expect(sample(after, 'easyenclave_workflow_starts_total', { workflow_type: type })).toBeGreaterThan(
        sample(before, 'easyenclave_workflow_starts_total', { workflow_type: type }),
      );
    }
    expect(sample(after, 'easyenclave_health_sweep_duration_seconds_count')).toBe(
      sample(before, 'easyenclave_health_sweep_duration_seconds_count') + 1,
    );
    const runs = (t: string) =>
      ['charged', 'skipped'].reduce((n, outcome) => n + sample(t, 'easyenclave_billing_runs_total', { outcome }), 0);
    expect(runs(after)).toBe(runs(before) + 1);
    expect(after).toContain('easyenclave_workflow_failures_total');
    expect(after).toContain('easyenclave_billing_charged_micros_total');
    expect(after).toContain('easyenclave_process_resident_memory_bytes');
  });

  it('logs are pino JSON with the request id; activity lines carry the workflow id; secrets are redacted', async () => {
    const res = await fetch(`${stack.url}/admin/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'req-abc.123' },
      body: JSON.stringify({ password: 'wrong' }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('x-request-id')).toBe('req-abc.123');
    const login = lines.find((l) => String(l.msg).startsWith('failed admin password login'));
    expect(login).toMatchObject({ level: 'warn', request_id: 'req-abc.123', logger: 'easyenclave' });
    expect(typeof login!.time).toBe('string');

    // A forged id (not a sane token) is replaced by a fresh one.
    const forged = await fetch(`${stack.url}/health`, { headers: { 'x-request-id': 'has space/and{braces}' } });
    expect(forged.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);

    const sweepLine = lines.find((l) => String(l.msg).startsWith('health sweep:'));
    expect(sweepLine).toMatchObject({
      activity: 'reportHealthSweep',
      workflow_id: expect.stringMatching(/^metrics-sweep-/),
    });

    stack.deps.logger.info('login attempt', {
      password: 'hunter2',
      token: 'tok-1',
      headers: { authorization: 'Bearer sekrit', accept: 'json' },
      agent: { agent_api_secret: 'agent-s3cret', vm_name: 'vm-1' },
    });
    const line = lines.find((l) => l.msg === 'login attempt')!;
    expect(line).toMatchObject({
      password: '[REDACTED]',
      token: '[REDACTED]',
      headers: { authorization: '[REDACTED]', accept: 'json' },
      agent: { agent_api_secret: '[REDACTED]', vm_name: 'vm-1' },
    });
    expect(JSON.stringify(lines)).not.toMatch(/hunter2|tok-1|sekrit|agent-s3cret/);
    // The in-memory buffer /api/v1/logs/control-plane serves still has the record (message only, no fields).
    const logs = await http(stack.url).get('/api/v1/logs/control-plane?min_level=DEBUG', {
      token: await adminLogin(stack.url),
    });
    expect(logs.status).toBe(200);
    expect(logs.text).toContain('login attempt');
    expect(logs.text).not.toContain('hunter2');
  });
});

describe('tracing (OTLP/HTTP to a local receiver)', () => {
  let stack: Stack;
  let otlp: FakeOtlp;
  let tracing: Tracing;
  let agents: FakeAgentServer;
  beforeAll(async () => {
    otlp = await startFakeOtlp();
    agents = await startFakeAgent();
    tracing = createTracing({ endpoint: otlp.url, serviceName: 'ee-test', immediate: true, headers: { 'x-k': 'v' } });
    stack = await startStack({
      tracing,
      env: { AGENT_DIRECT_URL: agents.directUrlTemplate, DEPLOY_CALLBACK_TIMEOUT_SECONDS: '10' },
    });
  }, 120_000);
  afterAll(async () => {
    await stack?.close();
    await tracing?.shutdown();
    await agents?.close();
    await otlp?.close();
  });

  it('one deploy is one trace: API request span → workflow start → workflow → activity spans', async () => {
    const api = http(stack.url);
    const admin = await adminLogin(stack.url);
    const acct = await api.post('/api/v1/accounts', { json: { name: 'traced', account_type: 'deployer' } });
    expect(acct.status, acct.text).toBe(200);
    const dep = await api.post(`/api/v1/accounts/${acct.body.account_id}/deposit`, {
      token: admin,
      json: { amount: 50 },
    });
    expect(dep.status, dep.text).toBe(200);
    const a = await seedAgent(stack.db);
    const secret = await seedAgentSecret(stack.db, a.agent_id);
    await stack
      .db('agent_control_credentials')
      .where({ agent_id: a.agent_id })
      .update({ api_secret_sealed: seal(stack.deps.sealingKey, secret).sealed });
    agents.agent(a.agent_id, { secret, callback: { cpUrl: stack.url, delayMs: 100 } });

    const before = otlp.spans.length;
    const r = await api.post('/api/v1/deploy', { token: acct.body.api_key, json: { compose: COMPOSE } });
    expect(r.status, r.text).toBe(202);
    const id = r.body.deployment_id as string;
    let status = '';
    for (let i = 0; i < 100 && status !== 'running'; i++) {
      await new Promise((res) => setTimeout(res, 150));
      status = (await stack.db('deployments').where({ deployment_id: id }).first())?.status ?? '';
    }
    expect(status).toBe('running');
    await tracing.spanProcessor.forceFlush();

    const mine = otlp.spans.slice(before);
    const request = mine.find((s) => s.name === 'POST /api/v1/deploy');
    expect(request).toBeDefined();
    expect(request!.service).toBe('ee-test');
    const trace = mine.filter((s) => s.traceId === request!.traceId);
    const names = trace.map((s) => s.name);
    // The API's Temporal client started the workflow (update-with-start of its placement) inside the request's span…
    const start = trace.find((s) => s.name === 'UpdateWithStartWorkflow:placement');
    expect(start?.parentSpanId).toBe(request!.spanId);
    // …the workflow (spans made in the sandbox, exported through the worker's sink) scheduled activities in the same
    // trace (its own RunWorkflow span ends only when the deployment does)…
    const scheduled = trace.filter((s) => s.name.startsWith('StartActivity:'));
    expect(scheduled.map((s) => s.name)).toEqual(expect.arrayContaining(['StartActivity:agentDeploy']));
    // …and the agent call ran as a child of the workflow's scheduling span.
    const ran = trace.filter((s) => s.name.startsWith('RunActivity:'));
    expect(ran.map((s) => s.name)).toEqual(expect.arrayContaining(['RunActivity:agentDeploy']));
    const runDeploy = ran.find((s) => s.name === 'RunActivity:agentDeploy')!;
    expect(runDeploy.parentSpanId).toBe(scheduled.find((s) => s.name === 'StartActivity:agentDeploy')!.spanId);
    expect(names).toContain('POST /api/v1/deploy');
    expect(otlp.lastHeaders['x-k']).toBe('v');
  });
});
