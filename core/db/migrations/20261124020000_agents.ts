/**
 * Agent registration and lifecycle (v2):
 * - `agent_nonces`: registration challenges live in the database so every API replica and worker sees the same
 *   one-time nonce (v1 kept them in process memory). One row per vm_name; issuing again overwrites it.
 * - `agents.last_contact_at`: the last time the control plane heard from the agent by ANY channel (agent-initiated
 *   calls and successful health checks). Stale clean-up uses it, so an agent the health sweep sees healthy is not
 *   deleted merely because it never heartbeats (v1 only counted agent-initiated calls).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('agent_nonces', (t) => {
    t.comment('Outstanding registration challenges (GET /api/v1/agents/challenge), one per vm_name');
    t.string('vm_name').primary().comment('vm_name exactly as given in the challenge query');
    t.string('nonce', 64).notNullable().comment('32 lowercase hex chars bound into the quote REPORTDATA');
    t.timestamp('issued_at', { useTz: true }).notNullable().comment('Issue time; expired after nonce_ttl_seconds');
    t.string('consumed_by').comment('Registration workflow id that consumed it (retries of that run stay valid)');
  });
  await knex.schema.alterTable('agents', (t) => {
    t.timestamp('last_contact_at', { useTz: true }).comment(
      'Last sign of life by any channel (heartbeat/status/deployed/registration or a healthy health check); stale clean-up key',
    );
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('agents', (t) => {
    t.dropColumn('last_contact_at');
  });
  await knex.schema.dropTable('agent_nonces');
}
