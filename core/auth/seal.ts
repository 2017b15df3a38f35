/**
 * Field sealing of secret values stored in the database (agent control secrets, …) and, for now, of a few
 * values that also cross Temporal: AES-256-GCM under the key ring's current key (core/auth/keyring.ts).
 *
 * Format: `<key id>.<base64url(iv | tag | ciphertext)>`. Values sealed before key ids existed are the bare
 * base64url part; they are opened by trying each key of the ring (the GCM tag tells the right one).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { KeyRing, SealingKey } from './keyring';

export { newSealingKey } from './keyring';

export interface Sealed {
  sealed: string;
}

export class UnsealError extends Error {
  constructor(detail: string) {
    super(`cannot unseal value: ${detail}`);
    this.name = 'UnsealError';
  }
}

export function seal(keys: KeyRing, plaintext: string): Sealed {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keys.current.bytes, iv);
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return { sealed: `${keys.current.id}.${Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64url')}` };
}

function open(key: SealingKey, buf: Buffer): string {
  const decipher = createDecipheriv('aes-256-gcm', key.bytes, buf.subarray(0, 12));
  decipher.setAuthTag(buf.subarray(12, 28));
  return Buffer.concat([decipher.update(buf.subarray(28)), decipher.final()]).toString('utf8');
}

export function unseal(keys: KeyRing, value: Sealed): string {
  const dot = value.sealed.indexOf('.');
  if (dot >= 0) {
    const key = keys.byId(value.sealed.slice(0, dot));
    if (!key) throw new UnsealError(`sealed under unknown key ${value.sealed.slice(0, dot)}`);
    try {
      return open(key, Buffer.from(value.sealed.slice(dot + 1), 'base64url'));
    } catch {
      throw new UnsealError('authentication failed');
    }
  }
  const buf = Buffer.from(value.sealed, 'base64url');
  for (const key of keys.all) {
    try {
      return open(key, buf);
    } catch {
      // not this key
    }
  }
  throw new UnsealError('no key of the ring opens it');
}
