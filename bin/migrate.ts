/** `npm run migrate`: bring the database (SQLite file or DATABASE_URL) to the latest schema. */
import { loadConfig } from '../core/config';
import { createDb } from '../core/db/connection';
import { migrateLatest } from '../core/db/migrate';

async function main(): Promise<void> {
  const config = loadConfig();
  const db = createDb(config.database);
  try {
    const ran = await migrateLatest(db);
    const target = config.database.url ? 'PostgreSQL' : config.database.filename;
    process.stdout.write(ran.length ? `Migrated ${target}: ${ran.join(', ')}\n` : `${target} is up to date\n`);
  } finally {
    await db.destroy();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`migration failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
