/**
 * Owner-scoped self-service (api.md §3) for any GitHub session, admin or not: the caller's agents (github_owner is
 * the session's login or one of its orgs), their reset and console access, and the deployments on them.
 *
 * v2 decision: owner matching is case-insensitive (GitHub logins are), the same rule as OIDC deploys
 * (core/auth/github-oidc.ts `isOwnedBy`); v1 compared exactly.
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'koa';
import { z } from 'zod';
import { sessionIdentities } from '../../core/auth/admin-sessions';
import { isOwnedBy } from '../../core/auth/github-oidc';
import { HttpError, forbidden, notFound } from '../http/errors';
import { getAgent, listAgents, listAgentsPage, toAgentView, type AgentDbRow } from '../../core/stores/agents';
import type { Page, PageRequest } from '../../core/pagination';
import { LISTS, nextCursor, nextCursorField, pageQuery, pageRequest } from '../http/pagination';
import { listDeployments } from '../../core/stores/deployments';
import { viewerOf } from '../access';
import type { AppDeps } from '../deps';
import { ConsoleAccessQuery, ConsoleAccessSchema, issueConsoleAccess } from '../console-access';
import type { Routes } from '../http/route';
import { deploymentView } from '../views/deployments';
import { DeploymentView } from './deploy-schemas';

const AgentParam = z.object({ agent_id: z.string() });
const AgentObject = z.record(z.string(), z.unknown()).describe('Agent object (no tokens or secrets)');

export function meRoutes(routes: Routes, deps: AppDeps): void {
  const identities = (ctx: Context) => sessionIdentities(ctx.state.session!);

  /** owner-or-admin: 404, then 403 (api.md §0.1). */
  const ownedAgent = async (ctx: Context, agentId: string): Promise<AgentDbRow> => {
    const agent = await getAgent(deps.db, agentId);
    if (!agent) throw notFound('Agent not found');
    if (!ctx.state.isAdmin && !isOwnedBy(identities(ctx), agent.github_owner)) {
      throw forbidden('Not authorized for this agent');
    }
    return agent;
  };

  const ownedAgents = async (ctx: Context) => {
    const ids = identities(ctx);
    if (ids.length === 0) return [];
    return (await listAgents(deps.db)).filter((a) => isOwnedBy(ids, a.github_owner));
  };

  const ownedAgentsPage = async (ctx: Context, page: PageRequest): Promise<Page<AgentDbRow>> => {
    const ids = identities(ctx);
    if (ids.length === 0) return { items: [], next: null };
    return listAgentsPage(deps.db, {}, page, (a) => isOwnedBy(ids, a.github_owner));
  };

  routes.add(
    {
      method: 'get',
      path: '/api/v1/me/agents',
      summary: 'Agents owned by the session’s GitHub login or orgs',
      tag: 'me',
      auth: 'session',
      etag: true,
      query: z.object(pageQuery(LISTS.agents)),
      responses: {
        200: {
          description: 'Agents in registration order',
          schema: z.object({ agents: z.array(AgentObject), total: z.number(), next_cursor: nextCursorField }),
          links: {
            GetOwnedAgent: {
              operation: 'get /api/v1/me/agents/:agent_id',
              parameters: { agent_id: '$response.body#/agents/0/agent_id' },
              description: 'The first owned agent listed',
            },
          },
        },
      },
    },
    async ({ query }, ctx) => {
      const page = pageRequest(query);
      if (!page) {
        const agents = (await ownedAgents(ctx)).map(toAgentView);
        return { agents, total: agents.length };
      }
      const p = await ownedAgentsPage(ctx, page);
      const agents = p.items.map(toAgentView);
      return { agents, total: agents.length, next_cursor: nextCursor(LISTS.agents, p) };
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/api/v1/me/agents/:agent_id',
      summary: 'One owned agent (or any agent for an admin)',
      tag: 'me',
      auth: 'session',
      params: AgentParam,
      responses: { 200: { description: 'Agent', schema: AgentObject }, 403: { description: 'Not yours' } },
    },
    async ({ params }, ctx) => toAgentView(await ownedAgent(ctx, params.agent_id)),
  );

  routes.add(
    {
      method: 'post',
      path: '/api/v1/me/agents/:agent_id/reset',
      summary: 'Reset an owned agent to undeployed (same effects as the admin reset: resetAgent workflow)',
      tag: 'me',
      auth: 'session',
      params: AgentParam,
      responses: {
        200: {
          description: 'Reset',
          schema: z.object({ status: z.literal('reset'), agent_id: z.string(), tunnel_created: z.boolean() }),
        },
      },
    },
    async ({ params }, ctx) => {
      const agent = await ownedAgent(ctx, params.agent_id);
      // The admin reset's workflow (resetAgent): same effects, including a tunnel for a verified agent without one.
      const r = await deps.workflows.agents.reset(agent.agent_id, randomUUID());
      if (!r.found) throw notFound('Agent not found');
      if (r.error) throw new HttpError(502, `Failed to create tunnel: ${r.error}`);
      return { status: 'reset' as const, agent_id: agent.agent_id, tunnel_created: r.tunnelCreated };
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/api/v1/me/agents/:agent_id/console-access',
      summary: 'Mint a short-lived console relay token (eea1) for an owned agent',
      tag: 'me',
      auth: 'session',
      params: AgentParam,
      query: ConsoleAccessQuery,
      responses: {
        200: { description: 'Token', schema: ConsoleAccessSchema },
        400: { description: 'No tunnel hostname' },
        409: { description: 'No control credential' },
      },
    },
    async ({ params, query }, ctx) => {
      const agent = await ownedAgent(ctx, params.agent_id);
      return issueConsoleAccess(deps, ctx, agent, query.ttl_seconds);
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/api/v1/me/deployments',
      summary: 'Deployments on the agents the session owns',
      tag: 'me',
      auth: 'session',
      responses: {
        200: {
          description: 'Deployments',
          schema: z.object({ deployments: z.array(DeploymentView), total: z.number() }),
        },
      },
    },
    async (_input, ctx) => {
      const agentIds = (await ownedAgents(ctx)).map((a) => a.agent_id);
      const rows = await listDeployments(deps.db, { agentIds });
      const viewer = viewerOf(ctx);
      return { deployments: rows.map((d) => deploymentView(d, viewer)), total: rows.length };
    },
  );
}
