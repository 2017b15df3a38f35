/**
 * One-time use of GitHub OAuth `state` values (core/auth/oauth-state.ts): the signed state proves it was issued
 * by us and is unexpired; this table proves it was not used before. A callback inserts the state's nonce; a
 * duplicate key means a replayed state. Rows may be purged once `expires_at` has passed.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('oauth_states_used', (t) => {
    t.comment('Nonces of GitHub OAuth states already consumed by /auth/github/callback (replay guard)');
    t.string('nonce', 64).primary().comment('Random nonce part of the signed state');
    t.timestamp('expires_at', { useTz: true }).notNullable().index().comment('State expiry; row purgeable after it');
    t.timestamp('used_at', { useTz: true }).notNullable().comment('When the callback consumed the state');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('oauth_states_used');
}
