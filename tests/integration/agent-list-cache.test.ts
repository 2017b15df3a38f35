/**
 * Repeated identical reads of GET /api/v1/agents are served from a body held under the list's ETag
 * (api/agent-views.ts); these tests attack that cache: after any agent change the list shows it (status, a new
 * agent, a deleted one, a health-check time refreshed without a new row version), a filtered or paginated request
 * never gets another request's body, and who asks changes nothing (the list is public; no caller enters its body).
 * Beneath it: the row_version trigger keeps the version only on freshness-only writes, and the sweep's health write
 * touches the health columns only when they change. On SQLite and, with TEST_DATABASE_URL, PostgreSQL.
 */
import { execFileSync } from 'node:child_process';
import { request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LifecycleDeps } from '../../activities/agent-lifecycle';
import { createAgentLifecycleActivities } from '../../activities/agent-lifecycle';
import { FRESHNESS_COLUMNS } from '../../core/db/migrations/20261201210000_agent_health_freshness';
import { createTestDb, testEngines, type TestDb } from '../helpers/databases';
import { seedAgent } from '../helpers/seed';
import { adminLogin, http, startStack, type Stack } from '../helpers/stack';
import { ROOT } from '../helpers/embedded';
import { createDb, isPostgres } from '../../core/db/connection';
import { createMetrics, type Metrics } from '../../core/metrics';

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

/** The stack's database as another process sees it: a SQLite file, or a PostgreSQL URL. */
function dbTarget(db: TestDb['db']): { sqlite?: string; pg?: string } {
  if (!isPostgres(db)) return { sqlite: (db.client.config.connection as { filename: string }).filename };
  const c = db.client.config.connection as {
    user: string;
    password?: string;
    host: string;
    port: string;
    database: string;
  };
  const auth = c.password
    ? `${encodeURIComponent(c.user)}:${encodeURIComponent(c.password)}`
    : encodeURIComponent(c.user);
  return { pg: `postgres://${auth}@${c.host}:${c.port}/${c.database}` };
}

