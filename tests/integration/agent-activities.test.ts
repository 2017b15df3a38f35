import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure, type Logger as TemporalLogger } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { expectNonRetryable, failure } from '../helpers/activity-failures';
import { AgentUnavailableError, createAgentActivities, type AgentActivities } from '../../activities/agent';
import { AgentFailure as AgentFailureType } from '../../workflows/contracts/failures';
import { randomKeyRing, type KeyRing } from '../../core/auth/keyring';
import { seal } from '../../core/auth/seal';
import { nowIso } from '../../core/db/tables';
import { silentLogger, type Logger } from '../../core/logger';
import type { SettingsReader } from '../../core/settings/types';
import { createTestDb, type TestDb } from '../helpers/databases';
import { startFakeAgent, type FakeAgentServer } from '../fakes/agent';
import { startFakeTsm, type FakeTsm } from '../fakes/tsm-kernel';
import { RTMRS } from '../helpers/agents';
import { quoteFromBase64 } from '../../core/attestation/tdx-quote';

const AGENT = '3f2b8c1e-6a4d-4e1f-9b7a-0c5d2e8f1a34';
const OTHER_AGENT = '9a1d7e44-0b2c-4c3e-8f5a-6d7e8f901b23';
const HOST = `agent-${AGENT}.easyenclave.test`;
const DEPLOYMENT = '5c6d7e8f-1a2b-4c3d-9e0f-a1b2c3d4e5f6';
const SECRET = 'agent-secret-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRS';
const COMPOSE = Buffer.from('services:\n  web:\n    image: nginx:1.27\n').toString('base64');
const CONFIG = { service_name: 'hello', health_endpoint: '/healthz', compose_up_args: '-d' };

let t: TestDb;
let fake: FakeAgentServer;
let sealingKey: KeyRing;
let values: Record<string, string>;
let logger: Logger;
let acts: AgentActivities;
let env: MockActivityEnvironment;

// Expected failures would otherwise be logged as WARN by the mock environment on every run.
const quiet: TemporalLogger = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

const settings: SettingsReader = {
  async get(key) {
    if (!(key in values)) throw new Error(`unknown setting ${key}`);
    return values[key] ?? '';
  },
};

/** env.run with the activity's own input/output types (its generic signature infers `unknown`). */
function run<I, O>(fn: (input: I) => Promise<O>, input: I): Promise<O> {
  return env.run(fn, input) as Promise<O>;
}

function expectRetryable(err: unknown) {
  expect(err).toBeInstanceOf(AgentUnavailableError);
  expect(err).not.toBeInstanceOf(ApplicationFailure);
  expect((err as Error).name).toBe(AgentFailureType.Unavailable);
}

/** Default: a control plane outside a TEE (no configfs-tsm), as on a laptop. */
function build(opts: { timeoutMs?: number; tsmRoot?: string } = {}) {
  acts = createAgentActivities({
    db: t.db,
    settings,
    sealingKey,
    logger,
    timeoutMs: opts.timeoutMs,
    tsmRoot: opts.tsmRoot ?? '/nonexistent/tsm/report',
  });
}

async function seedAgent(agentId: string, secret: string | null, sealedWith = sealingKey) {
  const now = nowIso();
  await t.db('agents').insert({
    agent_id: agentId,
    vm_name: `vm-${agentId}`,
    hostname: `agent-${agentId}.easyenclave.test`,
    datacenter: 'gcp:us-central1-a',
    node_size: 'tiny',
    registered_at: now,
    last_heartbeat: now,
  });
  await t.db('agent_control_credentials').insert({
    agent_id: agentId,
    api_secret_hash: '$argon2id$v=19$m=19456,t=2,p=1$fake$fake',
    api_secret_prefix: secret ? secret.slice(0, 8) : 'none',
    api_secret_sealed: secret ? seal(sealedWith, secret).sealed : null,
    created_at: now,
    updated_at: now,
  });
}

