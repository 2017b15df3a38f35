/**
 * The Koa app through `createApp(deps).callback()` against a fake workflow gateway (no Temporal): request
 * validation (422 `{detail: [...]}` before any workflow call), authentication and authorization (401/403), and the
 * mapping of typed workflow failures to statuses (api/failures.ts). Real SQLite (a temp file), real settings.
 */
import { ApplicationFailure, RetryState } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app';
import type { AppDeps } from '../../api/deps';
import type { WorkflowGateway } from '../../api/temporal';
import { newApiKey } from '../../core/auth/api-keys';
import { createAdminSession } from '../../core/auth/admin-sessions';
import { randomKeyRing } from '../../core/auth/keyring';
import { VerifiedTokenCache } from '../../core/auth/token-cache';
import { loadConfig } from '../../core/config';
import { silentLogger } from '../../core/logger';
import { SettingsService } from '../../core/settings/service';
import { AgentFailure } from '../../workflows/contracts/failures';
import type { DeploymentInput, PlacementAnswer, UndeployAgentInput } from '../../workflows/contracts/deployments';
import { createTestDb, type TestDb } from '../helpers/databases';
import { seedAccount, seedAgent } from '../helpers/seed';

const COMPOSE = 'services:\n  web:\n    image: nginx\n';

/** What the routes asked of Temporal, and what the fake answers next. */
interface Fake {
  starts: DeploymentInput[];
  undeployAgents: UndeployAgentInput[];
  placement: PlacementAnswer | null;
  undeployAgentError: Error | null;
}

function fakeGateway(fake: Fake): WorkflowGateway {
  const deployments: Partial<WorkflowGateway['deployments']> = {
    async startDeployment(input) {
      fake.starts.push(input);
      return fake.placement;
    },
    async undeployDeployment() {
      return null;
    },
    async undeployAgent(input) {
      fake.undeployAgents.push(input);
      if (fake.undeployAgentError) throw fake.undeployAgentError;
      return { agentId: input.agentId, stoppedDeploymentId: null };
    },
  };
  // Anything else a route reaches for is a test bug: fail loudly instead of answering undefined.
  const loud = <T extends object>(part: string, known: Partial<T>) =>
    new Proxy(known, {
      get(target, key) {
        if (key in target) return target[key as keyof T];
        if (key === 'then') return undefined;
        throw new Error(`fake gateway: ${part}.${String(key)} is not faked`);
      },
    }) as T;
  return loud<WorkflowGateway>('workflows', {
    deployments: loud('deployments', deployments),
    temporalReachable: async () => true,
  });
}

