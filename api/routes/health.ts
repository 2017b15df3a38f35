import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import { serviceUnavailable } from '../http/errors';
import type { AppDeps } from '../deps';
import type { Routes } from '../http/route';
import { requestIdOf } from '../middleware/request-id';

const Health = z.object({
  status: z.literal('healthy'),
  timestamp: z.string(),
  version: z.string(),
  boot_id: z.string().nullable(),
  git_sha: z.string().nullable(),
  attestation: z.object({ quote_b64: z.string(), mrtd: z.string(), generated_at: z.string() }).nullable(),
  proxy_url: z.string(),
  gcp_project_configured: z.boolean(),
  gcp_service_account_key_configured: z.boolean(),
  gcp_capacity_fulfiller_enabled: z.boolean(),
  temporal: z.enum(['ok', 'unreachable']).describe('Can this process reach Temporal right now (0.8 s probe)?'),
});

const Ready = z.object({ status: z.literal('ready'), temporal: z.literal('ok'), database: z.literal('ok') });

async function databaseReachable(deps: AppDeps): Promise<boolean> {
  try {
    await deps.db.raw('select 1');
    return true;
  } catch {
    return false;
  }
}

/** The package version, read once at load from package.json (the single source of truth for it). */
export const VERSION: string = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

export async function proxyUrl(deps: AppDeps): Promise<string> {
  const domain = await deps.settings.get('cloudflare.domain');
  return deps.config.environment === 'staging' ? `https://app-staging.${domain}` : `https://app.${domain}`;
}

/** How long a successful Temporal probe answers /health (a failed one is never reused: recovery shows at once). */
export const HEALTH_PROBE_REUSE_MS = 1000;

export type HealthBody = z.infer<typeof Health>;

/** What /health answers besides its per-request timestamp. */
type HealthParts = Omit<HealthBody, 'timestamp'>;

/** /health, prebuilt: `head + <ISO timestamp> + tail` is the JSON body (the timestamp is its second field). */
export interface HealthSnapshot {
  parts: HealthParts;
  head: string;
  tail: string;
}

export interface HealthResponder {
  /** The body as an object (the Koa route). */
  (): Promise<HealthBody>;
  /** The prebuilt body while the last successful probe is fresh (no I/O, no await), else null. */
  fresh(): HealthSnapshot | null;
  /** A snapshot after a probe (one shared by every caller while it runs). */
  snapshot(): Promise<HealthSnapshot>;
}

function buildSnapshot(parts: HealthParts): HealthSnapshot {
  const { status, ...rest } = parts;
  return {
    parts,
    head: `{"status":${JSON.stringify(status)},"timestamp":"`,
    tail: `",${JSON.stringify(rest).slice(1)}`,
  };
}

/**
 * The /health answer: one Temporal probe shared by every request that arrives while it runs and, when it succeeded,
 * a body prebuilt from it (attestation, proxy URL, configuration) reused for HEALTH_PROBE_REUSE_MS — a load balancer
 * or a benchmark polling /health costs neither a gRPC round trip nor a JSON serialization per request, and a probe
 * of a dead Temporal (up to 0.8 s) is paid once, not by each waiting request. A failed probe is never reused, so
 * Temporal going down or coming back shows at once. State lives in this closure, one per app. Reads nothing from
 * deps until the first request (openApiDocument() declares routes over stub deps).
 */
export function healthResponder(deps: AppDeps): HealthResponder {
  let current: { at: number; snapshot: HealthSnapshot } | null = null;
  let inFlight: Promise<HealthSnapshot> | null = null;
  const probe = async (): Promise<HealthSnapshot> => {
    const started = Date.now();
    // Short enough for a liveness probe's usual 1 s timeout even while Temporal is down.
    const reachable = deps.workflows.temporalReachable(800);
    const gcpProject = deps.config.gcp.projectId !== '';
    const gcpKey = deps.config.gcp.serviceAccountKey !== '';
    const [attestation, proxy_url, ok] = await Promise.all([deps.cpAttestation(), proxyUrl(deps), reachable]);
    const snapshot = buildSnapshot({
      status: 'healthy',
      version: VERSION,
      boot_id: deps.config.bootId,
      git_sha: deps.config.gitSha,
      attestation,
      proxy_url,
      gcp_project_configured: gcpProject,
      gcp_service_account_key_configured: gcpKey,
      gcp_capacity_fulfiller_enabled: gcpProject && gcpKey,
      temporal: ok ? 'ok' : 'unreachable',
    });
    current = ok ? { at: started, snapshot } : null;
    return snapshot;
  };
  const fresh = (): HealthSnapshot | null =>
    current && Date.now() - current.at < HEALTH_PROBE_REUSE_MS ? current.snapshot : null;
  const snapshot = (): Promise<HealthSnapshot> => {
    const hit = fresh();
    if (hit) return Promise.resolve(hit);
    inFlight ??= probe().finally(() => (inFlight = null));
    return inFlight;
  };
  const respond = async (): Promise<HealthBody> => {
    const { parts } = await snapshot();
    const { status, ...rest } = parts;
    return { status, timestamp: deps.now().toISOString(), ...rest };
  };
  return Object.assign(respond, { fresh, snapshot });
}

