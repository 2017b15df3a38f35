/**
 * Admin agent routes (api.md §2): delete and reset run workflows (they touch Cloudflare), the owner label is one
 * row write, the console token is minted by api/console-access.ts, and logs/stats are read-only pulls
 * from the agent. (Undeploy lives in routes/deploy.ts; the owner-scoped /me variants in routes/me.ts.)
 */
import type { Context } from 'koa';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { AgentAddressError, AgentHttpError, agentBaseUrl, createAgentClient } from '../../clients/agent-client';
import { sessionIdentities } from '../../core/auth/admin-sessions';
import { isOwnedBy } from '../../core/auth/github-oidc';
import { unseal } from '../../core/auth/seal';
import { HttpError, badRequest, forbidden, notFound } from '../http/errors';
import { httpErrorOf } from '../failures';
import { getAgent, getCredential, updateAgent, type AgentDbRow } from '../../core/stores/agents';
import { getDeployment } from '../../core/stores/deployments';
import { mayReadAgent, viewerOf } from '../access';
import type { AppDeps } from '../deps';
import type { Routes } from '../http/route';
import { ConsoleAccessQuery, ConsoleAccessSchema, issueConsoleAccess } from '../console-access';
import { AgentIdParams } from './agent-schemas';
import { AgentUndeployed } from './deploy-schemas';

async function load(deps: AppDeps, agentId: string): Promise<AgentDbRow> {
  const a = await getAgent(deps.db, agentId);
  if (!a) throw notFound('Agent not found');
  return a;
}

function requireOwnerOrAdmin(ctx: Context, a: AgentDbRow): void {
  if (ctx.state.isAdmin) return;
  const ids = ctx.state.session ? sessionIdentities(ctx.state.session) : [];
  if (!isOwnedBy(ids, a.github_owner)) throw forbidden('Not authorized for this agent');
}

export function agentAdminRoutes(routes: Routes, deps: AppDeps): void {
  const secretOf = async (agentId: string) => {
    const sealed = (await getCredential(deps.db, agentId))?.api_secret_sealed;
    return sealed ? unseal(deps.sealingKey, { sealed }) : null;
  };

  routes.add(
    {
      method: 'delete',
      path: '/api/v1/agents/:agent_id',
      summary: 'Delete an agent with its tunnel, DNS record and credential (deleteAgent workflow)',
      tag: 'agents',
      auth: 'admin',
      params: AgentIdParams,
      responses: {
        200: { description: 'Deleted', schema: z.object({ status: z.literal('deleted'), agent_id: z.string() }) },
        404: { description: 'Agent not found' },
      },
    },
    async ({ params }) => {
      const a = await load(deps, params.agent_id);
      const r = await deps.workflows.agents.remove(
        { agentId: a.agent_id, tunnelId: a.tunnel_id, hostname: a.hostname },
        randomUUID(),
      );
      if (!r.deleted) throw notFound('Agent not found');
      return { status: 'deleted' as const, agent_id: a.agent_id };
    },
  );

  const reset = async (agentId: string) => {
    const r = await deps.workflows.agents.reset(agentId, randomUUID());
    if (!r.found) throw notFound('Agent not found');
    if (r.error) throw new HttpError(502, `Failed to create tunnel: ${r.error}`);
    return { status: 'reset' as const, agent_id: agentId, tunnel_created: r.tunnelCreated };
  };
  const ResetOut = z.object({ status: z.literal('reset'), agent_id: z.string(), tunnel_created: z.boolean() });

  routes.add(
    {
      method: 'post',
      path: '/api/v1/agents/:agent_id/reset',
      summary: 'Reset an agent to undeployed; a verified agent without a hostname gets a tunnel (resetAgent workflow)',
      tag: 'agents',
      auth: 'admin',
      params: AgentIdParams,
      responses: { 200: { description: 'Reset', schema: ResetOut }, 404: { description: 'Agent not found' } },
    },
    async ({ params }) => reset((await load(deps, params.agent_id)).agent_id),
  );

  routes.add(
    {
      method: 'patch',
      path: '/api/v1/agents/:agent_id/owner',
      summary: 'Set (or clear) the github_owner label',
      tag: 'agents',
      auth: 'admin',
      params: AgentIdParams,
      body: z.object({ github_owner: z.string().nullable().default(null) }).passthrough(),
      responses: {
        200: { description: 'Saved', schema: z.object({ agent_id: z.string(), github_owner: z.string().nullable() }) },
        404: { description: 'Agent not found' },
      },
    },
    async ({ params, body }) => {
      if (!(await updateAgent(deps.db, params.agent_id, { github_owner: body.github_owner }))) {
        throw notFound('Agent not found');
      }
      return { agent_id: params.agent_id, github_owner: body.github_owner };
    },
  );

  {
    routes.add(
      {
        method: 'post',
        path: '/api/v1/agents/:agent_id/console-access',
        summary: 'Mint a short-lived eea1 console token (HMAC under the agent secret)',
        tag: 'agents',
        auth: 'session',
        params: AgentIdParams,
        query: ConsoleAccessQuery,
        responses: {
          200: {
            description: 'Token',
            schema: ConsoleAccessSchema,
          },
          403: { description: 'Not authorized for this agent' },
          409: { description: 'No control credential' },
        },
      },
      async ({ params, query }, ctx) => {
        const a = await load(deps, params.agent_id);
        requireOwnerOrAdmin(ctx, a);
        return issueConsoleAccess(deps, ctx, a, query.ttl_seconds);
      },
    );
  }

  const pull = async (a: AgentDbRow, what: 'logs' | 'stats', query: { since?: string; container?: string }) => {
    if (!a.hostname) throw badRequest(`Agent does not have a tunnel hostname - cannot pull ${what}`);
    let baseUrl: string;
    try {
      baseUrl = agentBaseUrl({
        agentId: a.agent_id,
        hostname: a.hostname,
        directUrlTemplate: await deps.settings.get('operational.agent_direct_url'),
      });
    } catch (e) {
      if (e instanceof AgentAddressError) throw badRequest(e.message);
      throw e;
    }
    const client = createAgentClient({ baseUrl, secret: await secretOf(a.agent_id) });
    try {
      return what === 'logs' ? await client.logs(query) : await client.stats();
    } catch (e) {
      if (!(e instanceof AgentHttpError)) throw e;
      const suffix = 'The tunnel may be routing to the workload instead of the agent API.';
      if (e.kind === 'http') throw new HttpError(502, `Agent returned error ${e.status}: ${e.body.slice(0, 200)}`);
      if (e.kind === 'invalid_json')
        throw new HttpError(502, `Agent returned invalid JSON: ${e.body.slice(0, 100) || '(empty)'}. ${suffix}`);
      throw new HttpError(502, `Failed to reach agent at ${a.hostname}: ${e.message}`);
    }
  };

  /** Logs and stats are the tenant's: the agent's owner, the deployer of its current deployment, or an admin. */
  const readable = async (ctx: Context, agentId: string): Promise<AgentDbRow> => {
    const a = await load(deps, agentId);
    const current = a.current_deployment_id ? await getDeployment(deps.db, a.current_deployment_id) : null;
    if (!mayReadAgent(viewerOf(ctx), a, current)) throw forbidden('Not authorized for this agent');
    return a;
  };
  const readErrors = {
    401: { description: 'No credential, or an invalid one' },
    403: { description: 'Neither the agent’s owner, the deployer of its current deployment, nor an admin' },
    404: { description: 'Agent not found' },
    502: { description: 'Agent unreachable or answered an error' },
  };

  routes.add(
    {
      method: 'get',
      path: '/api/v1/agents/:agent_id/logs',
      summary:
        "Pull the agent's container logs (through its tunnel); for the agent's owner, the deployer of its current " +
        'deployment or an admin',
      tag: 'agents',
      auth: 'caller',
      params: AgentIdParams,
      query: z.object({ since: z.string().default('5m'), container: z.string().optional() }),
      responses: {
        200: { description: "The agent's JSON", schema: z.record(z.string(), z.unknown()) },
        ...readErrors,
      },
    },
    async ({ params, query }, ctx) => pull(await readable(ctx, params.agent_id), 'logs', query),
  );

  routes.add(
    {
      method: 'get',
      path: '/api/v1/agents/:agent_id/stats',
      summary:
        "Pull the agent's system statistics (through its tunnel); for the agent's owner, the deployer of its " +
        'current deployment or an admin',
      tag: 'agents',
      auth: 'caller',
      params: AgentIdParams,
      responses: {
        200: { description: "The agent's JSON", schema: z.record(z.string(), z.unknown()) },
        ...readErrors,
      },
    },
    async ({ params }, ctx) => pull(await readable(ctx, params.agent_id), 'stats', {}),
  );
}