async function seedDeployment(deploymentId: string, agentId: string) {
  await t.db('deployments').insert({
    deployment_id: deploymentId,
    compose: COMPOSE,
    config: JSON.stringify(CONFIG),
    agent_id: agentId,
    status: 'pushing',
    app_name: 'hello',
    app_version: '1.0.0',
    created_at: nowIso(),
  });
}

const agentRequests = (path: string, agentId = AGENT) =>
  fake.requests.filter((r) => r.agentId === agentId && r.path === path);

beforeAll(async () => {
  fake = await startFakeAgent();
});
afterAll(async () => {
  await fake.close();
});
beforeEach(async (ctx) => {
  fake.reset();
  t = await createTestDb('sqlite');
  ctx.onTestFinished(() => t.destroy());
  sealingKey = randomKeyRing();
  values = {
    'operational.agent_direct_url': fake.directUrlTemplate,
    'operational.cp_to_agent_attestation_mode': 'optional',
  };
  logger = silentLogger();
  build();
  env = new MockActivityEnvironment(undefined, { logger: quiet });
  await seedAgent(AGENT, SECRET);
  await seedDeployment(DEPLOYMENT, AGENT);
  fake.agent(AGENT, { secret: SECRET });
});

describe('agentHealth', () => {
  it('reports a healthy agent with its health object, without credentials', async () => {
    const out = await run(acts.agentHealth, { agentId: AGENT, hostname: HOST });
    expect(out).toEqual({ healthy: true, status: 200, body: expect.objectContaining({ agent_id: AGENT }) });
    expect(out.body).toMatchObject({ status: 'undeployed', containers: [] });
    const [req] = agentRequests('/api/health');
    expect(req?.query).toEqual({});
    expect(req?.headers['x-agent-secret']).toBeUndefined();
  });

  it('asks for a fresh attestation with attest=true', async () => {
    const out = await run(acts.agentHealth, { agentId: AGENT, hostname: HOST, attest: true });
    expect(out.healthy).toBe(true);
    expect(out.body?.attestation).toMatchObject({ tdx: { intel_ta_token: 'fake.ita.token' } });
    expect(agentRequests('/api/health')[0]?.query).toEqual({ attest: 'true' });
  });

  it('returns unhealthy (never throws) for non-200, non-JSON and dropped answers', async () => {
    const a = fake.agent(AGENT);

    a.healthMode = 'unhealthy';
    const unhealthy = await run(acts.agentHealth, { agentId: AGENT, hostname: HOST });
    expect(unhealthy).toMatchObject({ healthy: false, status: 503, body: { error: 'agent unhealthy' } });
    expect(unhealthy.error).toMatch(/HTTP 503/);

    a.healthMode = 'error500';
    expect(await run(acts.agentHealth, { agentId: AGENT, hostname: HOST })).toMatchObject({
      healthy: false,
      status: 500,
      body: null,
    });

    a.healthMode = 'non_json';
    const html = await run(acts.agentHealth, { agentId: AGENT, hostname: HOST });
    expect(html).toMatchObject({ healthy: false, status: 200, body: null });
    expect(html.error).toMatch(/JSON/);

    a.healthMode = 'drop';
    expect(await run(acts.agentHealth, { agentId: AGENT, hostname: HOST })).toMatchObject({
      healthy: false,
      status: null,
      body: null,
    });
  });

  it('treats a timeout as unhealthy', async () => {
    build({ timeoutMs: 150 });
    fake.agent(AGENT, { healthMode: 'slow', healthDelayMs: 5000 });
    const out = await run(acts.agentHealth, { agentId: AGENT, hostname: HOST });
    expect(out).toMatchObject({ healthy: false, status: null, body: null });
    expect(out.error).toMatch(/timed out after 150 ms/);
  });
});

