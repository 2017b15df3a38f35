/**
 * CORS for the codec endpoints (api/routes/codec.ts): the Temporal Web UI calls them from its own origin
 * (`api.codec_cors_origins`, default the embedded UI on :8233) with `Authorization`, `Content-Type` and
 * `X-Namespace`. Preflights are answered here, before authentication; the actual request still needs an
 * admin session.
 */
import type { Middleware } from 'koa';
import { parseSet } from '../../core/settings/parse';
import type { SettingsReader } from '../../core/settings/types';

export function codecCorsMiddleware(settings: SettingsReader): Middleware {
  return async (ctx, next) => {
    if (!ctx.path.startsWith('/codec/')) return next();
    const origin = ctx.get('origin');
    if (!origin || !parseSet(await settings.get('api.codec_cors_origins')).has(origin)) return next();
    ctx.set('Access-Control-Allow-Origin', origin);
    ctx.set('Access-Control-Allow-Credentials', 'true');
    ctx.vary('Origin');
    if (ctx.method === 'OPTIONS' && ctx.get('access-control-request-method')) {
      ctx.set('Access-Control-Allow-Methods', 'POST,OPTIONS');
      ctx.set('Access-Control-Allow-Headers', 'authorization,content-type,x-namespace');
      ctx.set('Access-Control-Max-Age', '600');
      ctx.status = 204;
      return;
    }
    return next();
  };
}
