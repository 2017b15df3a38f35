import { ApplicationFailure, type Logger } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { expectNonRetryable, failure } from '../helpers/activity-failures';
import {
  CloudflareFailureType,
  CloudflareUnavailableError,
  createCloudflareActivities,
  type CloudflareActivities,
} from '../../activities/cloudflare';
import type { SettingsReader } from '../../core/settings/types';
import { startFakeCloudflare, type FakeCloudflare } from '../fakes/cloudflare';

const AGENT = '3f2b8c1e-6a4d-4e1f-9b7a-0c5d2e8f1a34';

let cf: FakeCloudflare;
let values: Record<string, string>;
let acts: CloudflareActivities;
let env: MockActivityEnvironment;

// Expected failures would otherwise be logged as WARN by the mock environment on every run.
const quiet: Logger = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/** env.run with the activity's own input/output types (its generic signature infers `unknown`). */
function run<I, O>(fn: (input: I) => Promise<O>, input: I): Promise<O> {
  return env.run(fn, input) as Promise<O>;
}

const settings: SettingsReader = {
  async get(key) {
    if (!(key in values)) throw new Error(`unknown setting ${key}`);
    return values[key] ?? '';
  },
};

function configure(overrides: Record<string, string> = {}) {
  values = {
    'cloudflare.account_id': cf.accountId,
    'cloudflare.zone_id': cf.zoneId,
    'cloudflare.api_token': cf.apiToken,
    'cloudflare.domain': cf.zoneName,
    'cloudflare.api_url': cf.url,
    ...overrides,
  };
}

function expectRetryable(err: unknown) {
  expect(err).toBeInstanceOf(Error);
  expect(err).not.toBeInstanceOf(ApplicationFailure);
  expect(err).toBeInstanceOf(CloudflareUnavailableError);
}

const count = (method: string, suffix: string) =>
  cf.requests.filter((r) => r.method === method && r.path.endsWith(suffix)).length;

beforeAll(async () => {
  cf = await startFakeCloudflare({ zoneName: 'easyenclave.test' });
});
afterAll(async () => {
  await cf.close();
});
beforeEach(() => {
  cf.reset();
  configure();
  acts = createCloudflareActivities({ settings });
  env = new MockActivityEnvironment(undefined, { logger: quiet });
});

describe('cloudflareConfigured', () => {
  it('reports configured + domain, and not configured when any of the three ids is blank', async () => {
    expect(await run(acts.cloudflareConfigured, {})).toEqual({ configured: true, domain: 'easyenclave.test' });
    for (const key of ['cloudflare.account_id', 'cloudflare.zone_id', 'cloudflare.api_token']) {
      configure({ [key]: '  ' });
      expect(await run(acts.cloudflareConfigured, {})).toEqual({ configured: false, domain: 'easyenclave.test' });
    }
    configure({ 'cloudflare.domain': '' });
    expect((await run(acts.cloudflareConfigured, {})).domain).toBe('easyenclave.com');
  });
});

