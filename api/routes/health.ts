import { createRequire } from 'node:module';
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

export function healthRoutes(routes: Routes, deps: AppDeps): void {
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
    async () => {
      // Short enough for a liveness probe's usual 1 s timeout even while Temporal is down.
      const temporal = deps.workflows.temporalReachable(800);
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
        temporal: (await temporal) ? 'ok' : 'unreachable',
      } satisfies z.infer<typeof Health>;
    },
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