describe('agentDeploy', () => {
  it('sends the compose and config of the deployment row with the unsealed secret; 202 → accepted', async () => {
    const out = await run(acts.agentDeploy, { agentId: AGENT, hostname: HOST, deploymentId: DEPLOYMENT });
    expect(out).toEqual({ accepted: true, deploymentId: DEPLOYMENT, alreadyAccepted: false, status: 202 });

    const a = fake.agent(AGENT);
    expect(a.deploys).toEqual([
      {
        deployment_id: DEPLOYMENT,
        app_name: 'hello',
        datacenter: 'gcp:us-central1-a',
        compose: COMPOSE,
        build_context: null,
        config: CONFIG,
        // the paid-for limits of the row (defaults 2 vCPU, 4 GB, no GPU)
        resources: { cpu_vcpus: 2, memory_gb: 4, gpu_count: 0 },
      },
    ]);
    expect(a.status).toBe('deploying');
    const [req] = agentRequests('/api/deploy');
    expect(req?.method).toBe('POST');
    expect(req?.headers['x-agent-secret']).toBe(SECRET);
    expect(req?.headers['content-type']).toBe('application/json');
  });

  it('is idempotent by deployment id: a 409 for the same id counts as accepted', async () => {
    fake.agent(AGENT, { repeatDeploy: 'conflict' });
    const input = { agentId: AGENT, hostname: HOST, deploymentId: DEPLOYMENT };
    expect((await run(acts.agentDeploy, input)).alreadyAccepted).toBe(false);
    expect(await run(acts.agentDeploy, input)).toEqual({
      accepted: true,
      deploymentId: DEPLOYMENT,
      alreadyAccepted: true,
      status: 409,
    });
    expect(fake.agent(AGENT).deploys).toHaveLength(1);
  });

  it('rejects a 409 that names another deployment (agent busy)', async () => {
    fake.agent(AGENT, { repeatDeploy: 'conflict' });
    const other = '0f0f0f0f-1a2b-4c3d-9e0f-a1b2c3d4e5f6';
    await seedDeployment(other, AGENT);
    await run(acts.agentDeploy, { agentId: AGENT, hostname: HOST, deploymentId: DEPLOYMENT });
    const busy = await failure(run(acts.agentDeploy, { agentId: AGENT, hostname: HOST, deploymentId: other }));
    expectNonRetryable(busy, AgentFailureType.Rejected);
    expect((busy as ApplicationFailure).details).toEqual([{ status: 409, body: expect.stringContaining(DEPLOYMENT) }]);
  });

  it('takes a 409 that names no deployment as "already deploying this id"', async () => {
    fake.failNext(1, 409, { pathIncludes: '/api/deploy' });
    expect(await run(acts.agentDeploy, { agentId: AGENT, hostname: HOST, deploymentId: DEPLOYMENT })).toMatchObject({
      alreadyAccepted: true,
      status: 409,
    });
  });

  it('maps 5xx and dropped connections to retryable failures', async () => {
    fake.failNext(1, 500, { pathIncludes: '/api/deploy' });
    const err = await failure(run(acts.agentDeploy, { agentId: AGENT, hostname: HOST, deploymentId: DEPLOYMENT }));
    expectRetryable(err);
    expect((err as AgentUnavailableError).status).toBe(500);

    fake.failNext(1, 500, { pathIncludes: '/api/deploy', network: true });
    const dropped = await failure(run(acts.agentDeploy, { agentId: AGENT, hostname: HOST, deploymentId: DEPLOYMENT }));
    expectRetryable(dropped);
    expect((dropped as AgentUnavailableError).status).toBeNull();
    expect(fake.agent(AGENT).deploys).toHaveLength(0);

    // The retry then succeeds.
    expect((await run(acts.agentDeploy, { agentId: AGENT, hostname: HOST, deploymentId: DEPLOYMENT })).accepted).toBe(
      true,
    );
  });

  it('maps 401 (wrong secret) to non-retryable AgentRejected and 404 to AgentNotFound', async () => {
    fake.agent(AGENT).secret = 'a-different-secret';
    const err = await failure(run(acts.agentDeploy, { agentId: AGENT, hostname: HOST, deploymentId: DEPLOYMENT }));
    expectNonRetryable(err, AgentFailureType.Rejected);
    expect((err as ApplicationFailure).details).toEqual([{ status: 401, body: '{"error":"Unauthorized"}' }]);

    fake.failNext(1, 404);
    const notFound = await failure(run(acts.agentDeploy, { agentId: AGENT, hostname: HOST, deploymentId: DEPLOYMENT }));
    expectNonRetryable(notFound, AgentFailureType.NotFound);
  });

  it('calls without X-Agent-Secret (and warns) when no sealed secret is stored', async () => {
    await t.db('agent_control_credentials').where({ agent_id: AGENT }).update({ api_secret_sealed: null });
    fake.agent(AGENT).secret = null;
    await run(acts.agentDeploy, { agentId: AGENT, hostname: HOST, deploymentId: DEPLOYMENT });
    expect(agentRequests('/api/deploy')[0]?.headers['x-agent-secret']).toBeUndefined();
    expect(logger.buffer.records('WARNING').map((r) => r.message)).toEqual([
      `No sealed control secret for agent ${AGENT}; calling it without X-Agent-Secret`,
    ]);
  });

  it('fails non-retryably for an unknown deployment, another agent, or an unreadable secret', async () => {
    expectNonRetryable(
      await failure(run(acts.agentDeploy, { agentId: AGENT, hostname: HOST, deploymentId: 'nope' })),
      AgentFailureType.DeploymentNotFound,
    );

    await seedAgent(OTHER_AGENT, SECRET, randomKeyRing());
    expectNonRetryable(
      await failure(run(acts.agentDeploy, { agentId: OTHER_AGENT, hostname: null, deploymentId: DEPLOYMENT })),
      AgentFailureType.DeploymentAgentMismatch,
    );

    const theirs = '7e7e7e7e-1a2b-4c3d-9e0f-a1b2c3d4e5f6';
    await seedDeployment(theirs, OTHER_AGENT);
    expectNonRetryable(
      await failure(run(acts.agentDeploy, { agentId: OTHER_AGENT, hostname: null, deploymentId: theirs })),
      AgentFailureType.SecretUnreadable,
    );
    expect(fake.requests).toHaveLength(0);
  });

  it('lets the fake agent call the CP back with the bearer secret after a delay', async () => {
    const received: { path: string; auth: string | undefined; body: unknown }[] = [];
    const cp: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push({ path: req.url ?? '', auth: req.headers.authorization, body: JSON.parse(body) });
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"status":"ok"}');
      });
    });
    await new Promise<void>((r) => cp.listen(0, '127.0.0.1', r));
    try {
      const cpUrl = `http://127.0.0.1:${(cp.address() as AddressInfo).port}`;
      fake.agent(AGENT, { callback: { cpUrl, delayMs: 50 } });
      await run(acts.agentDeploy, { agentId: AGENT, hostname: HOST, deploymentId: DEPLOYMENT });
      await expect.poll(() => fake.agent(AGENT).callbacks.length, { timeout: 5000 }).toBe(1);
      expect(received).toEqual([
        {
          path: `/api/v1/agents/${AGENT}/deployed`,
          auth: `Bearer ${SECRET}`,
          body: { deployment_id: DEPLOYMENT, service_id: '', attestation: expect.any(Object) },
        },
      ]);
      expect(fake.agent(AGENT).status).toBe('deployed');
    } finally {
      await new Promise<void>((r) => cp.close(() => r()));
    }
  });
});

