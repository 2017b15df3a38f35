/**
 * CP → agent authentication needs the agent's control secret in clear (`X-Agent-Secret`, agent.md §7.1), but
 * `api_secret_hash` is a one-way argon2id hash kept for agent → CP calls. Registration therefore also stores the
 * secret sealed under the install's sealing key (AES-256-GCM, core/auth/seal.ts), which only the worker can open.
 * Nullable: credentials written before this migration have no sealed copy until the agent's next registration.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('agent_control_credentials', (t) => {
    t.text('api_secret_sealed').comment(
      'Agent secret sealed with the install sealing key (seal(key, secret).sealed, base64url iv|tag|ciphertext); sent as X-Agent-Secret on CP → agent calls; null = unknown',
    );
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('agent_control_credentials', (t) => {
    t.dropColumn('api_secret_sealed');
  });
}
