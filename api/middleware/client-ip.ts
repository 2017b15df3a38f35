/**
 * Resolves the client address once per request (api/http/client-ip.ts) and stores it as `ctx.ip`, so every
 * reader — rate limits, session records, log lines — sees the same answer. Koa's own `proxy` mode is off: it
 * would believe X-Forwarded-For from anyone.
 */
import type { Middleware } from 'koa';
import type { SettingsReader } from '../../core/settings/types';
import { parseTrustedProxies, resolveClientIp } from '../http/client-ip';

export const TRUSTED_PROXIES_SETTING = 'api.trusted_proxies';

export function clientIpMiddleware(settings: SettingsReader): Middleware {
  // The parsed list of the last setting value seen (settings are cached, so the raw string repeats): parsing CIDRs
  // is not paid per request. Per app, not module state.
  let parsed: { raw: string; proxies: ReturnType<typeof parseTrustedProxies>['proxies'] } | null = null;
  return async (ctx, next) => {
    const raw = await settings.get(TRUSTED_PROXIES_SETTING);
    if (!parsed || parsed.raw !== raw) parsed = { raw, proxies: parseTrustedProxies(raw).proxies };
    const { proxies } = parsed;
    ctx.request.ip = resolveClientIp(
      ctx.req.socket.remoteAddress ?? '',
      ctx.get('x-forwarded-for') || undefined,
      proxies,
    );
    return next();
  };
}
