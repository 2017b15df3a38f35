/**
 * Knex connection factory: PostgreSQL when given a postgres:// URL (production, N replicas),
 * otherwise a better-sqlite3 file (the embedded default, `data/easyenclave.db`).
 */
import fs from 'node:fs';
import path from 'node:path';
// Default import: knex is CommonJS without an exports map, so Node's ESM loader exposes no
// named `knex` export (vitest's interop hides this; plain tsx/node does not).
import knex from 'knex';
import type { Knex } from 'knex';
import pg from 'pg';

export const DEFAULT_SQLITE_FILE = 'data/easyenclave.db';

export interface DbOptions {
  /** postgres:// or postgresql:// URL; anything else falls back to SQLite. */
  url?: string;
  /** SQLite file; parent directory is created. Default `data/easyenclave.db`. */
  filename?: string;
  /**
   * SQLite page cache per connection, KiB (`PRAGMA cache_size = -<KiB>`). Default 2048: SQLite's own default;
   * better-sqlite3 compiles in 16,000, which an agents table larger than that fills for the life of the process
   * while saving little — a full scan of a larger table cycles through any cache smaller than itself, and the pages
   * come from the OS page cache either way (docs/performance.md, Memory).
   */
  sqliteCacheKib?: number;
}

export const DEFAULT_SQLITE_CACHE_KIB = 2048;

const PG_URL = /^postgres(ql)?:\/\//i;
let pgParsersInstalled = false;

/**
 * int8 (money in micro-dollars, counts) and numeric arrive from pg as strings by default;
 * every value we store fits in a double's 53-bit integer range, so numbers are safe.
 */
function installPgTypeParsers(): void {
  if (pgParsersInstalled) return;
  pg.types.setTypeParser(20, Number); // int8
  pg.types.setTypeParser(1700, Number); // numeric
  pgParsersInstalled = true;
}

export function createDb(opts: DbOptions): Knex {
  if (opts.url && PG_URL.test(opts.url)) {
    installPgTypeParsers();
    return knex({ client: 'pg', connection: opts.url, pool: { min: 0, max: 10 } });
  }
  const filename = opts.filename ?? DEFAULT_SQLITE_FILE;
  if (filename !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(filename)), { recursive: true });
  return knex({
    client: 'better-sqlite3',
    connection: { filename },
    useNullAsDefault: true,
    pool: {
      // Per-connection pragmas: WAL lets readers run beside the single writer; busy_timeout
      // makes a second writer wait instead of failing with SQLITE_BUSY.
      afterCreate(conn: { pragma(sql: string): unknown }, done: (err: Error | null, conn: unknown) => void) {
        try {
          conn.pragma('journal_mode = WAL');
          // WAL's recommended durability: a commit is written to the WAL at once but fsynced at checkpoints, not on
          // every commit. A crash of this process loses nothing and the file never corrupts; an OS crash or power
          // loss may roll back the last commits before the checkpoint. The default (FULL) fsyncs per commit, which
          // capped every write path — a challenge nonce, a heartbeat — at ~230 commits/s on this machine's disk
          // (docs/performance.md, Reads). Production with stricter needs runs PostgreSQL.
          conn.pragma('synchronous = NORMAL');
          conn.pragma('busy_timeout = 5000');
          conn.pragma('foreign_keys = ON');
          conn.pragma(`cache_size = -${Math.max(64, Math.floor(opts.sqliteCacheKib ?? DEFAULT_SQLITE_CACHE_KIB))}`);
          done(null, conn);
        } catch (err) {
          done(err as Error, conn);
        }
      },
    },
  });
}

export function isPostgres(db: Knex | Knex.Transaction): boolean {
  const client = db.client.config.client as unknown;
  return client === 'pg' || client === 'postgres' || client === 'postgresql';
}

/** `DATABASE_URL` (postgres) wins; else `EASYENCLAVE_DB_PATH`, else `data/easyenclave.db`. */
export function databaseUrlFromEnv(env: NodeJS.ProcessEnv = process.env): DbOptions {
  const url = env.DATABASE_URL?.trim();
  if (url && PG_URL.test(url)) return { url };
  const filename = env.EASYENCLAVE_DB_PATH?.trim();
  return { filename: filename || DEFAULT_SQLITE_FILE };
}