describe('ensureAgentTunnel', () => {
  it('creates the tunnel, ingress and proxied CNAME under deterministic names and returns the token', async () => {
    const out = await run(acts.ensureAgentTunnel, { agentId: AGENT });

    expect(out.tunnelName).toBe(`agent-${AGENT}`);
    expect(out.hostname).toBe(`agent-${AGENT}.easyenclave.test`);
    expect(out.createdTunnel).toBe(true);

    const [tunnel, ...more] = cf.tunnels();
    expect(more).toHaveLength(0);
    expect(tunnel!.id).toBe(out.tunnelId);
    expect(tunnel!.name).toBe(`agent-${AGENT}`);
    expect(tunnel!.config_src).toBe('cloudflare');
    expect(Buffer.from(tunnel!.tunnel_secret, 'base64')).toHaveLength(32);
    expect(out.tunnelToken).toBe(tunnel!.token);
    expect(JSON.parse(Buffer.from(out.tunnelToken, 'base64').toString())).toMatchObject({
      a: cf.accountId,
      t: out.tunnelId,
    });
    expect(tunnel!.config).toEqual({
      ingress: [{ hostname: out.hostname, service: 'http://localhost:8081' }, { service: 'http_status:404' }],
    });

    expect(cf.dnsRecords()).toEqual([
      expect.objectContaining({
        id: out.dnsRecordId,
        type: 'CNAME',
        name: out.hostname,
        content: `${out.tunnelId}.cfargotunnel.com`,
        proxied: true,
      }),
    ]);
    // Looked up by name before creating, with the bearer token.
    const lookup = cf.requests.find((r) => r.method === 'GET' && r.path.endsWith('/cfd_tunnel'));
    expect(lookup?.query).toMatchObject({ name: `agent-${AGENT}`, is_deleted: 'false' });
  });

  it('is idempotent: a second call reuses the tunnel and record and creates nothing', async () => {
    const first = await run(acts.ensureAgentTunnel, { agentId: AGENT });
    cf.requests.length = 0;
    const second = await run(acts.ensureAgentTunnel, { agentId: AGENT });

    expect(second).toEqual({ ...first, createdTunnel: false });
    expect(cf.tunnels({ includeDeleted: true })).toHaveLength(1);
    expect(cf.dnsRecords()).toHaveLength(1);
    expect(count('POST', '/cfd_tunnel')).toBe(0);
    expect(count('POST', '/dns_records')).toBe(0);
    expect(cf.requests.filter((r) => r.method === 'PATCH')).toHaveLength(0);
    expect(count('GET', '/token')).toBe(1); // reuse path fetches the token
  });

  it('fresh (a new agent): creates without looking up first, three calls', async () => {
    const out = await run(acts.ensureAgentTunnel, { agentId: AGENT, fresh: true });
    expect(cf.requests.map((r) => r.method)).toEqual(['POST', 'PUT', 'POST']);
    expect(out.createdTunnel).toBe(true);
    expect(cf.tunnels()).toHaveLength(1);
    expect(cf.dnsRecords()).toHaveLength(1);
    expect(out.tunnelToken).toBe(cf.tunnels()[0]!.token);
  });

  it('fresh, retried after an attempt that made both: the name-taken answers lead to reuse, nothing doubles', async () => {
    const first = await run(acts.ensureAgentTunnel, { agentId: AGENT, fresh: true });
    cf.requests.length = 0;
    const again = await run(acts.ensureAgentTunnel, { agentId: AGENT, fresh: true });
    expect(again).toEqual({ ...first, createdTunnel: false });
    expect(cf.tunnels({ includeDeleted: true })).toHaveLength(1);
    expect(cf.dnsRecords()).toHaveLength(1);
    // The refused creates (409 / 81053) are followed by the look-ups the non-fresh path starts with.
    expect(cf.requests.filter((r) => r.method === 'POST').map((r) => r.status)).toEqual([409, 400]);
    expect(count('GET', '/token')).toBe(1);
  });

  it('repoints an existing CNAME that targets another tunnel instead of adding a second record', async () => {
    cf.seedDnsRecord({ name: `agent-${AGENT}`, content: 'stale-tunnel.cfargotunnel.com', proxied: false });
    const out = await run(acts.ensureAgentTunnel, { agentId: AGENT });
    const records = cf.dnsRecords();
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      content: `${out.tunnelId}.cfargotunnel.com`,
      proxied: true,
      id: out.dnsRecordId,
    });
  });

  it('fails non-retryably with CloudflareNotConfigured and makes no request when not configured', async () => {
    configure({ 'cloudflare.zone_id': '' });
    expectNonRetryable(
      await failure(run(acts.ensureAgentTunnel, { agentId: AGENT })),
      CloudflareFailureType.NotConfigured,
    );
    for (const attempt of [
      () => run(acts.deleteAgentTunnel, { agentId: AGENT }),
      () => run(acts.listAllTunnels, {}),
      () => run(acts.deleteDnsRecord, { recordId: 'x' }),
    ]) {
      expectNonRetryable(await failure(attempt()), CloudflareFailureType.NotConfigured);
    }
    expect(cf.requests).toHaveLength(0);
  });

  it('rejects an agent id that cannot form a DNS label', async () => {
    expectNonRetryable(
      await failure(run(acts.ensureAgentTunnel, { agentId: 'a.b/c' })),
      CloudflareFailureType.InvalidInput,
    );
  });

  it('throws a retryable error on 500 twice, then converges on one tunnel and one record', async () => {
    // The tunnel gets created, then the DNS step fails: exactly the half-done state a retry must not duplicate.
    cf.failNext(2, { status: 500, pathIncludes: '/dns_records' });
    expectRetryable(await failure(run(acts.ensureAgentTunnel, { agentId: AGENT })));
    expectRetryable(await failure(run(acts.ensureAgentTunnel, { agentId: AGENT })));
    expect(cf.tunnels()).toHaveLength(1);
    expect(cf.dnsRecords()).toHaveLength(0);

    const out = await run(acts.ensureAgentTunnel, { agentId: AGENT });
    expect(out.createdTunnel).toBe(false);
    expect(cf.tunnels({ includeDeleted: true })).toHaveLength(1);
    expect(cf.dnsRecords()).toHaveLength(1);
    expect(count('POST', '/cfd_tunnel')).toBe(1);
  });

  it('treats 429 and dropped connections as retryable', async () => {
    cf.failNext(1, { status: 429 });
    const throttled = await failure(run(acts.ensureAgentTunnel, { agentId: AGENT }));
    expectRetryable(throttled);
    expect((throttled as CloudflareUnavailableError).status).toBe(429);

    cf.failNext(1, { network: true, method: 'POST' });
    expectRetryable(await failure(run(acts.ensureAgentTunnel, { agentId: AGENT })));

    await run(acts.ensureAgentTunnel, { agentId: AGENT });
    expect(cf.tunnels()).toHaveLength(1);
  });

  it('fails non-retryably with CloudflareRejected on a wrong token', async () => {
    configure({ 'cloudflare.api_token': 'not-the-token' });
    const err = await failure(run(acts.ensureAgentTunnel, { agentId: AGENT }));
    expectNonRetryable(err, CloudflareFailureType.Rejected);
    expect((err as ApplicationFailure).details?.[0]).toMatchObject({ status: 401, errors: [{ code: 10000 }] });
    expect(cf.tunnels()).toHaveLength(0);
  });
});

