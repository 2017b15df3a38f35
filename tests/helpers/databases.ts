/**
 * Per-engine test databases (after backstage's TestDatabases): every store suite runs on
 * SQLite, and also on PostgreSQL when TEST_DATABASE_URL is set. Each call gets a fresh,
 * isolated database: a temp SQLite file, or a new `ee_test_<hex>` PostgreSQL database.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Knex } from 'knex';
import { createDb, isPostgres } from '../../core/db/connection';
import { migrateLatest } from '../../core/db/migrate';

export type TestEngine = 'sqlite' | 'postgres';

export interface TestDb {
  db: Knex;
  url?: string;
  filename?: string;
  destroy(): Promise<void>;
}

/** SQLite always; PostgreSQL only when TEST_DATABASE_URL is set (never a silent skip). */
export function testEngines(): TestEngine[] {
  return ['sqlite', ...(process.env.TEST_DATABASE_URL ? (['postgres'] as const) : [])];
}

export async function createTestDb(engine: TestEngine, opts: { migrate?: boolean } = {}): Promise<TestDb> {
  const t = engine === 'sqlite' ? createSqlite() : await createPostgres();
  if (opts.migrate ?? true) {
    try {
      await migrateLatest(t.db);
    } catch (err) {
      await t.destroy();
      throw err;
    }
  }
  return t;
}

function createSqlite(): TestDb {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ee-test-'));
  const filename = path.join(dir, 'test.db');
  const db = createDb({ filename });
  return {
    db,
    filename,
    async destroy() {
      await db.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function createPostgres(): Promise<TestDb> {
  const adminUrl = process.env.TEST_DATABASE_URL;
  if (!adminUrl) throw new Error('TEST_DATABASE_URL is not set');
  const name = `ee_test_${crypto.randomBytes(6).toString('hex')}`;
  const admin = createDb({ url: adminUrl });
  await admin.raw(`CREATE DATABASE ${name}`);
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  const url = u.toString();
  const db = createDb({ url });
  return {
    db,
    url,
    async destroy() {
      try {
        await db.destroy();
        await admin.raw(
          'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ? AND pid <> pg_backend_pid()',
          [name],
        );
        await admin.raw(`DROP DATABASE IF EXISTS ${name}`);
      } finally {
        await admin.destroy();
      }
    },
  };
}

/** Application tables (knex bookkeeping tables excluded), sorted. */
export async function listTables(db: Knex): Promise<string[]> {
  const rows: { name: string }[] = isPostgres(db)
    ? (
        await db.raw(
          `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`,
        )
      ).rows
    : await db.raw(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`);
  return rows
    .map((r) => r.name)
    .filter((n) => !n.startsWith('knex_migrations'))
    .sort();
}