describe('X-CP-Attestation on deploy/undeploy (operational.cp_to_agent_attestation_mode)', () => {
  const CP_MRTD = 'cc'.repeat(48);
  let tsm: FakeTsm | undefined;
  afterEach(() => tsm?.close());
  const deploy = () => run(acts.agentDeploy, { agentId: AGENT, hostname: HOST, deploymentId: DEPLOYMENT });
  const headerOf = (path: string) => agentRequests(path)[0]?.headers['x-cp-attestation'] as string | undefined;

  it('optional on a CP outside a TEE: no challenge, no header, the deploy goes through (v1 behaviour)', async () => {
    expect(await deploy()).toMatchObject({ accepted: true });
    expect(agentRequests('/api/control/challenge')).toHaveLength(0);
    expect(headerOf('/api/deploy')).toBeUndefined();
  });

  it('required on a CP that cannot mint a quote: fails non-retryably before the agent is called', async () => {
    values['operational.cp_to_agent_attestation_mode'] = 'required';
    const err = await failure(deploy());
    expectNonRetryable(err, AgentFailureType.CpAttestationUnavailable);
    expect((err as Error).message).toContain('control plane cannot mint TDX quotes');
    expect(fake.requests.filter((r) => r.path.startsWith('/api/'))).toHaveLength(0);
  });

  it('with a TSM: challenge → own quote over the nonce ASCII → envelope on deploy and undeploy', async () => {
    values['operational.cp_to_agent_attestation_mode'] = 'required';
    tsm = startFakeTsm({ mrtd: CP_MRTD, rtmrs: RTMRS });
    build({ tsmRoot: tsm.root });
    await deploy();
    await run(acts.agentUndeploy, { agentId: AGENT, hostname: HOST });
    const challenges = agentRequests('/api/control/challenge');
    expect(challenges).toHaveLength(2);
    expect(challenges[0]!.headers['x-agent-secret']).toBe(SECRET);
    const nonces: string[] = [];
    for (const path of ['/api/deploy', '/api/undeploy']) {
      const header = headerOf(path)!;
      expect(header).toMatch(/^[A-Za-z0-9_-]+$/); // base64url without padding
      const env = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
      expect(Object.keys(env)).toEqual(['nonce', 'quote_b64', 'mrtd', 'generated_at']);
      expect(env.mrtd).toBe(CP_MRTD);
      const q = quoteFromBase64(env.quote_b64);
      expect(q.mrtd).toBe(CP_MRTD);
      expect(Buffer.from(q.reportData, 'hex').toString('ascii')).toBe(env.nonce);
      nonces.push(env.nonce);
    }
    expect(nonces[0]).not.toBe(nonces[1]); // a fresh nonce per call
  });

  it('required: a challenge the agent fails with 5xx is retryable; optional: it just sends no header', async () => {
    tsm = startFakeTsm({ mrtd: CP_MRTD, rtmrs: RTMRS });
    build({ tsmRoot: tsm.root });
    values['operational.cp_to_agent_attestation_mode'] = 'required';
    fake.failNext(1, 503, { pathIncludes: '/api/control/challenge' });
    expectRetryable(await failure(deploy()));
    expect(agentRequests('/api/deploy')).toHaveLength(0);
    values['operational.cp_to_agent_attestation_mode'] = 'optional';
    fake.failNext(1, 404, { pathIncludes: '/api/control/challenge' });
    expect(await deploy()).toMatchObject({ accepted: true });
    expect(headerOf('/api/deploy')).toBeUndefined();
  });

  it('disabled: never asks for a challenge, even with a TSM', async () => {
    tsm = startFakeTsm({ mrtd: CP_MRTD, rtmrs: RTMRS });
    build({ tsmRoot: tsm.root });
    values['operational.cp_to_agent_attestation_mode'] = 'disabled';
    await deploy();
    expect(agentRequests('/api/control/challenge')).toHaveLength(0);
    expect(headerOf('/api/deploy')).toBeUndefined();
  });
});