describe('API router against a fake workflow gateway', () => {
  let testDb: TestDb;
  let server: Server;
  let base = '';
  let deployerKey = '';
  let adminToken = '';
  let userToken = '';
  const env: Record<string, string> = { RATELIMIT_ENABLED: 'false', BILLING_ENABLED: 'false' };
  const fake: Fake = { starts: [], undeployAgents: [], placement: null, undeployAgentError: null };

  beforeAll(async () => {
    testDb = await createTestDb('sqlite');
    // Read live by SettingsService: a test may flip a setting here.
    const keys = randomKeyRing();
    const deps: AppDeps = {
      db: testDb.db,
      settings: new SettingsService(testDb.db, { env }),
      workflows: fakeGateway(fake),
      logger: silentLogger(),
      config: loadConfig(env),
      adminPasswordHash: null,
      credentialCache: new VerifiedTokenCache(),
      sealingKey: keys,
      cpAttestation: async () => null,
      now: () => new Date(),
    };
    const key = newApiKey(keys);
    await seedAccount(testDb.db, { api_key_hash: key.hash, api_key_prefix: key.prefix });
    deployerKey = key.key;
    adminToken = (await createAdminSession(testDb.db, keys, { authMethod: 'password' }, new Date())).token;
    const github = { id: 7, login: 'mallory', email: null, avatarUrl: null, orgs: [] };
    userToken = (await createAdminSession(testDb.db, keys, { authMethod: 'github_oauth', github }, new Date())).token;
    server = createServer(createApp(deps).callback());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    await testDb?.destroy();
  });
  beforeEach(() => {
    fake.starts.length = 0;
    fake.undeployAgents.length = 0;
    fake.placement = null;
    fake.undeployAgentError = null;
    env.BILLING_ENABLED = 'false';
  });

  const call = async (method: string, path: string, opts: { token?: string; json?: unknown } = {}) => {
    const headers: Record<string, string> = {};
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (opts.json !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${base}${path}`, {
      method,
      headers,
      body: opts.json === undefined ? undefined : JSON.stringify(opts.json),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
  };

  describe('validation', () => {
    it('a malformed deploy body is a 422 with FastAPI-shaped issues; no workflow is started', async () => {
      const res = await call('POST', '/api/v1/deploy', {
        token: deployerKey,
        json: { compose: '', node_size: 'huge', cpu_vcpus: 'two' },
      });
      expect(res.status).toBe(422);
      expect(Array.isArray(res.body.detail)).toBe(true);
      const locs = res.body.detail.map((i: { loc: unknown[] }) => i.loc.join('.'));
      expect(locs).toEqual(expect.arrayContaining(['body.compose', 'body.node_size', 'body.cpu_vcpus']));
      for (const issue of res.body.detail) expect(Object.keys(issue).sort()).toEqual(['loc', 'msg', 'type']);
      expect(fake.starts).toEqual([]);
    });

    it('a compose without top-level services is a 422 with a string detail', async () => {
      const res = await call('POST', '/api/v1/deploy', { token: deployerKey, json: { compose: 'volumes: {}\n' } });
      expect(res.status).toBe(422);
      expect(res.body).toEqual({ detail: "compose must be a docker compose file with a top-level 'services' key" });
      expect(fake.starts).toEqual([]);
    });

    it('a body that is not JSON is refused before any handler runs', async () => {
      const res = await fetch(`${base}/api/v1/deploy`, {
        method: 'POST',
        headers: { authorization: `Bearer ${deployerKey}`, 'content-type': 'application/json' },
        body: '{"compose":',
      });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(Object.keys((await res.json()) as object)).toEqual(['detail']);
      expect(fake.starts).toEqual([]);
    });
  });

  describe('authentication and authorization', () => {
    it('no credential on the deploy route: 401 with a Bearer challenge', async () => {
      const res = await call('POST', '/api/v1/deploy', { json: { compose: COMPOSE } });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(typeof res.body.detail).toBe('string');
    });

    it('a wrong API key: 401, never reaching placement', async () => {
      const res = await call('POST', '/api/v1/deploy', { token: 'ee_live_not-a-key', json: { compose: COMPOSE } });
      expect(res.status).toBe(401);
      expect(fake.starts).toEqual([]);
    });

    it('an admin route wants a session: a deployer key is 401, a non-admin GitHub session 403', async () => {
      const { agent_id } = await seedAgent(testDb.db);
      const byKey = await call('POST', `/api/v1/agents/${agent_id}/undeploy`, { token: deployerKey });
      expect(byKey.status).toBe(401);
      const bySession = await call('POST', `/api/v1/agents/${agent_id}/undeploy`, { token: userToken });
      expect(bySession).toMatchObject({ status: 403, body: { detail: 'Admin access required' } });
      expect(fake.undeployAgents).toEqual([]);
    });
  });

  describe('deploy through the gateway', () => {
    it('no eligible agent: 503 and no start', async () => {
      await testDb.db('agents').del();
      const res = await call('POST', '/api/v1/deploy', { token: deployerKey, json: { compose: COMPOSE } });
      expect(res.status).toBe(503);
      expect(res.body.detail).toMatch(/No eligible agents/);
      expect(fake.starts).toEqual([]);
    });

    it('placement accepted: 202 with Location; the start carries the staged compose digest and candidates', async () => {
      await testDb.db('agents').del();
      const { agent_id } = await seedAgent(testDb.db);
      fake.placement = { ok: true, agentId: agent_id };
      const res = await call('POST', '/api/v1/deploy', {
        token: deployerKey,
        json: { compose: COMPOSE, app_name: 'web' },
      });
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ agent_id, status: 'pending' });
      expect(res.headers.get('location')).toBe(`/api/v1/deployments/${res.body.deployment_id}`);
      expect(fake.starts).toHaveLength(1);
      expect(fake.starts[0]!.deploymentId).toBe(res.body.deployment_id);
      expect(fake.starts[0]!.candidates.map((c) => c.agentId)).toEqual([agent_id]);
      expect(fake.starts[0]!.record?.composeSha256).toMatch(/^[0-9a-f]{64}$/);
      expect(fake.starts[0]!.record?.config).toMatchObject({ app_name: 'web', service_name: 'web' });
    });

    it('billing on and an account without funds: 402 before any start', async () => {
      await testDb.db('agents').del();
      await seedAgent(testDb.db);
      env.BILLING_ENABLED = 'true';
      const res = await call('POST', '/api/v1/deploy', { token: deployerKey, json: { compose: COMPOSE } });
      expect(res.status).toBe(402);
      expect(typeof res.body.detail).toBe('string');
      expect(fake.starts).toEqual([]);
    });

    it('placement refused by the workflow (agent taken meanwhile): 503 with its error', async () => {
      await testDb.db('agents').del();
      await seedAgent(testDb.db);
      fake.placement = { ok: false, error: 'every eligible agent was taken' };
      const res = await call('POST', '/api/v1/deploy', { token: deployerKey, json: { compose: COMPOSE } });
      expect(res).toMatchObject({ status: 503, body: { detail: 'every eligible agent was taken' } });
    });
  });

  describe('typed failures to statuses (api/failures.ts)', () => {
    const failed = (type: string, message: string) =>
      new WorkflowFailedError(
        'Workflow execution failed',
        ApplicationFailure.nonRetryable(message, type),
        RetryState.NON_RETRYABLE_FAILURE,
      );

    it.each([
      [AgentFailure.Unavailable, 502],
      [AgentFailure.Rejected, 502],
      [AgentFailure.NotFound, 502],
      [AgentFailure.NoAddress, 400],
      ['SomethingUnmapped', 502],
    ])('%s → %i with the failure message in detail', async (type, status) => {
      const { agent_id } = await seedAgent(testDb.db);
      fake.undeployAgentError = failed(type, 'the agent said no');
      const res = await call('POST', `/api/v1/agents/${agent_id}/undeploy`, { token: adminToken });
      expect(fake.undeployAgents).toEqual([{ agentId: agent_id, actor: 'password' }]);
      expect(res).toMatchObject({ status, body: { detail: 'Agent undeploy failed: the agent said no' } });
    });

    it('an error that is no workflow failure is a 500 whose detail does not leak the message', async () => {
      const { agent_id } = await seedAgent(testDb.db);
      fake.undeployAgentError = new Error('secret internals');
      const res = await call('POST', `/api/v1/agents/${agent_id}/undeploy`, { token: adminToken });
      expect(res.status).toBe(500);
      expect(JSON.stringify(res.body)).not.toContain('secret internals');
    });

    it('an unknown agent is a 404 before any workflow call', async () => {
      const res = await call('POST', '/api/v1/agents/no-such-agent/undeploy', { token: adminToken });
      expect(res).toMatchObject({ status: 404, body: { detail: 'Agent not found' } });
      expect(fake.undeployAgents).toEqual([]);
    });
  });
});