/**
 * `POST /api/v1/agents/:agent_id/undeploy` (admin): through the agent's current deployment workflow when it has one,
 * else an `undeployAgent` workflow. Mounted by api/app.ts right after the deploy routes, where it used to be
 * declared, so the OpenAPI document keeps its operation order.
 */
export function agentUndeployRoutes(routes: Routes, deps: AppDeps): void {
  routes.add(
    {
      method: 'post',
      path: '/api/v1/agents/:agent_id/undeploy',
      summary: 'Stop the workload on an agent through its deployment workflow and free the agent (admin)',
      tag: 'deployments',
      auth: 'admin',
      params: z.object({ agent_id: z.string() }),
      responses: {
        200: { description: 'Undeployed', schema: AgentUndeployed },
        400: { description: 'Agent has no address' },
        404: { description: 'Agent not found' },
        502: { description: 'Agent unreachable or refused' },
      },
    },
    async ({ params }, ctx) => {
      const agent = await load(deps, params.agent_id);
      if (!agent.hostname && !(await deps.settings.get('operational.agent_direct_url'))) {
        throw badRequest('Agent does not have a tunnel hostname - cannot call /api/undeploy');
      }
      const actor = ctx.state.session?.github_login ?? ctx.state.session?.auth_method ?? 'admin';
      try {
        if (agent.current_deployment_id) {
          const res = await deps.workflows.deployments.undeployDeployment(agent.current_deployment_id, { actor });
          if (res) return { status: 'undeployed' as const, agent_id: agent.agent_id, deployment_id: res.deploymentId };
        }
        const res = await deps.workflows.deployments.undeployAgent({ agentId: agent.agent_id, actor }, randomUUID());
        return { status: 'undeployed' as const, agent_id: agent.agent_id, deployment_id: res.stoppedDeploymentId };
      } catch (err) {
        throw httpErrorOf(err, 'Agent undeploy failed');
      }
    },
  );
}
