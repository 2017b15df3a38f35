/**
 * Database failures that say nothing about the data: the database was busy, locked, unreachable or chose this
 * transaction as a deadlock/serialization victim. Retrying the same work later succeeds, so callers that would
 * otherwise record a per-row failure (e.g. billing's "could not charge this deployment") rethrow these instead and
 * let the activity retry. Decided by the driver's error code or class, never by message text.
 */
import knex from 'knex';

/** better-sqlite3 result codes (extended codes start with these). */
const SQLITE_TRANSIENT = ['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_IOERR', 'SQLITE_PROTOCOL'];
/** PostgreSQL SQLSTATEs: serialization failure, deadlock, connection exceptions, shutdown, too many connections. */
const PG_TRANSIENT = new Set([
  '40001',
  '40P01',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  '57P01',
  '57P02',
  '57P03',
  '53300',
]);
/** Node socket errors of a dropped database connection. */
const SOCKET_TRANSIENT = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT']);

export function isTransientDbError(err: unknown): boolean {
  if (err instanceof knex.KnexTimeoutError) return true;
  if (!err || typeof err !== 'object') return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') return false;
  return (
    SQLITE_TRANSIENT.some((c) => code === c || code.startsWith(`${c}_`)) ||
    PG_TRANSIENT.has(code) ||
    SOCKET_TRANSIENT.has(code)
  );
}
