/**
 * Launch-order bootstrap tokens: 32 random bytes (43 base64url characters), shown in clear once (the claim answer, or
 * the VM's cloud-init), stored as HMAC-SHA-256 under a key derived from the install's sealing key. The HMAC is
 * deterministic, so the indexed `bootstrap_token_hash` column finds the order without a prefix, and a leaked database
 * does not reveal tokens.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { KeyRing } from './keyring';

export function mintBootstrapToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Keyed on the ring's CURRENT key: tokens are short-lived (a claim lease), so a rotation only voids those in flight. */
export function bootstrapTokenHash(keys: KeyRing, token: string): string {
  const key = createHmac('sha256', keys.current.bytes).update('easyenclave:bootstrap-token').digest();
  return createHmac('sha256', key).update(token.trim()).digest('hex');
}

const URL_NAMESPACE = '6ba7b811-9dad-11d1-80b4-00c04fd430c8';

/** RFC 4122 UUIDv5 (SHA-1) of `name` in the URL namespace: GCP `requestId` of an order's insert. */
export function uuidV5(name: string, namespace = URL_NAMESPACE): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  const h = createHash('sha1')
    .update(Buffer.concat([ns, Buffer.from(name, 'utf8')]))
    .digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
