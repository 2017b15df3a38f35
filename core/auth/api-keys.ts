/**
 * Account API keys (attestation.md §8): `ee_live_` + 24 random bytes base64url (32 chars), stored as HMAC-SHA-256
 * under the install's key (core/auth/secrets.ts) and found by their first 12 characters. Keys stored as argon2id
 * by earlier releases still work and are rewritten as HMAC on their next successful use. Verification results are
 * cached under a SHA-256 digest (VerifiedTokenCache); the row is still loaded every time, so a rotate or delete
 * takes effect at once (and the cache entry is dropped too).
 */
import type { Knex } from 'knex';
import { findAccountsByKeyPrefix, rehashApiKey, type Account } from '../stores/accounts';
import type { KeyRing } from './keyring';
import { hashToken, randomToken, tokenPrefix, verifyToken } from './secrets';
import type { VerifiedTokenCache } from './token-cache';

export const API_KEY_PREFIX = 'ee_live_';

export function newApiKey(keys: KeyRing): { key: string; hash: string; prefix: string } {
  const key = `${API_KEY_PREFIX}${randomToken(24)}`;
  return { key, hash: hashToken(keys, key), prefix: tokenPrefix(key) };
}

/** The account owning `key`, or null. Prefix collisions are handled by checking every candidate. */
export async function authenticateApiKey(
  db: Knex,
  keys: KeyRing,
  key: string,
  now: Date,
  cache?: VerifiedTokenCache,
): Promise<Account | null> {
  if (!key.startsWith(API_KEY_PREFIX)) return null;
  const candidates = await findAccountsByKeyPrefix(db, tokenPrefix(key));
  const cachedId = cache?.get(key, now.getTime());
  for (const a of candidates) {
    if (!a.api_key_hash) continue;
    if (cachedId === apiKeyCacheId(a.account_id, a.api_key_hash)) return a;
    const check = await verifyToken(keys, a.api_key_hash, key);
    if (!check.ok) continue;
    let hash = a.api_key_hash;
    if (check.rehash && (await rehashApiKey(db, a.account_id, a.api_key_hash, check.rehash))) hash = check.rehash;
    cache?.set(key, apiKeyCacheId(a.account_id, hash), now.getTime());
    return { ...a, api_key_hash: hash };
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
