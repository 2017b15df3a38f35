/**
 * Launch orders become `launch-order:<order_id>` workflows (capacity issue): the order records which path fulfils it,
 * which registration consumed its bootstrap token and the agent that registration created, so a reused token is
 * refused and the reaper can tell a fulfilled order's agent apart.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('capacity_launch_orders', (t) => {
    t.string('fulfiller', 16).comment("Who provisions it: 'launcher' (claim API), 'gcp' (built-in), 'provisioner'");
    t.integer('claim_count').notNullable().defaultTo(0).comment('Claims so far (re-queues included)');
    t.string('bootstrap_token_consumer').comment('Registration workflow id that consumed the bootstrap token');
    t.string('agent_id', 36).index().comment('Agent registered with this order (set when the token is consumed)');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('capacity_launch_orders', (t) => {
    t.dropColumn('fulfiller');
    t.dropColumn('claim_count');
    t.dropColumn('bootstrap_token_consumer');
    t.dropColumn('agent_id');
  });
}
