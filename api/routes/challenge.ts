/**
 * GET /api/v1/agents/challenge (api.md §2, attestation.md §2): a one-time nonce for a vm_name, stored in the
 * database (core/stores/nonces.ts: one upsert) so any replica can issue it and any worker can check it.
 *
 * It is the hottest write of the API (every VM boot asks for one, and it is unauthenticated), so besides its Koa
 * route — which declares it in /openapi.json and still answers it under tracing, for HEAD and through
 * `app.callback()` — it is answered in front of Koa by `challengeListener` (as /health is): the same steps in the
 * same order (per-IP rate limit → query validation → upsert), the same answers and headers, the same request id and
 * latency histogram, without a Koa context, the middleware chain or the router, and with its settings read from the
 * app's one-second snapshot (core/settings/snapshot.ts) instead of a promise per key.
 */
import { randomFillSync } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { z } from 'zod';
import type { Logger } from '../../core/logger';
import type { Metrics } from '../../core/metrics';
import { RATE_LIMITS } from '../../core/rate-limit';
import { parseBool, parseIntStrict } from '../../core/settings/parse';
import { SETTING_REGISTRY } from '../../core/settings/registry';
import type { SettingsSnapshot } from '../../core/settings/snapshot';
import { nonceIssuer, type NonceIssuer } from '../../core/stores/nonces';
import { clientIpResolver } from '../http/client-ip';
import { HttpError } from '../http/errors';
import { issuesOf, type Routes } from '../http/route';
import type { RateLimiter } from '../middleware/rate-limit';
import { requestIdOf } from '../middleware/request-id';
import { TRUSTED_PROXIES_SETTING } from '../middleware/client-ip';
import type { AppDeps } from '../deps';

export const CHALLENGE_PATH = '/api/v1/agents/challenge';

export const ChallengeQuery = z.object({ vm_name: z.string().max(255).regex(/\S/, 'vm_name required') });
const ChallengeResponse = z.object({ nonce: z.string(), ttl_seconds: z.number(), issued_at: z.string() });
export type ChallengeBody = z.infer<typeof ChallengeResponse>;

/** Issues the nonce of a validated vm_name: the one write of the route. */
export type ChallengeIssuer = (vmName: string) => Promise<ChallengeBody>;

const TTL_KEY = 'operational.nonce_ttl_seconds';
const TTL_DEFAULT = parseIntStrict(SETTING_REGISTRY[TTL_KEY].default, 0);
const ENABLED_KEY = 'ratelimit.enabled';
const ENABLED_DEFAULT = parseBool(SETTING_REGISTRY[ENABLED_KEY].default, false);

/**
 * 128-bit nonces cut from a pool of CSPRNG bytes refilled 256 nonces at a time: one `randomFillSync` instead of one
 * `randomBytes` call per request (node's randomUUID pools the same way). No byte is handed out twice.
 */
function nonceSource(): () => string {
  const pool = Buffer.alloc(16 * 256);
  let offset = pool.length;
  return () => {
    if (offset === pool.length) {
      randomFillSync(pool);
      offset = 0;
    }
    offset += 16;
    return pool.toString('hex', offset - 16, offset);
  };
}

/** One per app: its nonce pool and its batched writer (core/stores/nonces.ts nonceIssuer) live in this closure. */
export function challengeIssuer(deps: AppDeps, settings: SettingsSnapshot): ChallengeIssuer {
  const nextNonce = nonceSource();
  let write: NonceIssuer | null = null;
  return async (vmName) => {
    const values = settings.fresh() ?? (await settings.load());
    const ttl = parseIntStrict(values.get(TTL_KEY) ?? '', TTL_DEFAULT);
    const nonce = nextNonce();
    const issued_at = deps.now().toISOString();
    // Built on first use: declaring the routes (openApiDocument's stub deps) reads no database.
    await (write ??= nonceIssuer(deps.db))(vmName, nonce, issued_at);
    return { nonce, ttl_seconds: ttl, issued_at };
  };
}

export function challengeRoutes(routes: Routes, issue: ChallengeIssuer): void {
  routes.add(
    {
      method: 'get',
      path: CHALLENGE_PATH,
      summary: 'Issue a one-time registration nonce for a vm_name (stored in the database, replaces any previous one)',
      tag: 'agents',
      auth: 'none',
      rateLimit: RATE_LIMITS.agentChallenge,
      query: ChallengeQuery,
      responses: {
        200: {
          description:
            'Bind the nonce into the quote REPORTDATA: the hex nonce decoded to bytes, zero-padded to 64 bytes ' +
            '(core/attestation/report-data.ts)',
          schema: ChallengeResponse,
        },
      },
    },
    // Usually answered by challengeListener (api/app.ts createRequestListener) before Koa; the same steps here.
    ({ query }) => issue(query.vm_name),
  );
}

// Koa's own URL and query parsing (ctx.path, ctx.query), so the fast path reads a request exactly as the route does.
const require = createRequire(import.meta.url);
const parseUrl = require('parseurl') as (req: IncomingMessage) => { pathname: string | null; query: string | null };
const parseQuery = (require('koa/lib/search-params') as { parse(s: string): Record<string, unknown> }).parse;

