/**
 * The API's rate limits: which setting holds each one and how a value like `5/15m` (5 requests per 15
 * minutes) is read. Pure; the counters live in the database (core/stores/rate-limits.ts).
 */
import { HOUR_MS } from './time';
import type { RateWindow } from './stores/rate-limits';

/** Every limit, by the setting that configures it. */
export const RATE_LIMITS = {
  adminLoginPerIp: 'ratelimit.admin_login_per_ip',
  adminLoginPerAccount: 'ratelimit.admin_login_per_account',
  accountCreate: 'ratelimit.account_create_per_ip',
  agentChallenge: 'ratelimit.agent_challenge_per_ip',
  agentRegister: 'ratelimit.agent_register_per_ip',
} as const;
export type RateLimitSetting = (typeof RATE_LIMITS)[keyof typeof RATE_LIMITS];

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: HOUR_MS };

/** `<count>/<n><s|m|h>` (e.g. `5/15m`, `60/1m`); `null` for anything else. A count of 0 refuses every request. */
export function parseRate(value: string): RateWindow | null {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*([smh])\s*$/i.exec(value);
  if (!m) return null;
  const limit = Number(m[1]);
  const windowMs = Number(m[2]) * UNIT_MS[m[3]!.toLowerCase()]!;
  if (!Number.isSafeInteger(limit) || windowMs <= 0 || !Number.isSafeInteger(windowMs)) return null;
  return { limit, windowMs };
}

/** The `Retry-After` header value: whole seconds, at least 1. */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}
