/**
 * `agents.row_version` no longer changes when a write touches only `last_health_check` and `last_contact_at`: the
 * health sweep refreshes both on every agent every 30 s, and a new version per agent per sweep re-rendered every
 * view and changed every list ETag twice a minute on an unchanged fleet. The sweep now writes `health_status` /
 * `unhealthy_since` only when they change (a new version then); the two timestamps stay fresh in their columns, and
 * the API reads `last_health_check` beside the versions (api/agent-views.ts), so lists still show it current.
 *
 * PostgreSQL compares the row without those columns (any other change is a new version, whatever the column).
 * SQLite's trigger fires on `UPDATE OF` the other columns, listed here from the table as it is: a migration that adds
 * a column to `agents` must recreate this trigger (tests/integration/agent-list-cache.test.ts fails otherwise).
 */
import type { Knex } from 'knex';
import { isPostgres } from '../connection';

/** Columns whose writes alone keep the row's version. */
export const FRESHNESS_COLUMNS = ['last_health_check', 'last_contact_at'] as const;

async function versionedColumns(knex: Knex): Promise<string[]> {
  const all = Object.keys(await knex('agents').columnInfo());
  return all.filter((c) => c !== 'row_version' && !(FRESHNESS_COLUMNS as readonly string[]).includes(c));
}

const SQLITE_BUMP = `FOR EACH ROW BEGIN
  UPDATE agents SET row_version = (random() & 9007199254740991) WHERE rowid = NEW.rowid;
END`;

export async function up(knex: Knex): Promise<void> {
  if (isPostgres(knex)) {
    const except = ['row_version', ...FRESHNESS_COLUMNS].map((c) => ` - '${c}'`).join('');
    await knex.raw(`
      CREATE OR REPLACE FUNCTION agents_row_version() RETURNS trigger AS $$
      BEGIN
        IF TG_OP = 'UPDATE' AND (to_jsonb(NEW)${except}) = (to_jsonb(OLD)${except}) THEN
          NEW.row_version := OLD.row_version;
        ELSE
          NEW.row_version := floor(random() * 9007199254740991)::bigint;
        END IF;
        RETURN NEW;
      END
      $$ LANGUAGE plpgsql`);
  } else {
    const columns = (await versionedColumns(knex)).map((c) => `"${c}"`).join(', ');
    await knex.raw('DROP TRIGGER IF EXISTS agents_row_version_update');
    await knex.raw(`CREATE TRIGGER agents_row_version_update AFTER UPDATE OF ${columns} ON agents ${SQLITE_BUMP}`);
  }
}

export async function down(knex: Knex): Promise<void> {
  if (isPostgres(knex)) {
    await knex.raw(`
      CREATE OR REPLACE FUNCTION agents_row_version() RETURNS trigger AS $$
      BEGIN
        NEW.row_version := floor(random() * 9007199254740991)::bigint;
        RETURN NEW;
      END
      $$ LANGUAGE plpgsql`);
  } else {
    await knex.raw('DROP TRIGGER IF EXISTS agents_row_version_update');
    await knex.raw(`CREATE TRIGGER agents_row_version_update AFTER UPDATE ON agents ${SQLITE_BUMP}`);
  }
}
