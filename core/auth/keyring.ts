/**
 * The install's sealing keys: the current key (everything new is sealed or encrypted under it) and, during a
 * rotation, the previous one (still opens what it sealed). Keys come from outside the database
 * (EASYENCLAVE_SEALING_KEY[_PREVIOUS] or a key file, bin/lib/sealing-key.ts), so a dump of the database alone
 * opens nothing. Each key has a short public id (a hash of the key) that sealed values and encrypted Temporal
 * payloads carry, so decryption picks the right key without trying them all.
 */
import { createHash, randomBytes } from 'node:crypto';

export interface SealingKey {
  /** First 8 bytes of SHA-256("easyenclave-key-id" | key), base64url: names the key without revealing it. */
  readonly id: string;
  /** The 32 key bytes. */
  readonly bytes: Buffer;
  /** The key as configured (base64url); some derivations (OAuth state HMAC) key on this text. */
  readonly text: string;
}

export interface KeyRing {
  readonly current: SealingKey;
  readonly previous: SealingKey | null;
  byId(id: string): SealingKey | undefined;
  /** Current first, then previous. */
  readonly all: readonly SealingKey[];
}

export class InvalidSealingKeyError extends Error {
  constructor(what: string) {
    super(
      `${what} must be 32 random bytes, base64url-encoded (43 characters); generate one with: openssl rand -base64 32`,
    );
    this.name = 'InvalidSealingKeyError';
  }
}

/** A fresh random key, base64url. */
export function newSealingKey(): string {
  return randomBytes(32).toString('base64url');
}

export function sealingKeyId(bytes: Buffer): string {
  return createHash('sha256')
    .update('easyenclave-key-id\0')
    .update(bytes)
    .digest()
    .subarray(0, 8)
    .toString('base64url');
}

/** Parses a configured key (base64url or base64, surrounding whitespace ignored). */
export function parseSealingKey(text: string, what = 'sealing key'): SealingKey {
  const t = text.trim();
  if (!/^[A-Za-z0-9_+/-]{43}={0,1}$/.test(t)) throw new InvalidSealingKeyError(what);
  const bytes = Buffer.from(t.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''), 'base64url');
  if (bytes.length !== 32) throw new InvalidSealingKeyError(what);
  return { id: sealingKeyId(bytes), bytes, text: t };
}

export function keyRing(current: string | SealingKey, previous?: string | SealingKey | null): KeyRing {
  const cur = typeof current === 'string' ? parseSealingKey(current) : current;
  const prevKey =
    previous == null
      ? null
      : typeof previous === 'string'
        ? parseSealingKey(previous, 'previous sealing key')
        : previous;
  const prev = prevKey && prevKey.id !== cur.id ? prevKey : null;
  const all = prev ? [cur, prev] : [cur];
  return {
    current: cur,
    previous: prev,
    all,
    byId: (id) => all.find((k) => k.id === id),
  };
}

/** A ring with one fresh random key (tests, benchmarks). */
export function randomKeyRing(): KeyRing {
  return keyRing(newSealingKey());
}
