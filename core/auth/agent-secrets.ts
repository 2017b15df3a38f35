/**
 * Agent control secrets (48 random bytes, minted at each registration): HMAC-SHA-256 for agent → CP calls
 * (core/auth/secrets.ts) plus a sealed copy for CP → agent calls. A secret stored as argon2id by an earlier release
 * is accepted and rewritten as HMAC on its next successful use.
 */
import type { Knex } from 'knex';
import { rehashCredential, type CredentialDbRow } from '../stores/agents';
import type { KeyRing } from './keyring';
import { verifyToken } from './secrets';

/** True when `secret` is the agent's current control secret (migrating a legacy hash as a side effect). */
export async function checkAgentSecret(
  db: Knex,
  keys: KeyRing,
  cred: Pick<CredentialDbRow, 'agent_id' | 'api_secret_hash'>,
  secret: string,
): Promise<boolean> {
  const check = await verifyToken(keys, cred.api_secret_hash, secret);
  if (check.ok && check.rehash) await rehashCredential(db, cred.agent_id, cred.api_secret_hash, check.rehash);
  return check.ok;
}