describe('heartbeats (a regular activity shows it is alive from its Cloudflare calls, no timer)', () => {
  /** An environment of a regular activity with this heartbeat timeout (or a local one), counting its heartbeats. */
  function activityEnv(info: { heartbeatTimeoutMs?: number; isLocal?: boolean }) {
    const e = new MockActivityEnvironment({ isLocal: false, ...info }, { logger: quiet });
    const beats = { n: 0 };
    e.on('heartbeat', () => beats.n++);
    return { env: e, beats };
  }

  it('beats as each call is sent and when its answer arrives, and never while a call waits', async () => {
    const { env: e, beats } = activityEnv({ heartbeatTimeoutMs: 10_000 });
    // A 2.5 s wait on one call: a beating timer (every 2 s, as before) would add a beat the calls did not make.
    cf.failNext(1, { stallMs: 2500, method: 'POST', pathIncludes: '/cfd_tunnel' });
    await e.run(acts.ensureAgentTunnel, { agentId: AGENT, fresh: true });
    expect(cf.requests).toHaveLength(3); // POST tunnel, PUT ingress, POST CNAME
    expect(beats.n).toBe(2 * cf.requests.length);
  }, 10_000);

  it('a call hung past the heartbeat timeout is cut there (retryable), and the retry converges on one tunnel', async () => {
    const { env: e, beats } = activityEnv({ heartbeatTimeoutMs: 300 });
    cf.failNext(1, { stallMs: 3000, method: 'POST', pathIncludes: '/cfd_tunnel' });
    const err = await failure(e.run(acts.ensureAgentTunnel, { agentId: AGENT, fresh: true }));
    expectRetryable(err);
    expect((err as Error).message).toMatch(/TimeoutError/);
    expect(beats.n).toBe(1); // sent, never answered
    // The server's retry of the attempt: the name may already be taken by the cut call, never twice.
    await activityEnv({ heartbeatTimeoutMs: 300 }).env.run(acts.ensureAgentTunnel, { agentId: AGENT, fresh: true });
    expect(cf.tunnels()).toHaveLength(1);
    expect(cf.dnsRecords()).toHaveLength(1);
  }, 10_000);

  it('a local activity never beats and keeps the client timeout, whatever its heartbeat timeout says', async () => {
    const { env: e, beats } = activityEnv({ heartbeatTimeoutMs: 300, isLocal: true });
    cf.failNext(1, { stallMs: 800, method: 'POST', pathIncludes: '/cfd_tunnel' });
    const out = (await e.run(acts.ensureAgentTunnel, { agentId: AGENT, fresh: true })) as { createdTunnel: boolean };
    expect(out.createdTunnel).toBe(true);
    expect(beats.n).toBe(0);
  }, 10_000);
});