/** Runs one SQL statement in a separate node process (its own connection, as the worker or another API would). */
function writeFromAnotherProcess(db: TestDb['db'], sql: string, params: unknown[]): void {
  const t = dbTarget(db);
  let n = 0;
  const pgSql = sql.replace(/\?/g, () => `$${(n += 1)}`);
  const code = t.sqlite
    ? `const D = require('better-sqlite3'); const d = new D(${JSON.stringify(t.sqlite)});
       d.pragma('busy_timeout = 5000'); d.prepare(${JSON.stringify(sql)}).run(...${JSON.stringify(params)}); d.close();`
    : `const { Client } = require('pg'); (async () => { const c = new Client(${JSON.stringify(t.pg)});
       await c.connect(); await c.query(${JSON.stringify(pgSql)}, ${JSON.stringify(params)});
       await c.end(); })().catch((e) => { console.error(e); process.exit(1); });`;
  execFileSync(process.execPath, ['-e', code], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
}

for (const engine of testEngines()) {
  describe(`the list version: O(1) freshness of held list bodies (${engine})`, () => {
    let stack: Stack;
    let metrics: Metrics;
    const get = async (path = '/api/v1/agents', headers: Record<string, string> = {}) => {
      const r = await rawGet(`${stack.url}${path}`, headers);
      const text = (r.headers['content-encoding'] === 'gzip' ? gunzipSync(r.bytes) : r.bytes).toString();
      return {
        ...r,
        text,
        body: r.status === 200 ? (JSON.parse(text) as { agents: Record<string, unknown>[] }) : null,
      };
    };
    const agentIn = async (id: string) => (await get()).body!.agents.find((a) => a.agent_id === id);

    beforeAll(async () => {
      metrics = createMetrics();
      stack = await startStack({ engine, metrics });
      for (let i = 0; i < 4; i++) await seedAgent(stack.db, { registered_at: new Date(Date.now() + i).toISOString() });
    });
    afterAll(() => stack?.close());

    it('a write by another process (status, then only the health check time) is shown at once', async () => {
      const before = await get();
      const id = String(before.body!.agents[0]!.agent_id);
      writeFromAnotherProcess(stack.db, 'UPDATE agents SET status = ? WHERE agent_id = ?', ['draining', id]);
      const after = await get();
      expect(after.body!.agents.find((a) => a.agent_id === id)).toMatchObject({ status: 'draining' });
      expect(after.headers.etag).not.toBe(before.headers.etag);

      // A freshness-only write keeps the row version (the held view) but not the list version: the view shows it.
      const v = await versionOf(stack.db, id);
      const at = '2026-11-30T12:34:56.000Z';
      writeFromAnotherProcess(stack.db, 'UPDATE agents SET last_health_check = ? WHERE agent_id = ?', [at, id]);
      expect(await versionOf(stack.db, id)).toBe(v);
      expect((await agentIn(id))!.last_health_check).toBe(at);
      writeFromAnotherProcess(stack.db, 'UPDATE agents SET status = ? WHERE agent_id = ?', ['undeployed', id]);
      expect((await agentIn(id))!.status).toBe('undeployed');
    });

    it('a delete, and a delete plus an insert that keep the row count, are shown', async () => {
      const before = await get();
      const gone = String(before.body!.agents[0]!.agent_id);
      writeFromAnotherProcess(stack.db, 'DELETE FROM agents WHERE agent_id = ?', [gone]);
      const shrunk = await get();
      expect(shrunk.body!.agents.map((a) => a.agent_id)).not.toContain(gone);
      expect(shrunk.body!.agents).toHaveLength(before.body!.agents.length - 1);

      // Same count as before, other rows: delete one, insert one, in one transaction.
      const victim = String(shrunk.body!.agents[0]!.agent_id);
      let added = '';
      await stack.db.transaction(async (trx) => {
        await trx('agents').where({ agent_id: victim }).delete();
        added = (
          await seedAgent(trx as unknown as TestDb['db'], { registered_at: new Date(Date.now() + 5000).toISOString() })
        ).agent_id;
      });
      const swapped = await get();
      const ids = swapped.body!.agents.map((a) => a.agent_id);
      expect(ids).toHaveLength(shrunk.body!.agents.length);
      expect(ids).toContain(added);
      expect(ids).not.toContain(victim);
      expect(swapped.headers.etag).not.toBe(shrunk.headers.etag);
    });

    it('a write in a transaction still open when the list is read shows once it commits', async () => {
      const id = String((await get()).body!.agents[0]!.agent_id);
      const t = dbTarget(stack.db);
      const other = createDb(t.pg ? { url: t.pg } : { filename: t.sqlite });
      try {
        const trx = await other.transaction();
        await trx('agents').where({ agent_id: id }).update({ status: 'draining' });
        expect((await agentIn(id))!.status).toBe('undeployed'); // not committed yet
        await trx.commit();
        expect((await agentIn(id))!.status).toBe('draining');
        await other('agents').where({ agent_id: id }).update({ status: 'undeployed' });
        expect((await agentIn(id))!.status).toBe('undeployed');
      } finally {
        await other.destroy();
      }
    });

    if (engine === 'postgres') {
      it('commit order is not version order: a writer that advanced the version first and commits last is shown', async () => {
        // T1 advances the version, T2 advances it further and commits first: a reader then sees T2's version with
        // T1 invisible; when T1 commits the version does not move again. The render waits for T1 (SHARE lock).
        const [a, b] = (await get()).body!.agents.map((x) => String(x.agent_id)) as [string, string];
        const other = createDb({ url: dbTarget(stack.db).pg });
        try {
          const t1 = await other.transaction();
          await t1('agents').where({ agent_id: a }).update({ status: 'draining' });
          writeFromAnotherProcess(stack.db, 'UPDATE agents SET status = ? WHERE agent_id = ?', ['deployed', b]);
          const pending = get();
          await new Promise((r) => setTimeout(r, 300));
          await t1.commit();
          const seen = (await pending).body!.agents;
          expect(seen.find((x) => x.agent_id === b)).toMatchObject({ status: 'deployed' });
          expect(seen.find((x) => x.agent_id === a)).toMatchObject({ status: 'draining' });
          expect((await agentIn(a))!.status).toBe('draining');

          // T1 outlasting the render's lock timeout: the list answers what is committed, without an ETag, holds
          // nothing, and shows T1 once it commits.
          const t3 = await other.transaction();
          await t3('agents').where({ agent_id: a }).update({ status: 'undeployed' });
          writeFromAnotherProcess(stack.db, 'UPDATE agents SET status = ? WHERE agent_id = ?', ['undeployed', b]);
          const early = await get();
          expect(early.headers.etag).toBeUndefined();
          expect(early.body!.agents.find((x) => x.agent_id === b)).toMatchObject({ status: 'undeployed' });
          expect(early.body!.agents.find((x) => x.agent_id === a)).toMatchObject({ status: 'draining' });
          await t3.commit();
          expect((await agentIn(a))!.status).toBe('undeployed');
        } finally {
          await other.destroy();
        }
      });
    }

    it('the list in front of Koa answers what the Koa route answers (headers, bytes, 304, HEAD, CORS, gzip)', async () => {
      const strip = (h: Record<string, unknown>) => {
        const { date: _d, 'x-request-id': _r, connection: _c, 'keep-alive': _k, ...rest } = h;
        return rest;
      };
      for (const headers of [
        {},
        { origin: 'https://easyenclave.com' },
        { 'accept-encoding': 'gzip' },
        { origin: 'https://evil.example', 'accept-encoding': 'gzip;q=0' },
      ] as Record<string, string>[]) {
        const fast = await get('/api/v1/agents', headers);
        const koa = await get('/api/v1/agents?', headers); // a query string: Koa's route
        expect(fast.status).toBe(200);
        expect(strip(fast.headers)).toEqual(strip(koa.headers));
        expect(fast.bytes.equals(koa.bytes)).toBe(true);
        expect(fast.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
        const etag = String(fast.headers.etag);
        const [fast304, koa304] = [
          await get('/api/v1/agents', { ...headers, 'if-none-match': etag }),
          await get('/api/v1/agents?', { ...headers, 'if-none-match': `"x", ${etag}` }),
        ];
        expect([fast304.status, koa304.status]).toEqual([304, 304]);
        expect(fast304.bytes.length).toBe(0);
        expect(strip(fast304.headers)).toEqual(strip(koa304.headers));
      }
      const head = await new Promise<{ status: number; headers: Record<string, unknown>; bytes: number }>(
        (resolve, reject) => {
          const req = request(
            `${stack.url}/api/v1/agents`,
            { method: 'HEAD', headers: { 'x-request-id': 'probe-1' } },
            (res) => {
              let bytes = 0;
              res.on('data', (c: Buffer) => (bytes += c.length));
              res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes }));
            },
          );
          req.on('error', reject);
          req.end();
        },
      );
      expect(head).toMatchObject({ status: 200, bytes: 0, headers: { 'x-request-id': 'probe-1' } });
      expect(Number(head.headers['content-length'])).toBe((await get()).bytes.length);
      // Counted under the route's template, as the Koa route is.
      const counted = (await metrics.httpDuration.get()).values.filter(
        (v) =>
          v.metricName === 'easyenclave_http_request_duration_seconds_count' && v.labels.route === '/api/v1/agents',
      );
      expect(counted.find((v) => v.labels.status === '200' && v.labels.method === 'HEAD')?.value).toBeGreaterThan(0);
      expect(counted.find((v) => v.labels.status === '304' && v.labels.method === 'GET')?.value).toBeGreaterThan(0);
    });

    it('pages and filters are held under their own keys: same page, same ETag and a 304; a change renews it', async () => {
      const p1 = await get('/api/v1/agents?limit=2');
      const again = await get('/api/v1/agents?limit=2');
      expect(again.headers.etag).toBe(p1.headers.etag);
      expect(again.bytes.equals(p1.bytes)).toBe(true);
      expect((await get('/api/v1/agents?limit=2', { 'if-none-match': String(p1.headers.etag) })).status).toBe(304);
      expect((await get('/api/v1/agents?limit=3')).headers.etag).not.toBe(p1.headers.etag);
      const id = String(p1.body!.agents[0]!.agent_id);
      await stack.db('agents').where({ agent_id: id }).update({ status: 'draining' });
      const changed = await get('/api/v1/agents?limit=2');
      expect(changed.headers.etag).not.toBe(p1.headers.etag);
      expect(changed.body!.agents[0]).toMatchObject({ agent_id: id, status: 'draining' });
      expect((await get('/api/v1/agents?limit=2', { 'if-none-match': String(p1.headers.etag) })).status).toBe(200);
      expect((await get('/api/v1/agents?status=draining')).body!.agents.map((a) => a.agent_id)).toEqual([id]);
      await stack.db('agents').where({ agent_id: id }).update({ status: 'undeployed' });
      expect((await get('/api/v1/agents?status=draining')).body!.agents).toEqual([]);
      // Validation is still Koa's, before anything is read.
      expect((await get('/api/v1/agents?limit=0')).status).toBe(422);
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