/** `vm_name=<unreserved characters>`: nothing to decode, so Koa's parser would answer `{ vm_name: <the rest> }`. */
const SIMPLE_QUERY = /^vm_name=[\w.~-]*$/;
const JSON_TYPE = 'application/json; charset=utf-8';
const ROUTE_LABEL = { method: 'GET', route: CHALLENGE_PATH };

export interface ChallengeListenerOptions {
  issue: ChallengeIssuer;
  limiter: RateLimiter;
  settings: SettingsSnapshot;
  logger: Logger;
  /** v1's CORS origins (api/middleware/cors.ts): answered with Allow-Origin, Allow-Credentials and Vary. */
  origins: readonly string[];
  metrics?: Metrics;
}

/**
 * GET /api/v1/agents/challenge in the node:http request listener, in front of Koa. Answers true when it took the
 * request; anything else — another path or method (HEAD, OPTIONS and CORS preflights included) — is Koa's. What the
 * Koa stack does for this route, it does too: `X-Request-Id` (the caller's sane one or a fresh UUID, also on every
 * log line), the client IP from `api.trusted_proxies`, RATE_LIMITS.agentChallenge (429 + `Retry-After`, before
 * validation and any write), the 422 validation detail of the declared schema, v1's CORS headers, `{detail}` errors
 * (unexpected ones logged and answered 500), and the request-latency histogram with the route's label.
 */
export function challengeListener(
  opts: ChallengeListenerOptions,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const clientIp = clientIpResolver();
  // One histogram child per status: the label set is hashed once, not per request.
  const observers = new Map<number, { observe(v: number): void }>();
  const observe = (status: number, seconds: number) => {
    if (!opts.metrics) return;
    let o = observers.get(status);
    if (!o) observers.set(status, (o = opts.metrics.httpDuration.labels({ ...ROUTE_LABEL, status: String(status) })));
    o.observe(seconds);
  };

  const send = (
    req: IncomingMessage,
    res: ServerResponse,
    id: string,
    status: number,
    body: unknown,
    extra: Record<string, string> = {},
  ) => {
    // A string, not a Buffer: node writes it in one piece with the head (a Buffer is a second iovec).
    const json = JSON.stringify(body);
    // Koa's order: the request id, CORS, the error's own headers, then the body's type and length.
    const headers: string[] = ['X-Request-Id', id];
    const origin = req.headers.origin;
    if (origin && opts.origins.includes(origin)) {
      headers.push('Access-Control-Allow-Origin', origin, 'Access-Control-Allow-Credentials', 'true', 'Vary', 'Origin');
    }
    for (const [k, v] of Object.entries(extra)) headers.push(k, v);
    headers.push('Content-Type', JSON_TYPE, 'Content-Length', String(Buffer.byteLength(json)));
    res.writeHead(status, headers);
    res.end(json);
  };

  const answer = async (req: IncomingMessage, res: ServerResponse, query: string) => {
    const started = process.hrtime.bigint();
    const id = requestIdOf(req.headers['x-request-id']);
    let status = 200;
    try {
      const values = opts.settings.fresh() ?? (await opts.settings.load());
      const ip = clientIp(
        values.get(TRUSTED_PROXIES_SETTING) ?? '',
        req.socket.remoteAddress ?? '',
        // A string at run time (node joins repeated X-Forwarded-For lines), as Koa's ctx.get reads it.
        (req.headers['x-forwarded-for'] as string | undefined) || undefined,
      );
      // The limiter checks `ratelimit.enabled` itself; asking the snapshot first spares a disabled limit its awaits.
      if (parseBool(values.get(ENABLED_KEY) ?? '', ENABLED_DEFAULT)) {
        await opts.limiter.consume(RATE_LIMITS.agentChallenge, `ip:${ip}`);
      }
      const parsed = ChallengeQuery.safeParse(
        SIMPLE_QUERY.test(query) ? { vm_name: query.slice(8) } : parseQuery(query),
      );
      if (!parsed.success) throw new HttpError(422, issuesOf('query', parsed.error));
      const body = await opts.issue(parsed.data.vm_name);
      send(req, res, id, 200, body);
    } catch (err) {
      if (err instanceof HttpError) {
        status = err.status;
        send(req, res, id, status, { detail: err.detail }, err.headers);
      } else {
        status = 500;
        opts.logger.buffer.withContext({ request_id: id }, () =>
          opts.logger.error(`GET ${CHALLENGE_PATH} failed: ${(err as Error)?.stack ?? String(err)}`),
        );
        if (!res.headersSent) send(req, res, id, 500, { detail: 'Internal Server Error' });
        else res.destroy();
      }
    } finally {
      observe(status, Number(process.hrtime.bigint() - started) / 1e9);
    }
  };

  return (req, res) => {
    if (req.method !== 'GET') return false;
    const url = parseUrl(req);
    if (url.pathname !== CHALLENGE_PATH) return false;
    void answer(req, res, url.query ?? '');
    return true;
  };
}