describe('deleteAgentTunnel', () => {
  it('removes connections, tunnel and CNAME; a second delete is a no-op success', async () => {
    const out = await run(acts.ensureAgentTunnel, { agentId: AGENT });
    cf.addConnection(out.tunnelId, 2);

    const del = await run(acts.deleteAgentTunnel, { tunnelId: out.tunnelId, hostname: out.hostname });
    expect(del).toEqual({ tunnelId: out.tunnelId, tunnelDeleted: true, dnsRecordsDeleted: 1 });
    expect(cf.tunnels()).toHaveLength(0);
    const [gone] = cf.tunnels({ includeDeleted: true });
    expect(gone!.deleted_at).not.toBeNull();
    expect(gone!.connections).toHaveLength(0);
    expect(cf.dnsRecords()).toHaveLength(0);

    const again = await run(acts.deleteAgentTunnel, { tunnelId: out.tunnelId, hostname: out.hostname });
    expect(again).toEqual({ tunnelId: out.tunnelId, tunnelDeleted: false, dnsRecordsDeleted: 0 });
  });

  it('finds the tunnel and hostname from the agent id alone (compensation after a failed registration)', async () => {
    cf.failNext(1, { status: 500, pathIncludes: '/dns_records', method: 'POST' });
    expectRetryable(await failure(run(acts.ensureAgentTunnel, { agentId: AGENT })));
    const [tunnel] = cf.tunnels();

    const del = await run(acts.deleteAgentTunnel, { agentId: AGENT });
    expect(del).toEqual({ tunnelId: tunnel!.id, tunnelDeleted: true, dnsRecordsDeleted: 0 });
    expect(cf.tunnels()).toHaveLength(0);
  });

  it('still fails retryably on a 5xx during delete', async () => {
    const out = await run(acts.ensureAgentTunnel, { agentId: AGENT });
    cf.failNext(1, { status: 503, method: 'DELETE' });
    expectRetryable(await failure(run(acts.deleteAgentTunnel, { tunnelId: out.tunnelId, hostname: out.hostname })));
    expect(await run(acts.deleteAgentTunnel, { tunnelId: out.tunnelId, hostname: out.hostname })).toMatchObject({
      tunnelDeleted: true,
      dnsRecordsDeleted: 1,
    });
  });
});

describe('deleteTunnel / deleteDnsRecord', () => {
  it('delete by id, reporting deleted:false when Cloudflare no longer has it', async () => {
    const t = cf.seedTunnel({ name: 'agent-gone' });
    const r = cf.seedDnsRecord({ name: 'agent-gone', content: `${t.id}.cfargotunnel.com` });
    expect(await run(acts.deleteTunnel, { tunnelId: t.id })).toEqual({ tunnelId: t.id, deleted: true });
    expect(await run(acts.deleteTunnel, { tunnelId: t.id })).toEqual({ tunnelId: t.id, deleted: false });
    expect(await run(acts.deleteDnsRecord, { recordId: r.id })).toEqual({ recordId: r.id, deleted: true });
    expect(await run(acts.deleteDnsRecord, { recordId: r.id })).toEqual({ recordId: r.id, deleted: false });
  });
});

