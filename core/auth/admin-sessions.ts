/**
 * Admin/GitHub sessions: 24 h bearer tokens (32 random bytes, base64url), stored as HMAC-SHA-256 under the
 * install's key (core/auth/secrets.ts) and looked up by their first 12 characters. Sessions stored as argon2id by
 * earlier releases still work and are rewritten as HMAC on their next successful use.
 */
import { DAY_MS } from '../time';
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import {
  deleteSession,
  findSessionsByPrefix,
  insertSession,
  rehashSessionToken,
  touchSession,
  type AdminSession,
} from '../stores/admin-sessions';
import type { KeyRing } from './keyring';
import { hashToken, randomToken, tokenPrefix, verifyToken } from './secrets';
import type { VerifiedTokenCache } from './token-cache';

export const SESSION_TTL_MS = DAY_MS;
const LAST_USED_RESOLUTION_MS = 60_000;

export interface NewSession {
  authMethod: 'password' | 'github_oauth';
  ipAddress?: string | null;
  github?: { id: number | null; login: string; email: string | null; avatarUrl: string | null; orgs: string[] };
}

export async function createAdminSession(
  db: Knex,
  keys: KeyRing,
  input: NewSession,
  now: Date,
): Promise<{ token: string; session: AdminSession }> {
  const token = randomToken(32);
  const session: AdminSession = {
    session_id: randomUUID(),
    token_hash: hashToken(keys, token),
    token_prefix: tokenPrefix(token),
    created_at: now.toISOString(),
    expires_at: new Date(now.getTime() + SESSION_TTL_MS).toISOString(),
    last_used: now.toISOString(),
    ip_address: input.ipAddress ?? null,
    github_id: input.github?.id ?? null,
    github_login: input.github?.login ?? null,
    github_email: input.github?.email ?? null,
    github_avatar_url: input.github?.avatarUrl ?? null,
    auth_method: input.authMethod,
    github_orgs: input.github?.orgs ?? [],
  };
  await insertSession(db, session);
  return { token, session };
}

export type SessionLookup = { ok: true; session: AdminSession } | { ok: false; detail: string };

/** Resolve a bearer token to its live session; expired sessions are deleted on sight. */
export async function authenticateSession(
  db: Knex,
  keys: KeyRing,
  token: string,
  now: Date,
  cache?: VerifiedTokenCache,
): Promise<SessionLookup> {
  const candidates = await findSessionsByPrefix(db, tokenPrefix(token));
  const cachedId = cache?.get(token, now.getTime());
  for (const s of candidates) {
    if (cachedId !== s.session_id) {
      const check = await verifyToken(keys, s.token_hash, token);
      if (!check.ok) continue;
      if (check.rehash && (await rehashSessionToken(db, s.session_id, s.token_hash, check.rehash))) {
        s.token_hash = check.rehash;
      }
    }
    if (now.getTime() > Date.parse(s.expires_at)) {
      await deleteSession(db, s.session_id);
      cache?.forgetId(s.session_id);
      return { ok: false, detail: 'Session expired' };
    }
    cache?.set(token, s.session_id, now.getTime());
    // last_used at minute resolution: no DB write on every request of a busy session.
    if (now.getTime() - Date.parse(s.last_used) >= LAST_USED_RESOLUTION_MS) {
      await touchSession(db, s.session_id, now.toISOString());
    }
    return { ok: true, session: s };
  }
  return { ok: false, detail: 'Invalid session token' };
}

/** Password sessions are admin; GitHub sessions are admin when the login is listed. */
export function isAdminSession(session: AdminSession, adminGithubLogins: readonly string[]): boolean {
  if (session.auth_method === 'password') return true;
  if (session.auth_method === 'github_oauth') {
    return session.github_login !== null && adminGithubLogins.includes(session.github_login);
  }
  return false;
}

/** GitHub login followed by org logins: what agent ownership is matched against. */
export function sessionIdentities(session: AdminSession): string[] {
  return [...(session.github_login ? [session.github_login] : []), ...session.github_orgs];
}
