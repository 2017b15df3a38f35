import { describe, expect, it } from 'vitest';
import { AgentAddressError, AgentHttpError, agentBaseUrl, createAgentClient } from '../../clients/agent-client';

const ID = '3f2b8c1e-6a4d-4e1f-9b7a-0c5d2e8f1a34';
const HOST = `agent-${ID}.easyenclave.test`;

describe('agentBaseUrl', () => {
  it('defaults to https://<hostname>', () => {
    expect(agentBaseUrl({ agentId: ID, hostname: HOST })).toBe(`https://${HOST}`);
    expect(agentBaseUrl({ agentId: ID, hostname: ` ${HOST} `, directUrlTemplate: '  ' })).toBe(`https://${HOST}`);
    expect(agentBaseUrl({ agentId: ID, hostname: '10.0.0.5:8081', directUrlTemplate: null })).toBe(
      'https://10.0.0.5:8081',
    );
  });

  it('substitutes {agent_id} and {hostname} in AGENT_DIRECT_URL and drops a trailing slash', () => {
    expect(
      agentBaseUrl({ agentId: ID, hostname: HOST, directUrlTemplate: 'http://127.0.0.1:9/agents/{agent_id}/' }),
    ).toBe(`http://127.0.0.1:9/agents/${ID}`);
    expect(agentBaseUrl({ agentId: ID, hostname: HOST, directUrlTemplate: 'http://{hostname}:8081' })).toBe(
      `http://${HOST}:8081`,
    );
    expect(
      agentBaseUrl({ agentId: 'a b/c', hostname: null, directUrlTemplate: 'http://proxy.local/{agent_id}/{agent_id}' }),
    ).toBe('http://proxy.local/a%20b%2Fc/a%20b%2Fc');
  });

  it('uses a template without {hostname} even when the agent has no hostname', () => {
    expect(agentBaseUrl({ agentId: ID, directUrlTemplate: 'http://localhost:8081' })).toBe('http://localhost:8081');
  });

  it('throws AgentAddressError when there is no way to reach the agent', () => {
    expect(() => agentBaseUrl({ agentId: ID })).toThrow(AgentAddressError);
    expect(() => agentBaseUrl({ agentId: ID, hostname: '', directUrlTemplate: '' })).toThrow(/no hostname/);
    expect(() => agentBaseUrl({ agentId: ID, hostname: null, directUrlTemplate: 'http://{hostname}:8081' })).toThrow(
      AgentAddressError,
    );
  });

  it('refuses hostnames and templates that are not plain hosts / http(s) URLs', () => {
    for (const bad of ['https://evil.test', 'evil.test/path', 'a b.test', 'evil.test?x=1', '-x.test']) {
      expect(() => agentBaseUrl({ agentId: ID, hostname: bad })).toThrow(AgentAddressError);
    }
    expect(() => agentBaseUrl({ agentId: ID, hostname: HOST, directUrlTemplate: 'ftp://x/{agent_id}' })).toThrow(
      AgentAddressError,
    );
    expect(() => agentBaseUrl({ agentId: ID, hostname: HOST, directUrlTemplate: 'not a url' })).toThrow(
      AgentAddressError,
    );
  });
});

describe('createAgentClient', () => {
  const stub = (status: number, body: string) =>
    (async () => new Response(body, { status })) as unknown as typeof globalThis.fetch;

  it('classifies HTTP, JSON, transport and timeout failures', async () => {
    const http = createAgentClient({ baseUrl: 'http://a', fetch: stub(503, 'down') });
    await expect(http.stats()).rejects.toMatchObject({ kind: 'http', status: 503, body: 'down' });

    const garbled = createAgentClient({ baseUrl: 'http://a', fetch: stub(200, '<html>') });
    await expect(garbled.health()).rejects.toMatchObject({ kind: 'invalid_json', status: 200 });

    const refused = createAgentClient({
      baseUrl: 'http://a',
      fetch: (async () => {
        throw new TypeError('fetch failed');
      }) as unknown as typeof globalThis.fetch,
    });
    await expect(refused.health()).rejects.toMatchObject({ kind: 'unreachable', status: null });

    const hang = createAgentClient({
      baseUrl: 'http://a',
      timeoutMs: 20,
      fetch: ((_u: unknown, init?: RequestInit) =>
        new Promise((_r, reject) =>
          init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)),
        )) as unknown as typeof globalThis.fetch,
    });
    const err = await hang.health().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentHttpError);
    expect(err).toMatchObject({ kind: 'timeout', status: null });
  });

  it('accepts only 202 for deploy', async () => {
    const client = createAgentClient({ baseUrl: 'http://a', fetch: stub(200, '{"status":"ok"}') });
    await expect(
      client.deploy({ deployment_id: 'd', app_name: 'x', datacenter: '', compose: 'eA==', config: {} }),
    ).rejects.toMatchObject({ kind: 'http', status: 200 });
  });
});
