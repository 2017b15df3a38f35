/**
 * One-time use of GitHub OAuth states (table `oauth_states_used`). The signed state
 * proves it is ours and unexpired; a row here proves it was already used.
 */
import type { Knex } from 'knex';

/** Records the nonce; false when it was used before (replay). */
export async function consumeOAuthNonce(
  db: Knex,
  nonce: string,
  expiresAtIso: string,
  nowIso: string,
): Promise<boolean> {
  // The primary key is the one-time guard: of two concurrent callbacks with one state, only one
  // insert returns a row.
  const inserted = await db('oauth_states_used')
    .insert({ nonce, expires_at: expiresAtIso, used_at: nowIso })
    .onConflict('nonce')
    .ignore()
    .returning('nonce');
  return Array.isArray(inserted) && inserted.length > 0;
}

/** Deletes states whose expiry has passed (they can no longer verify anyway). */
export async function purgeExpiredOAuthStates(db: Knex | Knex.Transaction, nowIso: string): Promise<number> {
  return db('oauth_states_used').where('expires_at', '<', nowIso).delete();
}