describe('updateTunnelIngress', () => {
  it('writes one rule per entry plus the catch-all, defaults when empty, rejects bad ports', async () => {
    const out = await run(acts.ensureAgentTunnel, { agentId: AGENT });
    const res = await run(acts.updateTunnelIngress, {
      tunnelId: out.tunnelId,
      hostname: out.hostname,
      rules: [{ path: '/api', port: 3000 }, { port: 8080 }],
    });
    const expected = [
      { hostname: out.hostname, service: 'http://localhost:3000', path: '/api' },
      { hostname: out.hostname, service: 'http://localhost:8080' },
      { service: 'http_status:404' },
    ];
    expect(res.ingress).toEqual(expected);
    expect(cf.tunnels()[0]!.config).toEqual({ ingress: expected });

    await run(acts.updateTunnelIngress, { tunnelId: out.tunnelId, hostname: out.hostname, rules: [] });
    expect(cf.tunnels()[0]!.config).toEqual({
      ingress: [{ hostname: out.hostname, service: 'http://localhost:8081' }, { service: 'http_status:404' }],
    });

    expectNonRetryable(
      await failure(
        run(acts.updateTunnelIngress, { tunnelId: out.tunnelId, hostname: out.hostname, rules: [{ port: 70000 }] }),
      ),
      CloudflareFailureType.InvalidInput,
    );
  });
});

describe('listing', () => {
  it('listAllTunnels walks every page and skips deleted tunnels', async () => {
    for (let i = 0; i < 5; i++) cf.seedTunnel({ name: `agent-t${i}` });
    cf.seedTunnel({ name: 'agent-deleted', deleted_at: new Date().toISOString() });
    const cp = cf.seedTunnel({ name: 'easyenclave-control-plane' });
    cf.addConnection(cp.id);

    const all = await run(acts.listAllTunnels, { perPage: 2 });
    expect(all.items.map((t) => t.name)).toEqual([
      'agent-t0',
      'agent-t1',
      'agent-t2',
      'agent-t3',
      'agent-t4',
      'easyenclave-control-plane',
    ]);
    expect(all.items[5]).toMatchObject({
      tunnel_id: cp.id,
      has_connections: true,
      connection_count: 1,
      status: 'healthy',
    });
    expect(all.items[0]).toMatchObject({ has_connections: false, connection_count: 0, status: 'inactive' });
    expect(count('GET', '/cfd_tunnel')).toBe(3);

    const page2 = await run(acts.listTunnels, { page: 2, perPage: 4 });
    expect(page2.items.map((t) => t.name)).toEqual(['agent-t4', 'easyenclave-control-plane']);
    expect(page2.result_info).toEqual({ page: 2, per_page: 4, count: 2, total_count: 6, total_pages: 2 });
  });

  it('listDnsRecords pages CNAME records only; listAllDnsRecords walks them', async () => {
    for (let i = 0; i < 3; i++)
      cf.seedDnsRecord({ name: `agent-r${i}`, content: `t${i}.cfargotunnel.com`, proxied: true });
    cf.seedDnsRecord({ name: 'www', type: 'A', content: '192.0.2.1' });

    const page = await run(acts.listDnsRecords, { page: 1, perPage: 2 });
    expect(page.items).toHaveLength(2);
    expect(page.items[0]).toMatchObject({
      name: 'agent-r0.easyenclave.test',
      content: 't0.cfargotunnel.com',
      proxied: true,
    });
    expect(page.result_info).toMatchObject({ total_count: 3, total_pages: 2 });

    const all = await run(acts.listAllDnsRecords, { perPage: 2 });
    expect(all.items.map((r) => r.name)).toEqual([
      'agent-r0.easyenclave.test',
      'agent-r1.easyenclave.test',
      'agent-r2.easyenclave.test',
    ]);
  });
});