/**
 * GET/HEAD /health answered right after the outer middleware (request metrics, tracing, request id, errors) with
 * the CORS headers (`cors`), before the rest (client IP, bodies, the service proxy, method checks, the router): a
 * liveness probe needs none of it. It is labelled with its route, as the router would, so metrics and spans stay the
 * same. (The server of bin/ answers /health even earlier, in front of Koa: healthListener below.)
 */
export function healthFastPath(respond: () => Promise<HealthBody>, cors: Middleware): Middleware {
  const answer = async (ctx: Context) => {
    (ctx as Context & { _matchedRoute?: string })._matchedRoute = '/health';
    ctx.body = await respond();
  };
  return async (ctx, next) => {
    if (ctx.path !== '/health' || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
    await cors(ctx, () => answer(ctx));
  };
}

/**
 * GET/HEAD /health in the node:http request listener, in front of Koa (api/app.ts createRequestListener): the
 * headers Koa would send (JSON content type and length, `X-Request-Id` — the caller's sane one or a fresh UUID —,
 * v1's CORS headers for its origins) and the prebuilt body, written without a Koa context, middleware chain or
 * router. Counted in `easyenclave_health_requests_total` (a plain counter: no latency histogram per liveness
 * probe). Answers true when it took the request; anything else (another path or method, a CORS preflight) is
 * Koa's. Not used when tracing is on: then /health keeps its server span through Koa's healthFastPath.
 */
export function healthListener(
  respond: HealthResponder,
  opts: { now: () => Date; origins: readonly string[]; counted?: () => void },
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const write = (req: IncomingMessage, res: ServerResponse, s: HealthSnapshot) => {
    const body = Buffer.from(`${s.head}${opts.now().toISOString()}${s.tail}`);
    const id = requestIdOf(req.headers['x-request-id']);
    const headers: string[] = [
      'Content-Type',
      'application/json; charset=utf-8',
      'Content-Length',
      String(body.length),
      'X-Request-Id',
      id,
    ];
    const origin = req.headers.origin;
    if (origin && opts.origins.includes(origin)) {
      headers.push('Access-Control-Allow-Origin', origin, 'Access-Control-Allow-Credentials', 'true', 'Vary', 'Origin');
    }
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
    opts.counted?.();
  };
  return (req, res) => {
    const url = req.url ?? '';
    if ((req.method !== 'GET' && req.method !== 'HEAD') || (url !== '/health' && !url.startsWith('/health?'))) {
      return false;
    }
    const s = respond.fresh();
    if (s) write(req, res, s);
    else {
      respond.snapshot().then(
        (snap) => write(req, res, snap),
        () => {
          res.writeHead(500, ['Content-Type', 'application/json; charset=utf-8']);
          res.end('{"detail":"Internal Server Error"}');
        },
      );
    }
    return true;
  };
}

export function healthRoutes(routes: Routes, deps: AppDeps, respond = healthResponder(deps)): void {
  routes.add(
    {
      method: 'get',
      path: '/health',
      summary: 'Liveness, build identity, cached control-plane attestation and GCP configuration',
      tag: 'health',
      auth: 'none',
      responses: {
        200: {
          description: 'Always 200 while the process serves requests (liveness); `temporal` reports connectivity',
          schema: Health,
        },
      },
    },
    // Served by healthFastPath (api/app.ts) before the router; declared here for the document and as a fallback.
    () => respond(),
  );

  routes.add(
    {
      method: 'get',
      path: '/ready',
      summary: 'Readiness for load balancers: 200 when Temporal and the database answer, 503 otherwise',
      tag: 'health',
      auth: 'none',
      responses: {
        200: { description: 'Ready to serve', schema: Ready },
        503: { description: 'Temporal or the database is unreachable' },
      },
    },
    async () => {
      const [temporal, database] = await Promise.all([deps.workflows.temporalReachable(1500), databaseReachable(deps)]);
      if (!temporal) throw serviceUnavailable('Not ready: the orchestrator (Temporal) is unreachable');
      if (!database) throw serviceUnavailable('Not ready: the database is unreachable');
      return { status: 'ready', temporal: 'ok', database: 'ok' } satisfies z.infer<typeof Ready>;
    },
  );
}
