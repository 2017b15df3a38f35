/**
 * `agents.row_version`: a fresh random value on every insert and update of a row, set by the database itself (a
 * trigger), so no writer — activity, store function or a later one — can forget it. The API keys its cache of
 * rendered agent views by (agent_id, row_version) and derives list ETags from the versions alone, so an unchanged
 * list of 1,000 agents is answered from 1,000 (id, version) pairs instead of 1,000 full rows parsed and serialized.
 * Random rather than a counter: a row deleted and inserted again with the same agent_id (re-registration) can never
 * repeat a version a cache still holds (a 1 in 2^53 chance per write). Row counts of conditional updates are
 * unaffected (SQLite does not count a trigger's changes; PostgreSQL's BEFORE trigger only sets NEW).
 */
import type { Knex } from 'knex';
import { isPostgres } from '../connection';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('agents', (t) => {
    t.bigInteger('row_version')
      .notNullable()
      .defaultTo(0)
      .comment('Random per write (trigger agents_row_version): the API view cache key with agent_id');
  });
  if (isPostgres(knex)) {
    await knex.raw(`
      CREATE FUNCTION agents_row_version() RETURNS trigger AS $$
      BEGIN
        NEW.row_version := floor(random() * 9007199254740991)::bigint;
        RETURN NEW;
      END
      $$ LANGUAGE plpgsql`);
    await knex.raw(`CREATE TRIGGER agents_row_version BEFORE INSERT OR UPDATE ON agents
      FOR EACH ROW EXECUTE FUNCTION agents_row_version()`);
  } else {
    // SQLite cannot assign NEW in a BEFORE trigger: an AFTER trigger writes the column (once: SQLite's
    // recursive_triggers is off, so the trigger's own UPDATE does not fire it again).
    // random() is a signed 64-bit integer; masked to 53 bits so JavaScript numbers hold it exactly.
    for (const event of ['INSERT', 'UPDATE']) {
      await knex.raw(`CREATE TRIGGER agents_row_version_${event.toLowerCase()} AFTER ${event} ON agents
        FOR EACH ROW BEGIN
          UPDATE agents SET row_version = (random() & 9007199254740991) WHERE rowid = NEW.rowid;
        END`);
    }
  }
}

export async function down(knex: Knex): Promise<void> {
  if (isPostgres(knex)) {
    await knex.raw('DROP TRIGGER IF EXISTS agents_row_version ON agents');
    await knex.raw('DROP FUNCTION IF EXISTS agents_row_version()');
  } else {
    await knex.raw('DROP TRIGGER IF EXISTS agents_row_version_insert');
    await knex.raw('DROP TRIGGER IF EXISTS agents_row_version_update');
  }
  await knex.schema.alterTable('agents', (t) => t.dropColumn('row_version'));
}
