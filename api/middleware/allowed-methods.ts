/**
 * After the router: a path that exists but not for this method answers 405 with `Allow` (and OPTIONS answers 204
 * with it), as JSON like every other error. Replaces @koa/router's allowedMethods(), which answers 501 text for
 * methods it does not know (TRACE…) and unions the methods of every route whose pattern matches — so
 * `/api/v1/agents/challenge` advertised DELETE because `/api/v1/agents/:agent_id` matches it too. Literal routes
 * win here: when a route without parameters matches the path, only its methods are allowed.
 */
import type { Middleware } from 'koa';

interface MatchedLayer {
  methods: string[];
  paramNames: unknown[];
  opts?: { end?: boolean };
}

export function allowedMethodsMiddleware(): Middleware {
  return async (ctx, next) => {
    await next();
    const matched = ((ctx as unknown as { matched?: MatchedLayer[] }).matched ?? []).filter(
      (l) => l.methods.length > 0,
    );
    if (matched.length === 0 || ctx.body !== undefined || (ctx.status !== 404 && ctx.status !== 405)) return;
    const literal = matched.filter((l) => l.paramNames.length === 0);
    const methods = [...new Set((literal.length > 0 ? literal : matched).flatMap((l) => l.methods))];
    if (methods.includes(ctx.method)) return;
    ctx.set('Allow', [...methods, 'OPTIONS'].join(', '));
    if (ctx.method === 'OPTIONS') {
      ctx.status = 204;
      return;
    }
    ctx.status = 405;
    ctx.body = { detail: 'Method Not Allowed' };
  };
}
