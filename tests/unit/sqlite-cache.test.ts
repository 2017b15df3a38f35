/**
 * SQLite's page cache per connection (core/db/connection.ts, `SQLITE_CACHE_KIB`): better-sqlite3 compiles in 16 MB,
 * which a fleet's agents table fills for the life of the process; we open connections with SQLite's own 2 MiB
 * unless told otherwise (docs/performance.md, Memory).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config';
import { createDb } from '../../core/db/connection';

const dir = mkdtempSync(join(tmpdir(), 'ee-sqlite-cache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cacheSizeOf(env: NodeJS.ProcessEnv, name: string): Promise<number> {
  const db = createDb({ ...loadConfig(env).database, filename: join(dir, name) });
  try {
    const rows = (await db.raw('PRAGMA cache_size')) as { cache_size: number }[];
    return rows[0]!.cache_size;
  } finally {
    await db.destroy();
  }
}

describe('SQLite page cache', () => {
  it('is 2048 KiB by default, not the 16,000 better-sqlite3 compiles in', async () => {
    expect(await cacheSizeOf({}, 'default.db')).toBe(-2048);
  });

  it('takes SQLITE_CACHE_KIB, and ignores a value that is not a positive integer', async () => {
    expect(await cacheSizeOf({ SQLITE_CACHE_KIB: '8192' }, 'set.db')).toBe(-8192);
    expect(await cacheSizeOf({ SQLITE_CACHE_KIB: 'lots' }, 'junk.db')).toBe(-2048);
    expect(await cacheSizeOf({ SQLITE_CACHE_KIB: '-5' }, 'negative.db')).toBe(-2048);
  });
});
