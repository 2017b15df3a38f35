/**
 * Registration challenges (table `agent_nonces`, spec/attestation.md §2). In the database, not process memory, so
 * any API replica can issue and any worker can check. One row per vm_name; issuing again replaces it.
 */
import type { Knex } from 'knex';
import { isPostgres } from '../db/connection';
import { requireIso } from '../db/tables';

export interface StoredNonce {
  vm_name: string;
  nonce: string;
  issued_at: string;
  consumed_by: string | null;
}

type Db = Knex | Knex.Transaction;

/**
 * The upsert of a challenge, one statement on either engine: replace the previous nonce of the vm_name, unconsumed.
 * It is the challenge route's only write (GET /api/v1/agents/challenge), so it skips knex's query builder: on SQLite
 * it is a better-sqlite3 statement prepared once per connection handle, on PostgreSQL a named prepared statement
 * (parsed once per server connection; node-postgres remembers the name per client).
 */
const ON_CONFLICT =
  'on conflict (vm_name) do update set nonce = excluded.nonce, issued_at = excluded.issued_at, consumed_by = null';
const UPSERT = `insert into agent_nonces (vm_name, nonce, issued_at, consumed_by) values (?, ?, ?, null) ${ON_CONFLICT}`;
const UPSERT_PG = {
  name: 'ee_issue_nonce',
  text: `insert into agent_nonces (vm_name, nonce, issued_at, consumed_by) values ($1, $2, $3, null) ${ON_CONFLICT}`,
};

/** Where a better-sqlite3 handle keeps its prepared upsert: on the handle itself, so it lives and dies with it. */
const PREPARED = Symbol('easyenclave.issueNonce');

/** …and the batch of them in one transaction (better-sqlite3's `transaction()`: BEGIN … COMMIT, or ROLLBACK). */
const BATCH = Symbol('easyenclave.issueNonces');

type Row = [vmName: string, nonce: string, issuedAt: string];

interface SqliteHandle {
  prepare(sql: string): { run(...params: unknown[]): unknown };
  transaction(fn: (rows: Row[]) => void): (rows: Row[]) => void;
  [PREPARED]?: { run(...params: unknown[]): unknown };
  [BATCH]?: (rows: Row[]) => void;
}

const upsertOf = (handle: SqliteHandle) => (handle[PREPARED] ??= handle.prepare(UPSERT));
interface PgHandle {
  query(q: { name: string; text: string; values: unknown[] }): Promise<unknown>;
}

export async function issueNonce(db: Db, vmName: string, nonce: string, issuedAt: string): Promise<void> {
  const values = [vmName, nonce, issuedAt];
  // A transaction holds its own connection: the statement runs on it, through knex.
  if (db.isTransaction) {
    await db.raw(UPSERT, values);
    return;
  }
  const conn = (await db.client.acquireConnection()) as SqliteHandle | PgHandle;
  try {
    if (isPostgres(db)) await (conn as PgHandle).query({ ...UPSERT_PG, values });
    else {
      upsertOf(conn as SqliteHandle).run(...values);
    }
  } finally {
    await db.client.releaseConnection(conn);
  }
}

interface Pending {
  row: Row;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export type NonceIssuer = (vmName: string, nonce: string, issuedAt: string) => Promise<void>;

/**
 * issueNonce for a busy caller (the challenge route; one per app, never module state). On SQLite the upserts that
 * arrive in one turn of the event loop share one transaction — one commit (one WAL append) and one pool acquire
 * instead of one each; every caller's promise settles after that commit, so each answer still follows its durable
 * write, and a vm_name issued twice in one batch keeps the later nonce, as two sequential issues would. A batch that
 * a constraint refuses is retried row by row, so one bad row fails only its own caller. On PostgreSQL each is one issueNonce.
 */
export function nonceIssuer(db: Knex): NonceIssuer {
  let queue: Pending[] | null = null;
  const flush = async (batch: Pending[]) => {
    let conn: SqliteHandle | undefined;
    try {
      conn = (await db.client.acquireConnection()) as SqliteHandle;
      const handle = conn;
      const upsert = upsertOf(handle);
      const all = (handle[BATCH] ??= handle.transaction((rows) => {
        for (const r of rows) upsert.run(...r);
      }));
      try {
        all(batch.map((b) => b.row));
        for (const b of batch) b.resolve();
      } catch (err) {
        // Only a row the schema refuses is worth retrying alone; a busy or broken database fails the whole batch.
        if (!String((err as { code?: unknown }).code ?? '').startsWith('SQLITE_CONSTRAINT')) throw err;
        for (const b of batch) {
          try {
            upsert.run(...b.row);
            b.resolve();
          } catch (err) {
            b.reject(err);
          }
        }
      }
    } catch (err) {
      for (const b of batch) b.reject(err);
    } finally {
      if (conn) await db.client.releaseConnection(conn);
    }
  };
  const postgres = isPostgres(db);
  return (vmName, nonce, issuedAt) => {
    if (postgres) return issueNonce(db, vmName, nonce, issuedAt);
    return new Promise<void>((resolve, reject) => {
      let batch = queue;
      if (!batch) {
        const next: Pending[] = (batch = queue = []);
        setImmediate(() => {
          queue = null;
          void flush(next);
        });
      }
      batch.push({ row: [vmName, nonce, issuedAt], resolve, reject });
    });
  };
}

export async function getNonce(db: Db, vmName: string): Promise<StoredNonce | null> {
  const row = (await db('agent_nonces').where({ vm_name: vmName }).first()) as
    (Omit<StoredNonce, 'issued_at'> & { issued_at: Date | string }) | undefined;
  return row ? { ...row, issued_at: requireIso(row.issued_at), consumed_by: row.consumed_by ?? null } : null;
}

/**
 * One-time use: marks the challenge consumed by `by` (a registration workflow id) unless another consumer got there
 * first. A retry of the same consumer succeeds again, so an activity retry cannot reject its own registration.
 */
export async function consumeNonce(db: Db, vmName: string, nonce: string, by: string): Promise<boolean> {
  const n = await db('agent_nonces')
    .where({ vm_name: vmName, nonce })
    .andWhere((q) => q.whereNull('consumed_by').orWhere('consumed_by', by))
    .update({ consumed_by: by });
  return n > 0;
}

export async function deleteNonce(db: Db, vmName: string, nonce: string): Promise<void> {
  await db('agent_nonces').where({ vm_name: vmName, nonce }).delete();
}

/** Expired or consumed challenges older than `before` (housekeeping). */
export async function purgeNonces(db: Db, before: string): Promise<number> {
  return db('agent_nonces').where('issued_at', '<', before).delete();
}
