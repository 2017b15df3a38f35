/**
 * Rate limits over the shared `rate_limits` table (core/stores/rate-limits.ts), so every replica counts
 * against the same window. Refusals are `429 { detail }` with `Retry-After` (seconds until the window ends)
 * and happen before authentication, validation or any write. `ratelimit.enabled=false` lifts every limit.
 */
import type { Context } from 'koa';
import type { Knex } from 'knex';
import { HttpError } from '../http/errors';
import { parseRate, retryAfterSeconds, type RateLimitSetting } from '../../core/rate-limit';
import { settingBool } from '../../core/settings/read';
import { findSetting } from '../../core/settings/registry';
import type { SettingsReader } from '../../core/settings/types';
import { consumeRate, refundRate, type RateWindow } from '../../core/stores/rate-limits';

export interface RateLimiterDeps {
  db: Knex;
  settings: SettingsReader;
  now: () => Date;
}

/** One counted request, which the caller may give back (`refund`) when it should not count after all. */
export interface RateTicket {
  refund(): Promise<void>;
}

export class RateLimitedError extends HttpError {
  constructor(detail: string, retryAfter: number) {
    super(429, detail, { 'Retry-After': String(retryAfter) });
    this.name = 'RateLimitedError';
  }
}

export interface RateLimiter {
  /** Counts one request of `subject` (an IP, an account) against the limit in `setting`; throws 429 when over it. */
  consume(setting: RateLimitSetting, subject: string): Promise<RateTicket>;
  /** The per-client-IP limit of a route, keyed on `ctx.ip` (resolved by api/middleware/client-ip.ts). */
  perIp(setting: RateLimitSetting, ctx: Context): Promise<RateTicket>;
}

const NO_TICKET: RateTicket = { refund: async () => {} };

/** `settings` replaces `deps.settings` (an app's snapshot, core/settings/snapshot.ts); both are read lazily. */
export function createRateLimiter(deps: RateLimiterDeps, settings?: SettingsReader): RateLimiter {
  const reader = (): SettingsReader => settings ?? deps.settings;
  const windowOf = async (setting: RateLimitSetting): Promise<RateWindow> => {
    const parsed = parseRate(await reader().get(setting));
    if (parsed) return parsed;
    const fallback = parseRate(findSetting(setting)?.default ?? '');
    if (!fallback) throw new Error(`rate limit ${setting} has no valid default`);
    return fallback;
  };
  const consume = async (setting: RateLimitSetting, subject: string): Promise<RateTicket> => {
    if (!(await settingBool(reader(), 'ratelimit.enabled'))) return NO_TICKET;
    const w = await windowOf(setting);
    const key = `${setting.replace(/^ratelimit\./, '')}:${subject}`;
    const at = deps.now().getTime();
    const r = await consumeRate(deps.db, key, w, at);
    if (!r.allowed) {
      const wait = retryAfterSeconds(r.retryAfterMs);
      throw new RateLimitedError(`Too many requests; retry in ${wait} s`, wait);
    }
    return { refund: () => refundRate(deps.db, key, w, at) };
  };
  return {
    consume,
    perIp: (setting, ctx) => consume(setting, `ip:${ctx.ip}`),
  };
}
