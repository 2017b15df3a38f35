/**
 * Admin cloud (api.md §10 cloud resources, §12 Cloudflare and clean-up). Reads of outside systems and every
 * clean-up run as short workflows (api/cloud-gateway.ts); `GET /admin/cloud/resources` reads the database only.
 *
 * v2 decisions: the unified clean-up also covers orphaned managed GCP instances and stale agents (flags `gcp`,
 * `stale_agents`), and answers its `plan` — exactly what the real run deletes; `external_cloud_configured` is true only
 * when the provisioner's cleanup webhook is (v1 always said true).
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { cloudResources } from '../../core/cloud-admin';
import { notFound } from '../http/errors';
import { cloudAgents, deploymentCounts } from '../../core/stores/cloud';
import type { AppDeps } from '../deps';
import type { Routes } from '../http/route';

const View = z.object({}).passthrough();
const id = z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, 'an id of letters, digits, _ and -');

export function adminCloudRoutes(routes: Routes, deps: AppDeps): void {
  const cf = (path: string, op: 'cloudflare-status' | 'cloudflare-tunnels' | 'cloudflare-dns', summary: string) =>
    routes.add(
      {
        method: 'get',
        path: `/api/v1/admin/cloudflare/${path}`,
        summary,
        tag: 'admin-cloud',
        auth: 'admin',
        responses: { 200: { description: summary, schema: View }, 503: { description: 'Cloudflare not configured' } },
      },
      async () => deps.workflows.cloud.admin({ op }, randomUUID()),
    );
  cf('status', 'cloudflare-status', 'Cloudflare configuration and the protected tunnel names');
  cf('tunnels', 'cloudflare-tunnels', 'Every tunnel with its agent, protected/orphaned flags and owner');
  cf('dns', 'cloudflare-dns', 'CNAME records with their linked tunnel and orphaned flag');

  routes.add(
    {
      method: 'delete',
      path: '/api/v1/admin/cloudflare/tunnels/:tunnel_id',
      summary: "Delete a tunnel (never the control plane's); agents on it lose their tunnel fields",
      tag: 'admin-cloud',
      auth: 'admin',
      params: z.object({ tunnel_id: id }),
      responses: {
        200: {
          description: 'Deleted (false: already gone)',
          schema: z.object({ deleted: z.boolean(), tunnel_id: z.string() }),
        },
        400: { description: 'The protected control plane tunnel' },
        503: { description: 'Cloudflare not configured' },
      },
    },
    async ({ params }) =>
      deps.workflows.cloud.admin({ op: 'delete-tunnel', id: params.tunnel_id }, randomUUID()) as Promise<{
        deleted: boolean;
        tunnel_id: string;
      }>,
  );

  routes.add(
    {
      method: 'delete',
      path: '/api/v1/admin/cloudflare/dns/:record_id',
      summary: 'Delete a DNS record',
      tag: 'admin-cloud',
      auth: 'admin',
      params: z.object({ record_id: id }),
      responses: {
        200: {
          description: 'Deleted (false: already gone)',
          schema: z.object({ deleted: z.boolean(), record_id: z.string() }),
        },
        503: { description: 'Cloudflare not configured' },
      },
    },
    async ({ params }) =>
      deps.workflows.cloud.admin({ op: 'delete-dns', id: params.record_id }, randomUUID()) as Promise<{
        deleted: boolean;
        record_id: string;
      }>,
  );

  routes.add(
    {
      method: 'get',
      path: '/api/v1/admin/cloud/resources',
      summary: 'Agents per cloud with a per-cloud summary and deployment counts',
      tag: 'admin-cloud',
      auth: 'admin',
      responses: { 200: { description: 'Cloud resources', schema: View } },
    },
    async () => cloudResources(await cloudAgents(deps.db), await deploymentCounts(deps.db), new Date().toISOString()),
  );

  routes.add(
    {
      method: 'get',
      path: '/api/v1/admin/cloud/resources/external',
      summary: "The external provisioner's inventory, normalized and linked to agents",
      tag: 'admin-cloud',
      auth: 'admin',
      responses: { 200: { description: 'External resources', schema: View } },
    },
    async () => ({
      ...(await deps.workflows.cloud.admin({ op: 'external-resources' }, randomUUID())),
      generated_at: new Date().toISOString(),
    }),
  );

  routes.add(
    {
      method: 'post',
      path: '/api/v1/admin/cleanup/orphans',
      summary:
        'Unified orphan clean-up (an orphanCleanup workflow): orphan tunnels and DNS records, orphaned managed GCP ' +
        'instances, stale agents, and the provisioner cleanup webhook. dry_run (default) answers the plan only.',
      tag: 'admin-cloud',
      auth: 'admin',
      body: z
        .object({
          dry_run: z.boolean().default(true),
          cloudflare: z.boolean().default(true),
          gcp: z.boolean().default(true),
          stale_agents: z.boolean().default(true),
          stale_hours: z.number().gt(0, 'stale_hours must be > 0').nullable().default(null),
          external_cloud: z.boolean().default(true),
          external_only_orphaned: z.boolean().default(true),
          external_providers: z.array(z.string().max(64)).max(50).default([]),
          external_resource_ids: z.array(z.string().max(512)).max(1000).default([]),
          reason: z.string().max(200).default('admin-unified-orphan-cleanup'),
        })
        .default({
          dry_run: true,
          cloudflare: true,
          gcp: true,
          stale_agents: true,
          stale_hours: null,
          external_cloud: true,
          external_only_orphaned: true,
          external_providers: [],
          external_resource_ids: [],
          reason: 'admin-unified-orphan-cleanup',
        }),
      responses: {
        200: { description: 'Plan and results', schema: View },
        422: { description: 'Invalid' },
        502: { description: 'An outside system (Cloudflare, GCP, the provisioner) kept failing; detail names it' },
      },
    },
    async ({ body }) => deps.workflows.cloud.orphanCleanup(body, randomUUID()),
  );

  routes.add(
    {
      method: 'post',
      path: '/api/v1/admin/agents/:agent_id/cleanup',
      summary: "One agent's clean-up: its provisioner resources or managed GCP VM, tunnel, DNS, reservations, row",
      tag: 'admin-cloud',
      auth: 'admin',
      params: z.object({ agent_id: z.string() }),
      body: z
        .object({ dry_run: z.boolean().default(true), reason: z.string().max(200).default('admin-agent-cleanup') })
        .default({ dry_run: true, reason: 'admin-agent-cleanup' }),
      responses: {
        200: { description: 'Result', schema: View },
        404: { description: 'Agent not found' },
        502: { description: 'Cloudflare kept failing; detail names the call' },
      },
    },
    async ({ params, body }) => {
      const r = await deps.workflows.cloud.agentCleanup(
        { agentId: params.agent_id, dryRun: body.dry_run, reason: body.reason },
        randomUUID(),
      );
      if (!r.found) throw notFound('Agent not found');
      const { found: _f, ...view } = r;
      return view;
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/api/v1/admin/agents/cleanup/stale',
      summary: 'Delete agents silent for stale_hours (default operational.agent_stale_hours); dry_run by default',
      tag: 'admin-cloud',
      auth: 'admin',
      body: z
        .object({
          stale_hours: z.number().gt(0, 'stale_hours must be > 0').nullable().default(null),
          include_deployed: z.boolean().default(false),
          dry_run: z.boolean().default(true),
        })
        .default({ stale_hours: null, include_deployed: false, dry_run: true }),
      responses: {
        200: { description: 'Result', schema: View },
        422: { description: 'stale_hours must be > 0' },
        502: { description: 'Cloudflare kept failing; detail names the call' },
      },
    },
    async ({ body }) =>
      deps.workflows.cloud.staleAgentsCleanup(
        { staleHours: body.stale_hours, includeDeployed: body.include_deployed, dryRun: body.dry_run },
        randomUUID(),
      ),
  );
}
