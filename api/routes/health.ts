import { z } from 'zod';
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
});

export const VERSION = '0.2.0';

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
      responses: { 200: { description: 'Always healthy while the process serves requests', schema: Health } },
    },
    async () => {
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
      } satisfies z.infer<typeof Health>;
    },
  );
}
