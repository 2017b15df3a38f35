/**
 * Repeated identical reads of GET /api/v1/agents are served from a body held under the list's ETag
 * (api/agent-views.ts); these tests attack that cache: after any agent change the list shows it (status, a new
 * agent, a deleted one, a health-check time refreshed without a new row version), a filtered or paginated request
 * never gets another request's body, and who asks changes nothing (the list is public; no caller enters its body).
 * Beneath it: the row_version trigger keeps the version only on freshness-only writes, and the sweep's health write
 * touches the health columns only when they change. On SQLite and, with TEST_DATABASE_URL, PostgreSQL.
 */
import { request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LifecycleDeps } from '../../activities/agent-lifecycle';
import { createAgentLifecycleActivities } from '../../activities/agent-lifecycle';
import { FRESHNESS_COLUMNS } from '../../core/db/migrations/20261201210000_agent_health_freshness';
import { createTestDb, testEngines, type TestDb } from '../helpers/databases';
import { seedAgent } from '../helpers/seed';
import { adminLogin, http, startStack, type Stack } from '../helpers/stack';

/** A raw GET (fetch would add Accept-Encoding and decode it): status, headers and the bytes as sent. */
function rawGet(url: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; bytes: Buffer }>(
    (resolve, reject) => {
      const req = request(url, { headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes: Buffer.concat(chunks) }),
        );
      });
      req.on('error', reject);
      req.end();
    },
  );
}

const versionOf = async (db: TestDb['db'], id: string) =>
  String(((await db('agents').where({ agent_id: id }).first('row_version')) as { row_version: unknown }).row_version);

