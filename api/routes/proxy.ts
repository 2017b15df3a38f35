/**
 * Service proxy (api.md §13, SEED "Proxy & Logs"): `ANY /proxy/{service}/{path…}` forwards the request — method,
 * query, headers (minus hop-by-hop and credentials), body — to the agent serving `service` in the services
 * registry, and streams the answer back. The target is always that registered agent's base URL (its tunnel
 * hostname, or `operational.agent_direct_url`): never a host taken from the request. Redirects are passed back,
 * not followed. Unknown service 404, agent down 502, no answer in `operational.proxy_timeout_seconds` 504.
 *
 * Served by a middleware ahead of the router: the body must not be buffered or parsed (api/middleware/body.ts
 * skips /proxy/), and the path is kept percent-encoded as received.
 */
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import { AgentAddressError, agentBaseUrl } from '../../clients/agent-client';
import { toBool, type AgentRow, type ServiceRow } from '../../core/db/tables';
import { HttpError, badRequest, notFound } from '../http/errors';
import { settingInt } from '../../core/settings/read';
import type { AppDeps } from '../deps';
import type { OpenApiRegistry } from '../http/openapi';
import type { Routes } from '../http/route';
import { proxyUrl } from './health';

/** Not forwarded in either direction (RFC 9110 §7.6.1 hop-by-hop, plus credentials meant for the CP). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'trailers',
  'transfer-encoding',
  'upgrade',
  'host',
]);
const REQUEST_ONLY_DROP = new Set(['authorization', 'cookie', 'x-agent-secret', 'x-cp-attestation']);
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'];

function filterHeaders(h: IncomingHttpHeaders, extraDrop: Set<string>): Record<string, string | string[]> {
  const named = new Set(
    String(h.connection ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) {
    const key = k.toLowerCase();
    if (v === undefined || HOP_BY_HOP.has(key) || named.has(key) || extraDrop.has(key)) continue;
    out[key] = v;
  }
  return out;
}

/** `/proxy/<service>/<rest>` of the raw request target: service decoded, rest kept encoded (see checkProxyPath). */
export function splitProxyTarget(rawUrl: string): { service: string; path: string; search: string } | null {
  let target = rawUrl;
  if (!target.startsWith('/')) {
    // absolute-form request target (`GET http://host/proxy/...`): only its path counts.
    try {
      const u = new URL(target);
      target = u.pathname + u.search;
    } catch {
      return null;
    }
  }
  const q = target.indexOf('?');
  const pathname = q >= 0 ? target.slice(0, q) : target;
  const search = q >= 0 ? target.slice(q) : '';
  const m = /^\/proxy\/([^/]+)(\/.*)?$/.exec(pathname);
  if (!m) return null;
  let service: string;
  try {
    service = decodeURIComponent(m[1]!);
  } catch {
    throw badRequest('Invalid service name');
  }
  const rest = m[2] ?? '/';
  return { service, path: rest, search };
}

/** Each segment of the still-encoded rest: no dot segments, no encoded slashes or backslashes. */
export function checkProxyPath(rest: string): void {
  for (const seg of rest.split('/')) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(seg);
    } catch {
      throw badRequest('Invalid proxy path: bad percent-encoding');
    }
    if (decoded === '.' || decoded === '..' || decoded.includes('/') || decoded.includes('\\')) {
      throw badRequest('Invalid proxy path: dot segments and encoded slashes are not forwarded');
    }
  }
}

async function resolveTarget(deps: AppDeps, service: string): Promise<URL> {
  const svc = (await deps.db<ServiceRow>('services').where({ name: service }).first()) as ServiceRow | undefined;
  if (!svc?.agent_id) throw notFound(`Service not found: ${service}`);
  const agent = (await deps.db<AgentRow>('agents').where({ agent_id: svc.agent_id }).first()) as AgentRow | undefined;
  if (!agent || agent.current_deployment_id !== svc.deployment_id) {
    throw new HttpError(502, `Cannot connect to service: ${service} (its agent is gone)`);
  }
  if (!toBool(agent.attestation_valid) || agent.status === 'attestation_failed') {
    throw new HttpError(503, `Service '${service}' attestation failed - service unavailable`);
  }
  try {
    return new URL(
      agentBaseUrl({
        agentId: agent.agent_id,
        hostname: agent.hostname,
        directUrlTemplate: await deps.settings.get('operational.agent_direct_url'),
      }),
    );
  } catch (err) {
    if (err instanceof AgentAddressError) throw new HttpError(502, `Cannot connect to service: ${service}`);
    throw err;
  }
}

