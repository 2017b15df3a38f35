/**
 * Account API keys (attestation.md §8, v2 hashing): `ee_live_` + 24 random bytes base64url (32 chars), stored as
 * an argon2id hash and found by its first 12 characters. Verification results are cached under a SHA-256 digest
 * (VerifiedTokenCache) so a busy client does not pay argon2 per request; the row is still loaded every time, so a
 * rotate or delete takes effect at once (and the cache entry is dropped too).
 */
import type { Knex } from 'knex';
import { findAccountsByKeyPrefix, type Account } from '../stores/accounts';
import { hashSecret, randomToken, tokenPrefix, verifySecret } from './secrets';
import type { VerifiedTokenCache } from './token-cache';

export const API_KEY_PREFIX = 'ee_live_';

export async function newApiKey(): Promise<{ key: string; hash: string; prefix: string }> {
  const key = `${API_KEY_PREFIX}${randomToken(24)}`;
  return { key, hash: await hashSecret(key), prefix: tokenPrefix(key) };
}

/** The account owning `key`, or null. Prefix collisions are handled by checking every candidate. */
export async function authenticateApiKey(
  db: Knex,
  key: string,
  now: Date,
  cache?: VerifiedTokenCache,
): Promise<Account | null> {
  if (!key.startsWith(API_KEY_PREFIX)) return null;
  const candidates = await findAccountsByKeyPrefix(db, tokenPrefix(key));
  const cachedId = cache?.get(key, now.getTime());
  for (const a of candidates) {
    if (!a.api_key_hash) continue;
    const id = apiKeyCacheId(a.account_id, a.api_key_hash);
    const ok = cachedId === id || (await verifySecret(a.api_key_hash, key));
    if (!ok) continue;
    cache?.set(key, id, now.getTime());
    return a;
  }
  return null;
}

/**
 * Cache id of a verified key: bound to the stored hash, so after a rotation (new hash) a cached old key can never
 * match again on any replica, even before its entry expires. `forgetId` with the same id drops it locally at once.
 */
export function apiKeyCacheId(accountId: string, hash: string): string {
  return `account:${accountId}|${hash}`;
}
