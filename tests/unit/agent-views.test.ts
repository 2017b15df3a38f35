import { describe, expect, it } from 'vitest';
import { AgentViewCache, agentListEtag } from '../../api/agent-views';
import type { AgentDbRow } from '../../core/stores/agents';

const row = (id: string, version: number, over: Partial<AgentDbRow> = {}): AgentDbRow =>
  ({
    agent_id: id,
    vm_name: `vm-${id}`,
    status: 'undeployed',
    attestation: JSON.stringify({ tdx: { quote_b64: 'q', intel_ta_token: 'secret-token' } }),
    mrtd: 'a1',
    rtmrs: null,
    registered_at: '2026-12-01T00:00:00.000Z',
    last_heartbeat: '2026-12-01T00:00:00.000Z',
    verified: 1,
    attestation_valid: 1,
    row_version: version,
    ...over,
  }) as unknown as AgentDbRow;

describe('AgentViewCache', () => {
  it('renders a row once per version, re-renders a new version, never shows tokens', () => {
    const cache = new AgentViewCache(10);
    const first = cache.render(row('a', 1));
    expect(JSON.parse(first)).toMatchObject({
      agent_id: 'a',
      status: 'undeployed',
      attestation: { tdx: { quote_b64: 'q' } },
    });
    expect(first).not.toContain('secret-token');
    // Same version: the cached text, even though this object differs (a version names one row state).
    expect(cache.render(row('a', 1, { status: 'deployed' }))).toBe(first);
    const second = cache.render(row('a', 2, { status: 'deployed' }));
    expect(JSON.parse(second).status).toBe('deployed');
  });

  it('is bounded by count, evicting the least recently used', () => {
    const cache = new AgentViewCache(2);
    cache.render(row('a', 1));
    cache.render(row('b', 1));
    cache.render(row('a', 1)); // a is now the most recent
    cache.render(row('c', 1)); // evicts b
    expect(cache.size).toBe(2);
    expect(cache.render(row('a', 1, { status: 'x' }))).not.toContain('"status":"x"');
    expect(cache.render(row('b', 1, { status: 'y' }))).toContain('"status":"y"');
  });

  it('list ETags change with any version, the order, the page or the server version', () => {
    const v = (id: string, row_version: string) => ({ agent_id: id, row_version, registered_at: '' });
    const base = agentListEtag([v('a', '1'), v('b', '1')], 'all', '1.0.0');
    expect(base).toMatch(/^W\/"[A-Za-z0-9_-]+"$/);
    expect(agentListEtag([v('a', '1'), v('b', '1')], 'all', '1.0.0')).toBe(base);
    for (const other of [
      agentListEtag([v('a', '1'), v('b', '2')], 'all', '1.0.0'),
      agentListEtag([v('b', '1'), v('a', '1')], 'all', '1.0.0'),
      agentListEtag([v('a', '1'), v('b', '1')], 'page "x"', '1.0.0'),
      agentListEtag([v('a', '1'), v('b', '1')], 'all', '1.0.1'),
    ])
      expect(other).not.toBe(base);
  });
});
