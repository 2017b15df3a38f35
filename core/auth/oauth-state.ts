/**
 * Stateless, signed OAuth `state` values, so any API replica can check a callback without shared memory
 * (v1 kept states in one process's memory, attestation.md §7.4; ARCHITECTURE.md forbids that for v2).
 *
 * Format: `<nonce>.<expiresAtMs>.<mac>` — nonce = 16 random bytes base64url (22 chars), expiry = decimal epoch ms,
 * mac = base64url(HMAC-SHA256(secret, "ee-oauth-state.v1." + nonce + "." + expiresAtMs [+ "." + binding])).
 * Only URL-safe characters, so it survives the round trip through GitHub untouched.
 *
 * What this does NOT do — the caller must:
 * - enforce one-time use: after `verifyOAuthState` succeeds, insert `nonce` into a DB table with a unique key
 *   (keep the row until `expiresAtMs`, then it may be purged); a duplicate insert means a replayed state → 400
 *   `Invalid or expired state token`. Without this a state is reusable until it expires.
 * - keep `secret` secret and identical on every replica (≥ 32 random bytes recommended); rotating it invalidates
 *   states in flight (at most `ttlMs` of logins).
 * - optionally pass `binding` (e.g. a value also set in an HttpOnly cookie on `/auth/github`) to tie the state to
 *   the browser that started the flow; that is what stops login-CSRF, which a signature alone does not.
 *
 * Uses node:crypto: API-only (never imported by workflows).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const OAUTH_STATE_TTL_MS = 600_000;
const DOMAIN = 'ee-oauth-state.v1';
const NONCE_RE = /^[A-Za-z0-9_-]{22}$/;
const EXP_RE = /^[0-9]{1,16}$/;
const MAC_RE = /^[A-Za-z0-9_-]{43}$/;
/** The shape of a state (what a schema can say about it; the MAC and expiry are checked by verifyOAuthState). */
export const OAUTH_STATE_RE = /^[A-Za-z0-9_-]{22}\.[0-9]{1,16}\.[A-Za-z0-9_-]{43}$/;

export type OAuthStateResult =
  { ok: true; nonce: string; expiresAtMs: number } | { ok: false; reason: 'malformed' | 'signature' | 'expired' };

export interface OAuthStateOptions {
  /** Opaque value the state is bound to (e.g. a browser cookie); must be given again to verify. */
  binding?: string;
}

function mac(secret: string, nonce: string, exp: string, binding: string | undefined): string {
  const h = createHmac('sha256', secret).update(`${DOMAIN}.${nonce}.${exp}`);
  if (binding !== undefined) h.update(`.${binding}`);
  return h.digest('base64url');
}

function requireSecret(secret: string): void {
  if (typeof secret !== 'string' || secret === '') throw new TypeError('OAuth state secret must be a non-empty string');
}

/** A fresh state valid until `nowMs + ttlMs`. Throws `TypeError` on an empty secret or a bad ttl. */
export function createOAuthState(
  secret: string,
  nowMs: number,
  ttlMs: number = OAUTH_STATE_TTL_MS,
  options: OAuthStateOptions = {},
): string {
  requireSecret(secret);
  if (!Number.isFinite(nowMs) || !Number.isFinite(ttlMs) || ttlMs <= 0) throw new TypeError('invalid nowMs/ttlMs');
  const nonce = randomBytes(16).toString('base64url');
  const exp = String(Math.floor(nowMs + ttlMs));
  return `${nonce}.${exp}.${mac(secret, nonce, exp, options.binding)}`;
}

/**
 * Check signature and expiry (valid while `nowMs < expiresAtMs`). Does not consume the state — see the file header.
 * Throws `TypeError` only on an empty secret (a configuration error, not a bad request).
 */
export function verifyOAuthState(
  secret: string,
  state: string,
  nowMs: number,
  options: OAuthStateOptions = {},
): OAuthStateResult {
  requireSecret(secret);
  if (typeof state !== 'string' || state.length > 128) return { ok: false, reason: 'malformed' };
  const parts = state.split('.');
  if (parts.length !== 3) return { ok: false, reason: 'malformed' };
  const [nonce, exp, sig] = parts as [string, string, string];
  if (!NONCE_RE.test(nonce) || !EXP_RE.test(exp) || !MAC_RE.test(sig)) return { ok: false, reason: 'malformed' };
  // Compare the base64url text, not decoded bytes: decoding ignores the spare bits of the last char, so several
  // strings would otherwise pass for one MAC.
  const expected = Buffer.from(mac(secret, nonce, exp, options.binding), 'ascii');
  const given = Buffer.from(sig, 'ascii');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'signature' };
  const expiresAtMs = Number(exp);
  if (!(nowMs < expiresAtMs)) return { ok: false, reason: 'expired' };
  return { ok: true, nonce, expiresAtMs };
}
