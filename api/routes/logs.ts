/**
 * Logs (api.md §13): this process's ring buffer (admin), container logs pulled from agents and a zip export of
 * both. Container logs are owner/admin scoped like agent logs: an admin sees every agent with a workload; anyone
 * else (deployer API key, GitHub OIDC token, GitHub session) only agents they own (`github_owner` among their
 * proven identities) or whose current deployment they deployed (its `account_id` is their account).
 */
import type { Context } from 'koa';
import { z } from 'zod';
import yazl from 'yazl';
import { AgentHttpError, agentBaseUrl, createAgentClient } from '../../clients/agent-client';
import { unseal } from '../../core/auth/seal';
import type { AgentRow, DeploymentRow } from '../../core/db/tables';
import { notFound } from '../http/errors';
import { getCredential } from '../../core/stores/agents';
import { catalogCaller, type CatalogCaller } from '../catalog-caller';
import type { AppDeps } from '../deps';
import type { Routes } from '../http/route';

const Record = z.object({ timestamp: z.string(), level: z.string(), logger: z.string(), message: z.string() });
const ContainerLine = z.object({ agent_id: z.string(), container: z.string(), line: z.string() });
const PULL_TIMEOUT_MS = 10_000;

interface Pulled {
  logs: z.infer<typeof ContainerLine>[];
  errors: { agent_id: string; error: string }[];
}

/** The agents whose containers this caller may read. */
async function scopedAgents(deps: AppDeps, caller: CatalogCaller, agentId?: string): Promise<AgentRow[]> {
  let q = deps.db<AgentRow>('agents').whereNotNull('current_deployment_id');
  if (agentId) q = q.where({ agent_id: agentId });
  const agents = (await q.orderBy('registered_at', 'asc')) as AgentRow[];
  if (caller.isAdmin) return agents;
  const ids = new Set(caller.identities);
  const deployments = caller.accountId
    ? new Set(
        (
          (await deps
            .db<DeploymentRow>('deployments')
            .whereIn(
              'deployment_id',
              agents.map((a) => a.current_deployment_id!),
            )
            .where({ account_id: caller.accountId })
            .select('deployment_id')) as Pick<DeploymentRow, 'deployment_id'>[]
        ).map((d) => d.deployment_id),
      )
    : new Set<string>();
  return agents.filter(
    (a) =>
      (a.github_owner && ids.has(a.github_owner.trim().toLowerCase())) ||
      (a.current_deployment_id && deployments.has(a.current_deployment_id)),
  );
}

async function pullContainerLogs(
  deps: AppDeps,
  agents: AgentRow[],
  query: { since: string; container?: string; lines: number },
): Promise<Pulled> {
  const direct = await deps.settings.get('operational.agent_direct_url');
  const out: Pulled = { logs: [], errors: [] };
  const results = await Promise.all(
    agents.map(async (a) => {
      try {
        const sealed = (await getCredential(deps.db, a.agent_id))?.api_secret_sealed;
        const client = createAgentClient({
          baseUrl: agentBaseUrl({ agentId: a.agent_id, hostname: a.hostname, directUrlTemplate: direct }),
          secret: sealed ? unseal(deps.sealingKey, { sealed }) : null,
          timeoutMs: PULL_TIMEOUT_MS,
        });
        const r = await client.logs({ since: query.since, container: query.container, lines: query.lines });
        return { agent: a, lines: r.logs.slice(-query.lines) };
      } catch (err) {
        const why = err instanceof AgentHttpError ? err.message : (err as Error).message;
        return { agent: a, error: why.slice(0, 300) };
      }
    }),
  );
  for (const r of results) {
    if ('error' in r) out.errors.push({ agent_id: r.agent.agent_id, error: r.error! });
    else for (const l of r.lines) out.logs.push({ agent_id: r.agent.agent_id, container: l.container, line: l.line });
  }
  return out;
}

const stamp = (d: Date) => d.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);

