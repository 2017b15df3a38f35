/**
 * Every request gets an id: the caller's `X-Request-Id` when it is a sane token (a proxy's), else a fresh UUID. It is
 * answered in `X-Request-Id` and carried by every log line written while the request runs (core/logger.ts).
 */
import type { Middleware } from 'koa';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../core/logger';

declare module 'koa' {
  interface DefaultState {
    requestId?: string;
  }
}

const SANE = /^[A-Za-z0-9._:-]{1,128}$/;

/** The id of a request: its `X-Request-Id` header when a sane token, else a fresh UUID (also the front-of-Koa listeners'). */
export function requestIdOf(given: string | string[] | undefined): string {
  const trimmed = typeof given === 'string' ? given.trim() : '';
  return SANE.test(trimmed) ? trimmed : randomUUID();
}

export function requestIdMiddleware(logger: Logger): Middleware {
  return async (ctx, next) => {
    const id = requestIdOf(ctx.get('x-request-id'));
    ctx.state.requestId = id;
    ctx.set('X-Request-Id', id);
    await logger.buffer.withContext({ request_id: id }, next);
  };
}