for (const engine of testEngines()) {
  describe(`agent row versions and the sweep's health write (${engine})`, () => {
    let t: TestDb | undefined;
    afterEach(async () => {
      await t?.destroy();
      t = undefined;
    });

    it('a write of only the freshness columns keeps row_version; a write of any other column gives a new one', async () => {
      t = await createTestDb(engine);
      const { agent_id } = await seedAgent(t.db);
      const v0 = await versionOf(t.db, agent_id);
      await t.db('agents').where({ agent_id }).update({ last_health_check: new Date().toISOString() });
      await t.db('agents').where({ agent_id }).update({ last_contact_at: new Date().toISOString() });
      expect(await versionOf(t.db, agent_id)).toBe(v0);

      // Every other column — including any a later migration adds, which must then recreate the SQLite trigger.
      const info = await t.db('agents').columnInfo();
      const skip = new Set(['agent_id', 'row_version', ...FRESHNESS_COLUMNS]);
      const columns = Object.entries(info).filter(([c]) => !skip.has(c));
      expect(columns.length).toBeGreaterThan(30);
      for (const [column, { type }] of columns) {
        const before = await versionOf(t.db, agent_id);
        const ty = type.toLowerCase();
        const value = /bool/.test(ty)
          ? !(await t.db('agents').where({ agent_id }).first(column))[column]
          : /int|numeric|real|double|float/.test(ty)
            ? 7
            : /time|date/.test(ty)
              ? new Date(Date.parse('2020-01-01T00:00:00Z') + before.length * 1000).toISOString()
              : `changed-${column}`;
        await t
          .db('agents')
          .where({ agent_id })
          .update({ [column]: value });
        expect({ column, changed: (await versionOf(t.db, agent_id)) !== before }).toEqual({ column, changed: true });
      }
    });

    it('recordAgentHealth writes health_status/unhealthy_since only when they change, the check time always', async () => {
      t = await createTestDb(engine);
      const acts = createAgentLifecycleActivities({ db: t.db } as unknown as LifecycleDeps);
      const a = await seedAgent(t.db, { health_status: 'healthy' });
      const b = await seedAgent(t.db, { health_status: 'healthy' });
      const row = async (id: string): Promise<Record<string, unknown>> => {
        const r = (await t!.db('agents').where({ agent_id: id }).first()) as Record<string, unknown>;
        return { ...r, row_version: await versionOf(t!.db, id) };
      };
      const [a0, b0] = [await row(a.agent_id), await row(b.agent_id)];

      await acts.recordAgentHealth({
        results: [
          { agentId: a.agent_id, healthy: true },
          { agentId: b.agent_id, healthy: false },
        ],
      });
      const [a1, b1] = [await row(a.agent_id), await row(b.agent_id)];
      // a: still healthy — same version, fresh check and contact times.
      expect(a1.row_version).toBe(a0.row_version);
      expect(a1.last_health_check).toBeTruthy();
      expect(a1.last_contact_at).toBeTruthy();
      // b: healthy → unhealthy — a new version, the outage's start recorded, no contact.
      expect(b1.row_version).not.toBe(b0.row_version);
      expect(b1).toMatchObject({ health_status: 'unhealthy' });
      expect(b1.unhealthy_since).toBeTruthy();
      expect(b1.last_contact_at ?? null).toBeNull();

      // An old check time (a freshness-only write: no new version) that the next sweep must renew; PostgreSQL keeps
      // whole seconds, so two sweeps within one would otherwise read alike.
      await t.db('agents').where({ agent_id: b.agent_id }).update({ last_health_check: '2020-01-01T00:00:00.000Z' });
      await acts.recordAgentHealth({
        results: [
          { agentId: a.agent_id, healthy: true },
          { agentId: b.agent_id, healthy: false },
        ],
      });
      const [a2, b2] = [await row(a.agent_id), await row(b.agent_id)];
      expect(a2.row_version).toBe(a0.row_version);
      expect(b2.row_version).toBe(b1.row_version);
      expect(String(b2.unhealthy_since)).toBe(String(b1.unhealthy_since)); // still the outage's start
      expect(new Date(b2.last_health_check as string).getTime()).toBeGreaterThan(Date.parse('2020-01-02T00:00:00Z'));

      await acts.recordAgentHealth({ results: [{ agentId: b.agent_id, healthy: true }] });
      const b3 = await row(b.agent_id);
      expect(b3.row_version).not.toBe(b2.row_version);
      expect(b3).toMatchObject({ health_status: 'healthy', unhealthy_since: null });
      expect(b3.last_contact_at).toBeTruthy();
    });
  });

  describe(`GET /api/v1/agents served from held bodies (${engine})`, () => {
    let stack: Stack;
    const list = async (path = '/api/v1/agents', headers: Record<string, string> = {}) => {
      const r = await rawGet(`${stack.url}${path}`, headers);
      expect(r.status).toBe(200);
      const text = (r.headers['content-encoding'] === 'gzip' ? gunzipSync(r.bytes) : r.bytes).toString();
      return {
        ...r,
        text,
        body: JSON.parse(text) as { agents: Record<string, unknown>[]; total: number; next_cursor?: string | null },
      };
    };
    const ids = (b: { agents: Record<string, unknown>[] }) => b.agents.map((a) => a.agent_id);

    beforeAll(async () => {
      stack = await startStack({ engine });
      for (let i = 0; i < 5; i++) await seedAgent(stack.db, { registered_at: new Date(Date.now() + i).toISOString() });
    });
    afterAll(() => stack?.close());

    it('an unchanged list answers the same bytes and ETag; gzip on request, the same JSON', async () => {
      const first = await list();
      const again = await list();
      expect(again.bytes.equals(first.bytes)).toBe(true);
      expect(again.headers.etag).toBe(first.headers.etag);
      expect(first.headers.vary).toMatch(/accept-encoding/i);
      const zipped = await list('/api/v1/agents', { 'accept-encoding': 'br, gzip;q=0.8' });
      expect(zipped.headers['content-encoding']).toBe('gzip');
      expect(Number(zipped.headers['content-length'])).toBe(zipped.bytes.length);
      expect(zipped.text).toBe(first.text);
      expect(zipped.headers.etag).toBe(first.headers.etag);
      const refused = await list('/api/v1/agents', { 'accept-encoding': 'gzip;q=0, identity' });
      expect(refused.headers['content-encoding']).toBeUndefined();
      const notModified = await rawGet(`${stack.url}/api/v1/agents`, { 'if-none-match': String(first.headers.etag) });
      expect(notModified.status).toBe(304);
    });

    it('after any agent change the list shows it: status, a new agent, a deleted one, a fresh health check', async () => {
      for (const encoding of [{}, { 'accept-encoding': 'gzip' }] as Record<string, string>[]) {
        const before = await list('/api/v1/agents', encoding);
        const victim = String(before.body.agents[1]!.agent_id);

        await stack.db('agents').where({ agent_id: victim }).update({ status: 'deployed' });
        const changed = await list('/api/v1/agents', encoding);
        expect(changed.body.agents.find((a) => a.agent_id === victim)).toMatchObject({ status: 'deployed' });
        expect(changed.headers.etag).not.toBe(before.headers.etag);

        const added = await seedAgent(stack.db, { registered_at: new Date(Date.now() + 60_000).toISOString() });
        const grown = await list('/api/v1/agents', encoding);
        expect(ids(grown.body)).toContain(added.agent_id);
        expect(grown.body.total).toBe(before.body.total + 1);

        await stack.db('agents').where({ agent_id: added.agent_id }).delete();
        expect(ids((await list('/api/v1/agents', encoding)).body)).not.toContain(added.agent_id);

        // The sweep's freshness write gives no new row version, and the list still shows the new time.
        const v = await versionOf(stack.db, victim);
        const at = new Date(Date.now() - 1234).toISOString();
        await stack.db('agents').where({ agent_id: victim }).update({ last_health_check: at, last_contact_at: at });
        expect(await versionOf(stack.db, victim)).toBe(v);
        const fresh = await list('/api/v1/agents', encoding);
        expect(fresh.body.agents.find((a) => a.agent_id === victim)!.last_health_check).toBe(at);
        const one = await http(stack.url).get(`/api/v1/agents/${victim}`);
        expect(one.body.last_health_check).toBe(at);

        await stack.db('agents').where({ agent_id: victim }).update({ status: 'undeployed' });
      }
    });

    it('a filtered or paginated request never gets another request’s held body', async () => {
      const all = await list();
      const target = all.body.agents[2]!;
      await stack.db('agents').where({ agent_id: target.agent_id }).update({ status: 'draining' });
      await list(); // held: the unfiltered body with the draining agent in it
      const filtered = await list('/api/v1/agents?status=draining');
      expect(ids(filtered.body)).toEqual([target.agent_id]);
      const byName = await list(`/api/v1/agents?vm_name=${encodeURIComponent(String(target.vm_name))}`);
      expect(ids(byName.body)).toEqual([target.agent_id]);
      const none = await list('/api/v1/agents?status=nonexistent');
      expect(none.body).toEqual({ agents: [], total: 0 });

      const p1 = await list('/api/v1/agents?limit=2');
      const p2 = await list(`/api/v1/agents?limit=2&cursor=${p1.body.next_cursor}`);
      expect(p1.headers.etag).not.toBe(p2.headers.etag);
      expect(ids(p2.body)).toEqual(ids((await list()).body).slice(2, 4));
      expect(ids(p1.body)).toEqual(ids((await list()).body).slice(0, 2));
      await stack.db('agents').where({ agent_id: target.agent_id }).update({ status: 'undeployed' });
    });

    it('who asks changes nothing: an admin session and an anonymous caller get the same public body', async () => {
      const anonymous = await list();
      const admin = await list('/api/v1/agents', { authorization: `Bearer ${await adminLogin(stack.url)}` });
      expect(admin.bytes.equals(anonymous.bytes)).toBe(true);
      for (const a of admin.body.agents) {
        expect(Object.keys(a)).not.toContain('tunnel_token');
        expect(Object.keys(a)).not.toContain('intel_ta_token');
      }
    });
  });
}

describe('SQLite connection pragmas', () => {
  it('WAL with synchronous = NORMAL (fsync at checkpoints, not per commit) and the busy timeout', async () => {
    const t = await createTestDb('sqlite');
    try {
      const conn = (await t.db.client.acquireConnection()) as { pragma(s: string, o: { simple: true }): unknown };
      try {
        expect(conn.pragma('journal_mode', { simple: true })).toBe('wal');
        expect(conn.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
        expect(conn.pragma('busy_timeout', { simple: true })).toBe(5000);
      } finally {
        await t.db.client.releaseConnection(conn);
      }
    } finally {
      await t.destroy();
    }
  });
});
