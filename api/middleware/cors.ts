import type { Middleware } from 'koa';

export const CORS_ORIGINS = [
  'https://easyenclave.com',
  'https://www.easyenclave.com',
  'http://localhost:8080',
  'http://127.0.0.1:8080',
];

/** v1's CORS policy: fixed origins, credentials, all methods and headers. */
export function corsMiddleware(origins: readonly string[] = CORS_ORIGINS): Middleware {
  return async (ctx, next) => {
    const origin = ctx.get('origin');
    if (origin && origins.includes(origin)) {
      ctx.set('Access-Control-Allow-Origin', origin);
      ctx.set('Access-Control-Allow-Credentials', 'true');
      ctx.vary('Origin');
      if (ctx.method === 'OPTIONS' && ctx.get('access-control-request-method')) {
        ctx.set('Access-Control-Allow-Methods', 'GET,HEAD,PUT,POST,DELETE,PATCH,OPTIONS');
        ctx.set('Access-Control-Allow-Headers', ctx.get('access-control-request-headers') || '*');
        ctx.status = 204;
        return;
      }
    }
    await next();
  };
}
