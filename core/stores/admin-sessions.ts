/**
 * Admin login sessions (table `admin_sessions`). Tokens are never stored: callers look rows
 * up by the token's short prefix and verify the `token_hash` (HMAC-SHA-256, or a legacy argon2id hash) themselves.
 */
import type { Knex } from 'knex';
import { parseJsonColumn, requireIso, toIso, type AdminSessionRow } from '../db/tables';

export interface AdminSession {
  session_id: string;
  token_hash: string;
  token_prefix: string;
  created_at: string;
  expires_at: string;
  last_used: string;
  ip_address: string | null;
  github_id: number | null;
  github_login: string | null;
  github_email: string | null;
  github_avatar_url: string | null;
  auth_method: string;
  github_orgs: string[];
}

function toSession(row: AdminSessionRow): AdminSession {
  return {
    session_id: row.session_id,
    token_hash: row.token_hash,
    token_prefix: row.token_prefix,
    created_at: requireIso(row.created_at),
    expires_at: requireIso(row.expires_at),
    last_used: requireIso(row.last_used),
    ip_address: row.ip_address,
    github_id: row.github_id,
    github_login: row.github_login,
    github_email: row.github_email,
    github_avatar_url: row.github_avatar_url,
    auth_method: row.auth_method,
    github_orgs: parseJsonColumn<string[]>(row.github_orgs, []),
  };
}

/** Datetimes are written as ISO UTC so they compare correctly as text on SQLite. */
export async function insertSession(db: Knex | Knex.Transaction, s: AdminSession): Promise<void> {
  await db('admin_sessions').insert({
    ...s,
    created_at: toIso(s.created_at),
    expires_at: toIso(s.expires_at),
    last_used: toIso(s.last_used),
    // v1 stores null rather than an empty list.
    github_orgs: s.github_orgs.length > 0 ? JSON.stringify(s.github_orgs) : null,
  });
}

/** Every session whose token starts with `prefix` (prefixes may collide), newest first. */
export async function findSessionsByPrefix(db: Knex | Knex.Transaction, prefix: string): Promise<AdminSession[]> {
  const rows = await db<AdminSessionRow>('admin_sessions')
    .where({ token_prefix: prefix })
    .orderBy([
      { column: 'created_at', order: 'desc' },
      { column: 'session_id', order: 'desc' },
    ]);
  return rows.map(toSession);
}

/** Records a successful authentication; false when the session no longer exists. */
export async function touchSession(db: Knex | Knex.Transaction, id: string, nowIso: string): Promise<boolean> {
  return (
    (await db('admin_sessions')
      .where({ session_id: id })
      .update({ last_used: toIso(nowIso) })) > 0
  );
}

/**
 * Replaces a verified legacy hash with its HMAC form, only while the row still holds `fromHash` (a concurrent
 * logout or migration wins); false otherwise.
 */
export async function rehashSessionToken(
  db: Knex | Knex.Transaction,
  id: string,
  fromHash: string,
  toHash: string,
): Promise<boolean> {
  return (
    (await db('admin_sessions').where({ session_id: id, token_hash: fromHash }).update({ token_hash: toHash })) > 0
  );
}

/** True when a row was removed. */
export async function deleteSession(db: Knex | Knex.Transaction, id: string): Promise<boolean> {
  return (await db('admin_sessions').where({ session_id: id }).delete()) > 0;
}

/** Deletes sessions with expires_at strictly before `nowIso`; returns how many. */
export async function deleteExpiredSessions(db: Knex | Knex.Transaction, nowIso: string): Promise<number> {
  return db('admin_sessions').where('expires_at', '<', toIso(nowIso)).delete();
}
