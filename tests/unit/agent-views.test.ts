import { describe, expect, it } from 'vitest';
import { AgentViewCache, ListBodyCache, acceptsGzip, agentListEtag } from '../../api/agent-views';
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

  it('splices the listed last_health_check into a held view, even when a stored blob has a key of that name', () => {
    const cache = new AgentViewCache(10);
    const r = row('a', 1, {
      stats: JSON.stringify({ last_health_check: 'forged', cpu: 1 }),
      last_health_check: '2026-12-01T00:00:01.000Z',
    } as Partial<AgentDbRow>);
    const view = JSON.parse(cache.render(r));
    expect(view.last_health_check).toBe('2026-12-01T00:00:01.000Z');
    expect(view.stats).toEqual({ last_health_check: 'forged', cpu: 1 });
    // Same version, a newer check time: the held view with the new time.
    const later = JSON.parse(cache.render({ ...r, last_health_check: '2026-12-01T00:00:31.000Z' } as AgentDbRow));
    expect(later.last_health_check).toBe('2026-12-01T00:00:31.000Z');
    expect(Object.keys(later)).toEqual(Object.keys(view));
  });

  it('list bodies: one render per ETag however many ask at once; an inexact render is not kept', async () => {
    const bodies = new ListBodyCache(1 << 20);
    let renders = 0;
    const render = async () => {
      renders++;
      await new Promise((r) => setTimeout(r, 5));
      return { json: '{"agents":[],"total":0}', keep: true };
    };
    const [a, b] = await Promise.all([bodies.get('W/"1"', render), bodies.get('W/"1"', render)]);
    expect(a).toBe(b);
    expect(renders).toBe(1);
    await bodies.get('W/"1"', render);
    expect(renders).toBe(1);
    await bodies.get('W/"2"', async () => ({ json: '{}', keep: false }));
    await bodies.get('W/"2"', async () => ({ json: '{"x":1}', keep: false }));
    expect(bodies.size).toBe(1);
    expect(acceptsGzip('gzip, deflate')).toBe(true);
    expect(acceptsGzip('br;q=1, GZIP;q=0.5')).toBe(true);
    expect(acceptsGzip('gzip;q=0')).toBe(false);
    expect(acceptsGzip('identity')).toBe(false);
    expect(acceptsGzip(undefined)).toBe(false);
  });

  it('list bodies are bounded by bytes, least recently used out', async () => {
    const bodies = new ListBodyCache(3000);
    const big = (c: string) => async () => ({ json: c.repeat(1000), keep: true });
    await bodies.get('a', big('a'));
    await bodies.get('b', big('b'));
    await bodies.get('c', big('c'));
    expect(bodies.size).toBe(2);
    expect((await bodies.get('a', big('z'))).body.toString()[0]).toBe('z');
  });
});