function forward(ctx: Context, url: URL, timeoutMs: number, service: string): Promise<IncomingMessage> {
  const headers = filterHeaders(ctx.req.headers, REQUEST_ONLY_DROP);
  const prior = ctx.get('x-forwarded-for');
  headers['x-forwarded-for'] = prior ? `${prior}, ${ctx.ip || 'unknown'}` : ctx.ip || 'unknown';
  headers['x-forwarded-proto'] = ctx.protocol;
  headers['x-forwarded-host'] = ctx.host;
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, { method: ctx.method, headers });
    const timer = setTimeout(() => {
      req.destroy(new HttpError(504, `Service timeout: ${service}`));
    }, timeoutMs);
    req.on('response', (res) => {
      clearTimeout(timer);
      resolve(res);
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err instanceof HttpError ? err : new HttpError(502, `Cannot connect to service: ${service}`));
    });
    // The client going away aborts the upstream call too.
    ctx.req.on('aborted', () => req.destroy());
    ctx.req.pipe(req);
  });
}

export function proxyMiddleware(deps: AppDeps, registry: OpenApiRegistry): Middleware {
  for (const method of ['get', 'post', 'put', 'patch', 'delete'] as const) {
    registry.add({
      method,
      path: '/proxy/:service/:path',
      summary: 'Forward to a registered service through its agent (also HEAD and OPTIONS); the answer is streamed',
      tag: 'proxy',
      auth: 'none',
      params: z.object({ service: z.string(), path: z.string().describe('May contain slashes') }),
      responses: {
        200: { description: "The service's answer (any status)" },
        400: { description: 'Dot segments or encoded slashes in the path (checked once the service is found)' },
        404: { description: 'Service not found' },
        502: { description: 'Agent down / unreachable' },
        504: { description: 'Service timeout' },
      },
    });
  }
  return async (ctx, next) => {
    if (!ctx.path.startsWith('/proxy/')) return next();
    const target = splitProxyTarget(ctx.req.url ?? ctx.originalUrl);
    if (!target) throw notFound('Not Found');
    if (!METHODS.includes(ctx.method)) {
      throw new HttpError(405, 'Method Not Allowed', { Allow: METHODS.join(', ') });
    }
    const base = await resolveTarget(deps, target.service);
    checkProxyPath(target.path);
    const url = new URL(base.href);
    url.pathname = `${base.pathname.replace(/\/+$/, '')}${target.path}`;
    url.search = target.search;
    const timeoutMs = Math.max(1, await settingInt(deps.settings, 'operational.proxy_timeout_seconds')) * 1000;
    const res = await forward(ctx, url, timeoutMs, target.service);
    ctx.status = res.statusCode ?? 502;
    for (const [k, v] of Object.entries(filterHeaders(res.headers, new Set()))) ctx.set(k, v);
    // Koa must not re-encode or guess: the upstream body goes out as it came.
    ctx.body = res;
  };
}

export function proxyInfoRoutes(routes: Routes, deps: AppDeps): void {
  routes.add(
    {
      method: 'get',
      path: '/api/v1/proxy',
      summary: 'Where to send service traffic',
      tag: 'proxy',
      auth: 'none',
      responses: {
        200: {
          description: 'Proxy endpoint info',
          schema: z.object({ proxy_url: z.string(), proxies: z.array(z.string()), note: z.string() }),
        },
      },
    },
    async () => {
      const url = await proxyUrl(deps);
      return { proxy_url: url, proxies: [url], note: 'Route service requests through /proxy/{service_name}/{path}' };
    },
  );
}
