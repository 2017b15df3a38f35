/**
 * Hashing and token minting for every credential the platform issues.
 *
 * - Human passwords (the admin password): argon2id (`hashPassword` / `verifyPassword`), slow on purpose because a
 *   person chooses them.
 * - Machine-generated tokens with ≥ 192 bits of entropy (agent control secrets, API keys, admin/GitHub session
 *   tokens, launch-order bootstrap tokens): HMAC-SHA-256 under a key derived from the install's sealing key
 *   (`hashToken` / `verifyToken`), compared in constant time — what GitHub and Stripe do for tokens. Nobody can
 *   guess such a token, so a slow hash buys nothing, while argon2 cost ~100 ms of both cores per registration.
 *   A stored token hash names the sealing key it was made under (`hmac-sha256$<key id>$<mac>`), so a key rotation
 *   keeps verifying old hashes (previous key) and upgrades them on their next successful use.
 * - Tokens stored before this change are argon2id hashes; `verifyToken` still accepts them and answers the HMAC
 *   hash to store in their place (`rehash`), so each is migrated on its next successful use.
 *
 * Tokens are looked up by a short prefix kept in clear and shown in clear exactly once.
 */
import { hash, verify } from '@node-rs/argon2';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { KeyRing, SealingKey } from './keyring';

/** Characters of a token kept in clear for indexed lookup. */
export const TOKEN_PREFIX_LENGTH = 12;

const TOKEN_HASH_SCHEME = 'hmac-sha256';
/** Domain separation: the token-hash key is derived from, never equal to, the sealing key. */
const TOKEN_HASH_DOMAIN = 'easyenclave:token-hash:v1';

export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

export function tokenPrefix(token: string): string {
  return token.slice(0, TOKEN_PREFIX_LENGTH);
}

/** argon2id hash of a human password. */
export async function hashPassword(password: string): Promise<string> {
  return hash(password, { algorithm: 2 /* Argon2id */ });
}

/** argon2id verification (constant time inside argon2); false (never a throw) for malformed hashes. */
export async function verifyPassword(storedHash: string, password: string): Promise<boolean> {
  try {
    return await verify(storedHash, password);
  } catch {
    return false;
  }
}

export function isArgon2Hash(value: string): boolean {
  return /^\$argon2(id|i|d)\$/.test(value);
}

export function isTokenHash(value: string): boolean {
  return value.startsWith(`${TOKEN_HASH_SCHEME}$`);
}

function tokenMac(key: SealingKey, token: string): string {
  const derived = createHmac('sha256', key.bytes).update(TOKEN_HASH_DOMAIN).digest();
  return createHmac('sha256', derived).update(token, 'utf8').digest('base64url');
}

/** HMAC-SHA-256 of a machine-generated token under the ring's current key: `hmac-sha256$<key id>$<mac>`. */
export function hashToken(keys: KeyRing, token: string): string {
  return `${TOKEN_HASH_SCHEME}$${keys.current.id}$${tokenMac(keys.current, token)}`;
}

export interface TokenCheck {
  ok: boolean;
  /**
   * Set when the token matched a hash that should be replaced (a legacy argon2id hash, or an HMAC under the
   * previous sealing key): the current-key HMAC to store with a conditional update on the old value.
   */
  rehash?: string;
}

/**
 * Checks `token` against a stored hash in constant time. Accepts HMAC hashes under any key of the ring and legacy
 * argon2id hashes (then answers `rehash`). Unknown formats and unknown key ids are a plain `{ ok: false }`.
 */
export async function verifyToken(keys: KeyRing, storedHash: string, token: string): Promise<TokenCheck> {
  if (isTokenHash(storedHash)) {
    const [, keyId, mac] = storedHash.split('$');
    const key = keyId ? keys.byId(keyId) : undefined;
    if (!key || !mac) return { ok: false };
    const want = Buffer.from(mac, 'ascii');
    const got = Buffer.from(tokenMac(key, token), 'ascii');
    if (want.length !== got.length || !timingSafeEqual(want, got)) return { ok: false };
    return key.id === keys.current.id ? { ok: true } : { ok: true, rehash: hashToken(keys, token) };
  }
  if (isArgon2Hash(storedHash) && (await verifyPassword(storedHash, token))) {
    return { ok: true, rehash: hashToken(keys, token) };
  }
  return { ok: false };
}
