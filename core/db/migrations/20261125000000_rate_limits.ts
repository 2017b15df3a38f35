/**
 * Rate-limit windows shared by every API replica (api/middleware/rate-limit.ts): one row per limited key (e.g.
 * `admin-login:ip:203.0.113.7`) holding the start of its current fixed window and the requests counted in it. A
 * counter in process memory would let N replicas grant N times the limit. Rows of past windows are harmless (the
 * next request resets them) and are purged by the hourly session clean-up.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('rate_limits', (t) => {
    t.comment('Fixed-window request counters of the API rate limits, shared by every replica');
    t.string('key', 200).primary().comment('Limited key: <limit name>:<ip|account>:<value>');
    t.bigInteger('window_start_ms').notNullable().index().comment('Epoch ms at which the current window began');
    t.integer('count').notNullable().comment('Requests counted in the current window (refused ones are not)');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('rate_limits');
}