export function logRoutes(routes: Routes, deps: AppDeps): void {
  routes.add(
    {
      method: 'get',
      path: '/api/v1/logs/control-plane',
      summary: "This process's recent log records (admin only: v1 served them publicly)",
      tag: 'logs',
      auth: 'admin',
      query: z.object({
        lines: z.coerce.number().int().min(1).max(1000).default(100).describe('How many of the newest records'),
        min_level: z.string().default('INFO').describe('DEBUG, INFO, WARNING, ERROR or CRITICAL; unknown → INFO'),
      }),
      responses: {
        200: { description: 'Oldest first', schema: z.object({ logs: z.array(Record), total: z.number() }) },
      },
    },
    async ({ query }) => {
      const records = deps.logger.buffer.records(query.min_level);
      return { logs: records.slice(-query.lines), total: records.length };
    },
  );

  const ContainerQuery = z.object({
    since: z
      .string()
      .regex(/^\d+[smhd]$|^\d{4}-\d{2}-\d{2}T[\d:.]+Z?$/, 'a duration like 5m / 1h, or an ISO time')
      .default('5m'),
    container: z.string().max(128).optional().describe('Substring filter on container names'),
    lines: z.coerce.number().int().min(1).max(1000).default(200),
    agent_id: z.string().optional().describe('Only this agent'),
  });

  routes.add(
    {
      method: 'get',
      path: '/api/v1/logs/containers',
      summary: 'Container logs pulled from the agents you own or deployed to (all agents for an admin)',
      tag: 'logs',
      auth: 'catalog',
      query: ContainerQuery,
      responses: {
        200: {
          description: 'Lines per agent; agents that could not be read are listed in errors',
          schema: z.object({
            logs: z.array(ContainerLine),
            count: z.number(),
            errors: z.array(z.object({ agent_id: z.string(), error: z.string() })),
          }),
        },
        401: { description: 'No credential' },
        404: { description: 'agent_id given but not yours / no workload' },
      },
    },
    async ({ query }, ctx) => {
      const agents = await scopedAgents(deps, catalogCaller(ctx), query.agent_id);
      if (query.agent_id && agents.length === 0) throw notFound('Agent not found');
      const r = await pullContainerLogs(deps, agents, query);
      return { logs: r.logs, count: r.logs.length, errors: r.errors };
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/api/v1/logs/export',
      summary: 'A zip of control-plane (admin) and container logs (your agents), streamed',
      tag: 'logs',
      auth: 'catalog',
      query: z.object({
        since: ContainerQuery.shape.since.default('1h'),
        min_level: z.string().default('DEBUG'),
      }),
      responses: {
        200: { description: 'application/zip', contentType: 'application/zip', schema: z.string() },
        401: { description: 'No credential' },
      },
    },
    async ({ query }, ctx: Context) => {
      const caller = catalogCaller(ctx);
      const agents = await scopedAgents(deps, caller);
      const pulled = await pullContainerLogs(deps, agents, { since: query.since, lines: 1000 });
      const zip = new yazl.ZipFile();
      const mtime = deps.now();
      if (caller.isAdmin) {
        const cp = deps.logger.buffer
          .records(query.min_level)
          .map((r) => `${r.timestamp} ${r.level.padEnd(7)} [${r.logger}] ${r.message}`)
          .join('\n');
        zip.addBuffer(Buffer.from(cp + '\n'), 'control-plane.log', { mtime });
      }
      const lines = [
        ...pulled.logs.map((l) => `[${l.agent_id}] [${l.container}] ${l.line}`),
        ...pulled.errors.map((e) => `[${e.agent_id}] [error fetching logs] ${e.error}`),
      ];
      zip.addBuffer(Buffer.from(lines.join('\n') + '\n'), 'containers.log', { mtime });
      zip.end();
      ctx.type = 'application/zip';
      ctx.attachment(`easyenclave-logs-${stamp(mtime)}.zip`);
      ctx.body = zip.outputStream;
      return undefined;
    },
  );
}
