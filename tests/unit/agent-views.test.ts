import { describe, expect, it } from 'vitest';
import { NextRead } from '../../api/agent-list';
import { AgentViewCache, ListBodyCache, acceptsGzip } from '../../api/agent-views';
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

  it('list bodies: one render per requested key however many ask at once; held under the key the render names', async () => {
    const bodies = new ListBodyCache(1 << 20);
    let renders = 0;
    const render = (key: string | null) => async () => {
      renders++;
      await new Promise((r) => setTimeout(r, 5));
      return { json: '{"agents":[],"total":0}', heldAs: key ? { key, etag: `W/"${key}"` } : null };
    };
    const [a, b] = await Promise.all([bodies.render('1', render('1')), bodies.render('1', render('1'))]);
    expect(a).toBe(b);
    expect(renders).toBe(1);
    expect(bodies.held('1')).toBe(a);
    expect(a.etag).toBe('W/"1"');
    // A render for key 2 that read a newer version (3): held under 3 only.
    const c = await bodies.render('2', render('3'));
    expect(bodies.held('2')).toBeUndefined();
    expect(bodies.held('3')).toBe(c);
    // Not holdable (no version names it): answered, no ETag, kept nowhere.
    const d = await bodies.render('4', render(null));
    expect(d.etag).toBeNull();
    expect(bodies.size).toBe(2);
    expect(d.gz).toBeNull();
    const z = await d.gzipped();
    expect(d.gz).toBe(z);
    expect(acceptsGzip('gzip, deflate')).toBe(true);
    expect(acceptsGzip('br;q=1, GZIP;q=0.5')).toBe(true);
    expect(acceptsGzip('gzip;q=0')).toBe(false);
    expect(acceptsGzip('identity')).toBe(false);
    expect(acceptsGzip(undefined)).toBe(false);
  });

  it('list bodies are bounded by bytes, least recently used out', async () => {
    const bodies = new ListBodyCache(3000);
    const big = (c: string, key: string) => async () => ({ json: c.repeat(1000), heldAs: { key, etag: key } });
    await bodies.render('a', big('a', 'a'));
    await bodies.render('b', big('b', 'b'));
    await bodies.render('c', big('c', 'c'));
    expect(bodies.size).toBe(2);
    expect(bodies.held('a')).toBeUndefined();
    expect((await bodies.render('a', big('z', 'a'))).body.toString()[0]).toBe('z');
  });
});

describe('NextRead', () => {
  it('a caller never gets a read that started before it arrived; callers arriving meanwhile share the next one', async () => {
    let started = 0;
    const releases: (() => void)[] = [];
    const read = new NextRead(
      () =>
        new Promise<number>((resolve) => {
          const n = ++started;
          releases.push(() => resolve(n));
        }),
    );
    const first = read.get(); // starts read 1 at once
    expect(started).toBe(1);
    const second = read.get(); // read 1 predates it: waits for read 2
    const third = read.get(); // shares read 2
    expect(started).toBe(1);
    releases[0]!();
    expect(await first).toBe(1);
    await new Promise((r) => setImmediate(r));
    expect(started).toBe(2);
    const fourth = read.get(); // read 2 is in flight and predates it: read 3
    releases[1]!();
    expect([await second, await third]).toEqual([2, 2]);
    await new Promise((r) => setImmediate(r));
    expect(started).toBe(3);
    releases[2]!();
    expect(await fourth).toBe(3);
    // Idle again: the next caller starts its own read at once.
    const fifth = read.get();
    expect(started).toBe(4);
    releases[3]!();
    expect(await fifth).toBe(4);
  });

  it('a failed read fails its callers only; the next caller reads again', async () => {
    let n = 0;
    const read = new NextRead(async () => {
      n++;
      if (n === 1) throw new Error('db down');
      return n;
    });
    await expect(read.get()).rejects.toThrow('db down');
    expect(await read.get()).toBe(2);
  });
});
