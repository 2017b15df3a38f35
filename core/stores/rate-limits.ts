/**
 * Fixed-window rate-limit counters (table `rate_limits`), shared by every API replica. Each step is one
 * conditional statement, so concurrent requests on any number of replicas never count past the limit: the
 * increment only matches while `count < limit` in the current window, and a stale window is reset by an
 * update that only matches while the stored window is older.
 */
import type { Knex } from 'knex';

type Db = Knex | Knex.Transaction;

export interface RateWindow {
  /** Requests allowed per window. */
  limit: number;
  windowMs: number;
}

export type ConsumeResult = { allowed: true } | { allowed: false; retryAfterMs: number };

const windowStartOf = (nowMs: number, windowMs: number) => Math.floor(nowMs / windowMs) * windowMs;

/** Counts one request against `key`; refused requests are not counted. */
export async function consumeRate(db: Db, key: string, w: RateWindow, nowMs: number): Promise<ConsumeResult> {
  const start = windowStartOf(nowMs, w.windowMs);
  const refused = { allowed: false as const, retryAfterMs: start + w.windowMs - nowMs };
  if (w.limit <= 0) return refused;
  // Three tries cover the races: a concurrent insert of the first row, a concurrent window reset.
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const counted = await db('rate_limits')
      .where({ key, window_start_ms: start })
      .andWhere('count', '<', w.limit)
      .increment('count', 1);
    if (counted > 0) return { allowed: true };
    const reset = await db('rate_limits')
      .where({ key })
      .andWhere('window_start_ms', '<', start)
      .update({ window_start_ms: start, count: 1 });
    if (reset > 0) return { allowed: true };
    const row = await db('rate_limits').where({ key }).first<{ window_start_ms: number | string } | undefined>();
    if (row && Number(row.window_start_ms) >= start) return refused;
    await db('rate_limits').insert({ key, window_start_ms: start, count: 0 }).onConflict('key').ignore();
  }
  throw new Error(`rate limit ${key}: could not count the request`);
}

/** Gives back one counted request (a successful login does not count against the failed-login limit). */
export async function refundRate(db: Db, key: string, w: RateWindow, nowMs: number): Promise<void> {
  await db('rate_limits')
    .where({ key, window_start_ms: windowStartOf(nowMs, w.windowMs) })
    .andWhere('count', '>', 0)
    .decrement('count', 1);
}

/** The count of `key` in the current window (tests and diagnostics). */
export async function rateCount(db: Db, key: string, w: RateWindow, nowMs: number): Promise<number> {
  const row = await db('rate_limits')
    .where({ key, window_start_ms: windowStartOf(nowMs, w.windowMs) })
    .first<{ count: number } | undefined>();
  return row ? Number(row.count) : 0;
}

/** Deletes counters whose window began before `beforeMs` (housekeeping). */
export async function purgeRateLimits(db: Db, beforeMs: number): Promise<number> {
  return db('rate_limits').where('window_start_ms', '<', beforeMs).delete();
}
