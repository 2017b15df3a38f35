/**
 * The challenge store on every engine: the upsert replaces the previous nonce of a vm_name and leaves it unconsumed,
 * in one statement prepared once per connection handle (SQLite) or by name (PostgreSQL), and inside a transaction too.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { consumeNonce, getNonce, issueNonce, nonceIssuer } from '../../core/stores/nonces';
import { createTestDb, testEngines, type TestDb } from '../helpers/databases';

const T1 = '2026-12-01T10:00:00.000Z';
const T2 = '2026-12-01T10:05:00.000Z';

for (const engine of testEngines()) {
  describe(`nonce store (${engine})`, () => {
    let t: TestDb | undefined;
    afterEach(async () => {
      await t?.destroy();
      t = undefined;
    });

    it('issues an unconsumed nonce, and issuing again replaces it and clears consumed_by', async () => {
      t = await createTestDb(engine);
      await issueNonce(t.db, 'vm-a', 'a'.repeat(32), T1);
      await issueNonce(t.db, 'vm-b', 'b'.repeat(32), T1);
      expect(await getNonce(t.db, 'vm-a')).toEqual({
        vm_name: 'vm-a',
        nonce: 'a'.repeat(32),
        issued_at: T1,
        consumed_by: null,
      });
      expect(await consumeNonce(t.db, 'vm-a', 'a'.repeat(32), 'register:vm-a:1')).toBe(true);
      expect((await getNonce(t.db, 'vm-a'))?.consumed_by).toBe('register:vm-a:1');

      await issueNonce(t.db, 'vm-a', 'c'.repeat(32), T2);
      expect(await getNonce(t.db, 'vm-a')).toEqual({
        vm_name: 'vm-a',
        nonce: 'c'.repeat(32),
        issued_at: T2,
        consumed_by: null,
      });
      // The old nonce is gone: it can no longer be consumed; the new one can, once.
      expect(await consumeNonce(t.db, 'vm-a', 'a'.repeat(32), 'register:vm-a:2')).toBe(false);
      expect(await consumeNonce(t.db, 'vm-a', 'c'.repeat(32), 'register:vm-a:2')).toBe(true);
      expect(await consumeNonce(t.db, 'vm-a', 'c'.repeat(32), 'register:vm-a:3')).toBe(false);
      // The other vm_name is untouched; one row per vm_name.
      expect((await getNonce(t.db, 'vm-b'))?.nonce).toBe('b'.repeat(32));
      expect(await t.db('agent_nonces').orderBy('vm_name').pluck('vm_name')).toEqual(['vm-a', 'vm-b']);
    });

    it('concurrent issues for one vm_name leave one row holding one of them', async () => {
      t = await createTestDb(engine);
      const db = t.db;
      const nonces = Array.from({ length: 20 }, (_, i) => i.toString(16).padStart(32, '0'));
      await Promise.all(nonces.map((n) => issueNonce(db, 'vm-race', n, T1)));
      const rows = await db('agent_nonces').where({ vm_name: 'vm-race' });
      expect(rows).toHaveLength(1);
      expect(nonces).toContain(rows[0].nonce);
      expect(rows[0].consumed_by).toBeNull();
    });

    it('inside a transaction it writes on that transaction: rolled back with it, kept on commit', async () => {
      t = await createTestDb(engine);
      const db = t.db;
      await db
        .transaction(async (trx) => {
          await issueNonce(trx, 'vm-trx', 'd'.repeat(32), T1);
          expect((await getNonce(trx, 'vm-trx'))?.nonce).toBe('d'.repeat(32));
          throw new Error('roll back');
        })
        .catch((err: Error) => expect(err.message).toBe('roll back'));
      expect(await getNonce(db, 'vm-trx')).toBeNull();
      await db.transaction((trx) => issueNonce(trx, 'vm-trx', 'e'.repeat(32), T2));
      expect(await getNonce(db, 'vm-trx')).toMatchObject({ nonce: 'e'.repeat(32), issued_at: T2, consumed_by: null });
    });

    it('nonceIssuer: concurrent issues all land, one row per vm_name; a bad row fails alone', async () => {
      t = await createTestDb(engine);
      const db = t.db;
      const issue = nonceIssuer(db);
      const names = Array.from({ length: 30 }, (_, i) => `vm-${i % 25}`);
      await Promise.all(names.map((vm, i) => issue(vm, String(i % 10).repeat(32), T1)));
      const rows = await db('agent_nonces').orderBy('vm_name');
      expect(rows).toHaveLength(25);
      // vm-0 … vm-4 were issued twice (i and i + 25). SQLite runs one turn's issues in call order, so the later call's
      // nonce is kept; PostgreSQL runs them on parallel connections, so either one is, alone.
      for (let i = 0; i < 5; i += 1) {
        const kept = (await getNonce(db, `vm-${i}`))?.nonce;
        if (engine === 'sqlite') expect(kept).toBe(String((i + 25) % 10).repeat(32));
        else expect([String(i).repeat(32), String((i + 25) % 10).repeat(32)]).toContain(kept);
      }

      const results = await Promise.allSettled([
        issue('vm-good-1', 'a'.repeat(32), T2),
        issue('vm-bad', 'b'.repeat(32), null as unknown as string),
        issue('vm-good-2', 'c'.repeat(32), T2),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect((await getNonce(db, 'vm-good-1'))?.nonce).toBe('a'.repeat(32));
      expect((await getNonce(db, 'vm-good-2'))?.nonce).toBe('c'.repeat(32));
      expect(await getNonce(db, 'vm-bad')).toBeNull();
    });

    if (engine === 'sqlite') {
      it('nonceIssuer: the issues of one event-loop turn share one transaction', async () => {
        t = await createTestDb(engine);
        const conn = (await t.db.client.acquireConnection()) as {
          transaction(fn: (rows: unknown[]) => void): (rows: unknown[]) => void;
        };
        const batches: number[] = [];
        const original = conn.transaction.bind(conn);
        conn.transaction = (fn) => {
          const tx = original(fn);
          return (rows) => {
            batches.push(rows.length);
            tx(rows);
          };
        };
        await t.db.client.releaseConnection(conn);
        const issue = nonceIssuer(t.db);
        await Promise.all(Array.from({ length: 20 }, (_, i) => issue(`vm-${i}`, 'd'.repeat(32), T1)));
        await issue('vm-later', 'e'.repeat(32), T2);
        expect(batches).toEqual([20, 1]);
        expect(await t.db('agent_nonces').count({ n: '*' }).first()).toEqual({ n: 21 });
      });

      it('prepares the upsert once per connection handle, not per issue', async () => {
        t = await createTestDb(engine);
        const conn = (await t.db.client.acquireConnection()) as { prepare(sql: string): unknown };
        const prepared: string[] = [];
        const original = conn.prepare.bind(conn);
        conn.prepare = (sql: string) => {
          prepared.push(sql);
          return original(sql);
        };
        await t.db.client.releaseConnection(conn);
        for (let i = 0; i < 5; i += 1) await issueNonce(t.db, `vm-${i % 2}`, String(i).repeat(32), T1);
        expect(prepared.filter((sql) => sql.startsWith('insert into agent_nonces'))).toHaveLength(1);
        expect(await t.db('agent_nonces').count({ n: '*' }).first()).toEqual({ n: 2 });
      });
    } else {
      it('runs as the named prepared statement ee_issue_nonce on the connection', async () => {
        t = await createTestDb(engine);
        // One connection in use at a time: issue, then look at that same session's prepared statements.
        await issueNonce(t.db, 'vm-pg', 'f'.repeat(32), T1);
        const conn = (await t.db.client.acquireConnection()) as {
          query(sql: string): Promise<{ rows: { name: string }[] }>;
        };
        try {
          const { rows } = await conn.query('select name from pg_prepared_statements');
          expect(rows.map((r) => r.name)).toContain('ee_issue_nonce');
        } finally {
          await t.db.client.releaseConnection(conn);
        }
        await issueNonce(t.db, 'vm-pg', '0'.repeat(32), T2);
        expect((await getNonce(t.db, 'vm-pg'))?.nonce).toBe('0'.repeat(32));
      });
    }
  });
}
