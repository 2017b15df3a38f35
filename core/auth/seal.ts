/**
 * Sealing of secret values that must travel through Temporal (e.g. a secret setting on
 * its way to the DB): AES-256-GCM under the install's sealing key, so workflow history
 * and the Web UI only ever show ciphertext.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export interface Sealed {
  sealed: string; // base64url(iv | tag | ciphertext)
}

export function newSealingKey(): string {
  return randomBytes(32).toString('base64url');
}

function keyBytes(key: string): Buffer {
  const k = Buffer.from(key, 'base64url');
  if (k.length !== 32) throw new Error('sealing key must be 32 bytes (base64url)');
  return k;
}

export function seal(key: string, plaintext: string): Sealed {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyBytes(key), iv);
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return { sealed: Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64url') };
}

export function unseal(key: string, value: Sealed): string {
  const buf = Buffer.from(value.sealed, 'base64url');
  const decipher = createDecipheriv('aes-256-gcm', keyBytes(key), buf.subarray(0, 12));
  decipher.setAuthTag(buf.subarray(12, 28));
  return Buffer.concat([decipher.update(buf.subarray(28)), decipher.final()]).toString('utf8');
}
