import { createRequire } from 'node:module';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import { serviceUnavailable } from '../http/errors';
import type { AppDeps } from '../deps';
import type { Routes } from '../http/route';

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

/**
 * The /health answer, built per request from values that cost nothing to read, and one Temporal probe shared by
 * every request that arrives while it runs (and, when it succeeded, for the next HEALTH_PROBE_REUSE_MS): a load
 * balancer or a benchmark polling /health no longer costs a gRPC round trip per request, and a probe of a dead
 * Temporal (up to 0.8 s) is paid once, not by each waiting request. State lives in this closure, one per app.
 * Reads nothing from deps until the first request (openApiDocument() declares routes over stub deps).
 */
export function healthResponder(deps: AppDeps): () => Promise<HealthBody> {
  interface Probe {
    at: number;
    settled: boolean;
    result: Promise<boolean>;
  }
  let probe: Probe | null = null;
  const temporal = (): Promise<boolean> => {
    const now = Date.now();
    if (probe && (!probe.settled || now - probe.at < HEALTH_PROBE_REUSE_MS)) return probe.result;
    const p: Probe = { at: now, settled: false, result: Promise.resolve(false) };
    // Short enough for a liveness probe's usual 1 s timeout even while Temporal is down.
    p.result = deps.workflows.temporalReachable(800).then((ok) => {
      p.settled = true;
      if (!ok && probe === p) probe = null;
      return ok;
    });
    probe = p;
    return p.result;
  };
  return async () => {
    const reachable = temporal();
    const gcpProject = deps.config.gcp.projectId !== '';
    const gcpKey = deps.config.gcp.serviceAccountKey !== '';
    return {
      status: 'healthy',
      timestamp: deps.now().toISOString(),
      version: VERSION,
      boot_id: deps.config.bootId,
      git_sha: deps.config.gitSha,
      attestation: await deps.cpAttestation(),
      proxy_url: await proxyUrl(deps),
      gcp_project_configured: gcpProject,
      gcp_service_account_key_configured: gcpKey,
      gcp_capacity_fulfiller_enabled: gcpProject && gcpKey,
      temporal: (await reachable) ? 'ok' : 'unreachable',
    };
  };
}

/**
 * GET/HEAD /health answered right after the outer middleware (request metrics, tracing, request id, errors) with
 * the CORS headers (`cors`), before the rest (client IP, bodies, the service proxy, method checks, the router): a
 * liveness probe needs none of it. It is labelled with its route, as the router would, so metrics and spans stay the
 * same.
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
