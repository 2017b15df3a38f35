/**
 * Resolves the client address once per request (api/http/client-ip.ts) and stores it as `ctx.ip`, so every
 * reader — rate limits, session records, log lines — sees the same answer. Koa's own `proxy` mode is off: it
 * would believe X-Forwarded-For from anyone.
 */
import type { Middleware } from 'koa';
import type { SettingsReader } from '../../core/settings/types';
import { clientIpResolver } from '../http/client-ip';

export const TRUSTED_PROXIES_SETTING = 'api.trusted_proxies';

export function clientIpMiddleware(settings: SettingsReader): Middleware {
  const resolve = clientIpResolver();
  return async (ctx, next) => {
    const raw = await settings.get(TRUSTED_PROXIES_SETTING);
    ctx.request.ip = resolve(raw, ctx.req.socket.remoteAddress ?? '', ctx.get('x-forwarded-for') || undefined);
    return next();
  };
}
