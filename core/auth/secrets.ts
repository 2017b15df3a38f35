/**
 * Hashing and token minting for every credential the platform issues (admin sessions,
 * API keys, agent secrets, bootstrap tokens): argon2id hashes, looked up by a short
 * prefix, shown in clear exactly once.
 */
import { hash, verify } from '@node-rs/argon2';
import { randomBytes } from 'node:crypto';

/** Characters of a token kept in clear for indexed lookup. */
export const TOKEN_PREFIX_LENGTH = 12;

export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

export function tokenPrefix(token: string): string {
  return token.slice(0, TOKEN_PREFIX_LENGTH);
}

export async function hashSecret(secret: string): Promise<string> {
  return hash(secret, { algorithm: 2 /* Argon2id */ });
}

/** Constant-time verification; false (never a throw) for malformed hashes. */
export async function verifySecret(storedHash: string, secret: string): Promise<boolean> {
  try {
    return await verify(storedHash, secret);
  } catch {
    return false;
  }
}

export function isArgon2Hash(value: string): boolean {
  return /^\$argon2(id|i|d)\$/.test(value);
}