describe('agentUndeploy', () => {
  it('posts /api/undeploy with the secret and clears the agent', async () => {
    await run(acts.agentDeploy, { agentId: AGENT, hostname: HOST, deploymentId: DEPLOYMENT });
    const out = await run(acts.agentUndeploy, { agentId: AGENT, hostname: HOST });
    expect(out).toEqual({ undeployed: true, agentStatus: 'undeployed' });
    const a = fake.agent(AGENT);
    expect(a.undeploys).toBe(1);
    expect(a.deploymentId).toBeNull();
    const [req] = agentRequests('/api/undeploy');
    expect(req?.headers['x-agent-secret']).toBe(SECRET);
    expect(req?.body).toBe('');
  });

  it('maps a 503 to retryable and a 403 to AgentRejected', async () => {
    fake.failNext(1, 503, { pathIncludes: '/api/undeploy' });
    expectRetryable(await failure(run(acts.agentUndeploy, { agentId: AGENT, hostname: HOST })));
    fake.failNext(1, 403, { pathIncludes: '/api/undeploy' });
    expectNonRetryable(
      await failure(run(acts.agentUndeploy, { agentId: AGENT, hostname: HOST })),
      AgentFailureType.Rejected,
    );
  });
});

describe('agentLogs / agentStats', () => {
  it('pulls logs with the secret (v1 sent none), filters and keeps the last N lines', async () => {
    const a = fake.agent(AGENT);
    a.logLines = Array.from({ length: 30 }, (_, i) => ({ container: i % 2 ? 'app-web-1' : 'app-db-1', line: `l${i}` }));

    const all = await run(acts.agentLogs, { agentId: AGENT, hostname: HOST });
    expect(all).toMatchObject({ count: 30, truncated: false });
    expect(all.logs).toHaveLength(30);

    const web = await run(acts.agentLogs, { agentId: AGENT, hostname: HOST, since: '10m', container: 'web', lines: 5 });
    expect(web).toEqual({
      logs: ['l21', 'l23', 'l25', 'l27', 'l29'].map((line) => ({ container: 'app-web-1', line })),
      count: 15,
      truncated: true,
    });
    const req = agentRequests('/api/logs')[1];
    expect(req?.query).toEqual({ since: '10m', container: 'web', lines: '5' });
    expect(req?.headers['x-agent-secret']).toBe(SECRET);
  });

  it('returns the stats object', async () => {
    expect(await run(acts.agentStats, { agentId: AGENT, hostname: HOST })).toMatchObject({
      cpu_percent: 3.5,
      uptime_seconds: 3600,
    });
    expect(agentRequests('/api/stats')[0]?.headers['x-agent-secret']).toBe(SECRET);
  });
});

