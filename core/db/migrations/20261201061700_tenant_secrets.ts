/**
 * Tenant secrets encrypted to the attested agent (issue #17): each agent's HPKE public key with the ITA token that
 * binds it, and each deployment's `encrypted_env` envelope. Only public keys and ciphertext: the control plane never
 * holds what opens them.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('agents', (t) => {
    t.text('encryption_public_key')
      .nullable()
      .comment('base64url raw X25519 HPKE public key the agent registered; null for agents without one');
    t.text('encryption_key_token')
      .nullable()
      .comment('Latest ITA token whose REPORTDATA 32..64 is SHA-256 of encryption_public_key (the evidence served)');
  });
  await knex.schema.alterTable('deployments', (t) => {
    t.text('encrypted_env')
      .nullable()
      .comment('JSON {enc, ct}: HPKE ciphertext of the env, sealed by the client to the agent (never plaintext)');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('deployments', (t) => {
    t.dropColumn('encrypted_env');
  });
  await knex.schema.alterTable('agents', (t) => {
    t.dropColumn('encryption_key_token');
    t.dropColumn('encryption_public_key');
  });
}
