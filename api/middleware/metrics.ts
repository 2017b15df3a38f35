/**
 * Prometheus at GET /metrics, and the request-latency histogram every other request feeds.
 *
 * /metrics is not public: it answers an admin session, or `Authorization: Bearer <METRICS_TOKEN>` when the process
 * has one (what a Prometheus scrape config sets; compared in constant time). Anyone else gets the usual JSON 401.
 * It is served outside the router, so it is no part of the API contract (/openapi.json).
 */
import type { Context, Middleware } from 'koa';
import { timingSafeEqual, createHash } from 'node:crypto';
import { unauthorized } from '../http/errors';
import type { Metrics } from '../../core/metrics';
import type { AppDeps } from '../deps';
import type { Guard } from '../http/route';

const REGISTER_ROUTE = '/api/v1/agents/register';

/** Latency by route template (@koa/router's matched path; `unmatched` for 404s, so raw paths never become labels). */
export function requestMetricsMiddleware(metrics: Metrics): Middleware {
  return async (ctx, next) => {
    const end = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const seconds = Number(process.hrtime.bigint() - end) / 1e9;
      const route = (ctx as Context & { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
      const status = String(ctx.status);
      metrics.httpDuration.observe({ method: ctx.method, route: String(route), status }, seconds);
      if (route === REGISTER_ROUTE && ctx.method === 'POST') metrics.registrationDuration.observe({ status }, seconds);
    }
  };
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export function metricsEndpointMiddleware(deps: AppDeps, metrics: Metrics, adminGuard: Guard): Middleware {
  const token = deps.config.observability.metricsToken;
  return async (ctx, next) => {
    if (ctx.path !== '/metrics') return next();
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.set('Allow', 'GET, HEAD');
      ctx.status = 405;
      ctx.body = { detail: 'Method Not Allowed' };
      return;
    }
    const header = ctx.get('authorization').trim();
    const given = /^bearer /i.test(header) ? header.slice(7).trim() : '';
    // Digests first: equal lengths for timingSafeEqual, and no early exit on a length mismatch.
    const byToken = token !== null && given !== '' && timingSafeEqual(digest(given), digest(token));
    if (!byToken) {
      if (given === '') throw unauthorized('Missing Authorization bearer token (admin session or METRICS_TOKEN)');
      await adminGuard(ctx);
    }
    ctx.set('Content-Type', metrics.registry.contentType);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await metrics.registry.metrics();
  };
}
