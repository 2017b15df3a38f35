/**
 * One server span per request (OpenTelemetry, only when tracing is on), active while the handler runs, so the
 * Temporal client interceptor's start span — and through its headers the workflow and activity spans — join the
 * request's trace. Named by route template, never the raw path.
 */
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Context, Middleware } from 'koa';
import type { Tracing } from '../../core/tracing';

export function tracingMiddleware(tracing: Tracing): Middleware {
  return async (ctx, next) => {
    const span = tracing.tracer.startSpan(`${ctx.method} ${ctx.path}`, {
      kind: SpanKind.SERVER,
      attributes: { 'http.request.method': ctx.method, 'url.path': ctx.path },
    });
    try {
      await context.with(trace.setSpan(context.active(), span), next);
    } finally {
      const route = (ctx as Context & { _matchedRoute?: string })._matchedRoute;
      if (route) {
        span.updateName(`${ctx.method} ${String(route)}`);
        span.setAttribute('http.route', String(route));
      }
      span.setAttribute('http.response.status_code', ctx.status);
      if (ctx.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
  };
}
