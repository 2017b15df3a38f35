/**
 * The agents list version: one number that changes whenever any row of `agents` is inserted, updated (any column,
 * the freshness-only writes of the health sweep included) or deleted, so the API can tell whether a list body it
 * holds is still current with one O(1) read per request (core/stores/agents.ts `agentListVersion`) instead of
 * reading every listed row's version.
 *
 * Why not `max(per-row sequence) + count(*)`: count(*) is a scan on both engines (O(rows), not O(1)), and on
 * PostgreSQL a sequence is not commit-ordered — a writer holding value 10 can commit after one holding 11, so a reader
 * that saw max = 11 would see the same max after the late commit and keep a stale body.
 *
 * - **SQLite**: a one-row clock table bumped by row triggers on insert, update and delete, in the writing
 *   transaction. SQLite has one writer at a time, so a hot row costs nothing extra, and the clock is transactional:
 *   a read transaction sees the clock and the rows at one snapshot, and two snapshots with the same clock value show
 *   the same rows. Every process writing the file (API, worker, another API) goes through the triggers.
 * - **PostgreSQL**: a sequence advanced (`nextval`) by a row trigger on insert, update and delete, and a statement
 *   trigger on truncate. No hot row: writers never wait for each other (a generation row bumped per write would
 *   serialize every writer of `agents` on one row lock until commit, and make lock-order deadlocks possible between
 *   transactions that write agents and other tables). `nextval` is not transactional, so the version read by a
 *   request may run ahead of what it can see; the API therefore renders a body it will keep under `LOCK TABLE agents
 *   IN SHARE MODE` (which waits for every in-flight writer of the table and holds new ones back for the render's
 *   reads): at that moment every advanced value belongs to a finished transaction, so the version read then names
 *   exactly the rows read then, and any later state with the same version is that state (every write after it takes
 *   a larger value). See api/agent-list.ts.
 *
 * The sequence's `last_value` is read without a lock; the sequence has CACHE 1 (the default), so every session's
 * `nextval` is visible to every other at once.
 */
import type { Knex } from 'knex';
import { isPostgres } from '../connection';

export const LIST_CLOCK_TABLE = 'agents_list_clock';
export const LIST_VERSION_SEQUENCE = 'agents_list_version';

export async function up(knex: Knex): Promise<void> {
  if (isPostgres(knex)) {
    await knex.raw(`CREATE SEQUENCE ${LIST_VERSION_SEQUENCE} CACHE 1`);
    await knex.raw(`COMMENT ON SEQUENCE ${LIST_VERSION_SEQUENCE} IS
      'Advanced by every write of agents (triggers agents_list_version_*): the API list bodies are held under it'`);
    await knex.raw(`
      CREATE FUNCTION agents_list_version_bump() RETURNS trigger AS $$
      BEGIN
        PERFORM nextval('${LIST_VERSION_SEQUENCE}');
        RETURN NULL;
      END
      $$ LANGUAGE plpgsql`);
    await knex.raw(`CREATE TRIGGER agents_list_version_rows AFTER INSERT OR UPDATE OR DELETE ON agents
      FOR EACH ROW EXECUTE FUNCTION agents_list_version_bump()`);
    await knex.raw(`CREATE TRIGGER agents_list_version_truncate AFTER TRUNCATE ON agents
      FOR EACH STATEMENT EXECUTE FUNCTION agents_list_version_bump()`);
    return;
  }
  await knex.schema.createTable(LIST_CLOCK_TABLE, (t) => {
    t.comment('One row: bumped by every insert, update and delete on agents (the API list freshness check)');
    t.integer('id').primary().comment('Always 1');
    t.bigInteger('version').notNullable().comment('Number of agents row writes so far; only grows');
  });
  await knex(LIST_CLOCK_TABLE).insert({ id: 1, version: 0 });
  for (const event of ['INSERT', 'UPDATE', 'DELETE']) {
    await knex.raw(`CREATE TRIGGER agents_list_clock_${event.toLowerCase()} AFTER ${event} ON agents
      FOR EACH ROW BEGIN
        UPDATE ${LIST_CLOCK_TABLE} SET version = version + 1 WHERE id = 1;
      END`);
  }
}

export async function down(knex: Knex): Promise<void> {
  if (isPostgres(knex)) {
    await knex.raw('DROP TRIGGER IF EXISTS agents_list_version_truncate ON agents');
    await knex.raw('DROP TRIGGER IF EXISTS agents_list_version_rows ON agents');
    await knex.raw('DROP FUNCTION IF EXISTS agents_list_version_bump()');
    await knex.raw(`DROP SEQUENCE IF EXISTS ${LIST_VERSION_SEQUENCE}`);
    return;
  }
  for (const event of ['insert', 'update', 'delete'])
    await knex.raw(`DROP TRIGGER IF EXISTS agents_list_clock_${event}`);
  await knex.schema.dropTableIfExists(LIST_CLOCK_TABLE);
}
