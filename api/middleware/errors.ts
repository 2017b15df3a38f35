/**
 * First middleware: every failure leaves as `{ "detail": … }` with the right status.
 * Temporal being unreachable answers 503 (api/temporal-availability.ts). Unexpected errors are logged with their stack and answered 500 without one.
 */
import type { Middleware } from 'koa';
import { HttpError } from '../http/errors';
import type { Logger } from '../../core/logger';
import { temporalUnavailableError } from '../temporal-availability';

export function errorMiddleware(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        ctx.status = 404;
        ctx.body = { detail: 'Not Found' };
      } else if (
        (ctx.status === 405 || ctx.status === 501) &&
        (ctx.body === undefined || typeof ctx.body === 'string')
      ) {
        // The router answers 501 for methods it does not know at all (TRACE, …): to a client that is the same as a
        // method this path does not allow, so both are 405 with the router's Allow header and a JSON body.
        ctx.status = 405;
        ctx.body = { detail: 'Method Not Allowed' };
      }
    } catch (err) {
      if (err instanceof HttpError) {
        ctx.status = err.status;
        ctx.set(err.headers);
        ctx.body = { detail: err.detail };
        return;
      }
      const status = (err as { status?: number; expose?: boolean }).status;
      if (typeof status === 'number' && status >= 400 && status < 500 && (err as { expose?: boolean }).expose) {
        ctx.status = status;
        ctx.body = { detail: (err as Error).message };
        return;
      }
      const unavailable = temporalUnavailableError(err);
      if (unavailable) {
        logger.warn(`${ctx.method} ${ctx.path}: Temporal unreachable (${(err as Error)?.message ?? String(err)})`);
        ctx.status = unavailable.status;
        ctx.body = { detail: unavailable.detail };
        return;
      }
      logger.error(`${ctx.method} ${ctx.path} failed: ${(err as Error)?.stack ?? String(err)}`);
      ctx.status = 500;
      ctx.body = { detail: 'Internal Server Error' };
    }
  };
}