describe('agent addressing', () => {
  it('substitutes {hostname} in AGENT_DIRECT_URL', async () => {
    values['operational.agent_direct_url'] = `${fake.url}/agents/{hostname}`;
    expect((await run(acts.agentHealth, { agentId: AGENT, hostname: HOST })).healthy).toBe(true);
    expect(fake.requests.map((r) => r.agentId)).toEqual([HOST]);
  });

  it('substitutes {agent_id} so one fake serves many agents', async () => {
    expect((await run(acts.agentHealth, { agentId: OTHER_AGENT, hostname: null })).body).toMatchObject({
      agent_id: OTHER_AGENT,
    });
    expect((await run(acts.agentHealth, { agentId: AGENT, hostname: HOST })).body).toMatchObject({ agent_id: AGENT });
    expect(fake.requests.map((r) => r.agentId)).toEqual([OTHER_AGENT, AGENT]);
  });

  it('fails non-retryably with no hostname and no AGENT_DIRECT_URL', async () => {
    values['operational.agent_direct_url'] = '';
    expectNonRetryable(
      await failure(run(acts.agentHealth, { agentId: AGENT, hostname: null })),
      AgentFailureType.NoAddress,
    );
    expectNonRetryable(
      await failure(run(acts.agentDeploy, { agentId: AGENT, hostname: '', deploymentId: DEPLOYMENT })),
      AgentFailureType.NoAddress,
    );
    expectNonRetryable(
      await failure(run(acts.agentHealth, { agentId: '', hostname: HOST })),
      AgentFailureType.InvalidInput,
    );
    expect(fake.requests).toHaveLength(0);
  });
});
