/**
 * Deploy (SEED `POST /api/v1/deploy`, api.md §4): always authenticated (API key or GitHub Actions OIDC), the owner
 * scope comes from the credential — never from the body (`account_id`/`github_owner` in a body are ignored).
 * The handler validates, evaluates placement (core/placement.ts) and then starts the `deployment:<id>` workflow,
 * which claims the agent atomically, pushes and waits for the agent's callback. Dry runs touch nothing.
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'koa';
import { z } from 'zod';
import { LISTS, cursorParam, nextCursor, nextCursorField, pageRequest } from '../http/pagination';
import { ownerIdentities } from '../../core/auth/github-oidc';
import { type AgentRow, type CapacityPoolTargetRow, toBool } from '../../core/db/tables';
import { HttpError, badRequest, forbidden, notFound, serviceUnavailable, unprocessable } from '../http/errors';
import { microsToUsd } from '../../core/money';
import { NODE_SIZES, cloudOf, evaluatePlacement, type OwnerScope, type PlacementResult } from '../../core/placement';
import { MIN_BILLABLE, hourlyCostMicros } from '../../core/pricing';
import { settingBool, settingInt } from '../../core/settings/read';
import { accountIdentities, findDeployerLinkedTo, type Account } from '../../core/stores/accounts';
import {
  deploymentOwners,
  getDeployment,
  listDeployments,
  listDeploymentsPage,
  stageCompose,
  type Deployment,
} from '../../core/stores/deployments';
import { getBalance } from '../../core/stores/ledger';
import { isDeploymentParty, viewerOf, type Viewer } from '../access';
import { httpErrorOf } from '../failures';
import type { AppDeps } from '../deps';
import type { Routes } from '../http/route';

const MAX_COMPOSE_BYTES = 1024 * 1024;
const dcEntry = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z0-9][a-z0-9._-]*(:[a-z0-9][a-z0-9._-]*)?$/, 'datacenter must look like <cloud> or <cloud>:<zone>');
const cloudEntry = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z0-9][a-z0-9._-]*$/, 'cloud must be a single token such as gcp, azure, baremetal');

export const DeployBody = z.object({
  compose: z
    .string()
    .min(1, 'compose is required')
    .describe('docker-compose YAML, as text or base64 (v1 actions send base64)'),
  app_name: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'app_name: letters, digits, . _ - (max 128)')
    .optional(),
  app_version: z.string().max(128).optional(),
  config: z.record(z.string(), z.unknown()).optional().default({}),
  agent_id: z.string().nullish().describe('Explicit agent: a free agent you may use, or an upgrade of the same app'),
  node_size: z
    .string()
    .trim()
    .toLowerCase()
    .refine((v) => v === '' || (NODE_SIZES as readonly string[]).includes(v), {
      message: `node_size must be empty or one of ${NODE_SIZES.join(', ')}`,
    })
    .optional()
    .default(''),
  dry_run: z.boolean().optional().default(false),
  allowed_datacenters: z.array(dcEntry).max(100).optional().default([]),
  denied_datacenters: z.array(dcEntry).max(100).optional().default([]),
  allowed_clouds: z.array(cloudEntry).max(20).optional().default([]),
  denied_clouds: z.array(cloudEntry).max(20).optional().default([]),
  allow_measuring_enclave_fallback: z.boolean().optional().default(false),
  sla_class: z.string().max(32).optional().default('adhoc'),
  machine_size: z.string().max(32).optional().default('default'),
  cpu_vcpus: z
    .number()
    .min(MIN_BILLABLE.cpuVcpus, `cpu_vcpus must be at least ${MIN_BILLABLE.cpuVcpus} (the smallest billable unit)`)
    .max(1024)
    .optional()
    .default(2),
  memory_gb: z
    .number()
    .min(MIN_BILLABLE.memoryGb, `memory_gb must be at least ${MIN_BILLABLE.memoryGb} (the smallest billable unit)`)
    .max(16384)
    .optional()
    .default(4),
  gpu_count: z.number().int().min(0).max(64).optional().default(0),
});
export type DeployInput = z.output<typeof DeployBody>;

const Issue = z.object({
  code: z.string(),
  message: z.string(),
  agent_id: z.string().nullable(),
  node_size: z.string().nullable(),
  datacenter: z.string().nullable(),
});
export const Preflight = z.object({
  dry_run: z.literal(true),
  eligible: z.boolean(),
  selected_agent_id: z.string().nullable(),
  selected_node_size: z.string().nullable(),
  selected_datacenter: z.string().nullable(),
  selected_cloud: z.string().nullable(),
  reason: z.string().describe('Why the agent was chosen, or why none was'),
  owner_scope: z.string(),
  issues: z.array(Issue),
});
const DeployAccepted = z.object({
  deployment_id: z.string(),
  agent_id: z.string().nullable().describe('null when accepted before an agent was chosen: follow Location'),
  status: z.string(),
  workflow_id: z.string(),
});
export const DeploymentView = z.object({
  deployment_id: z.string(),
  agent_id: z.string(),
  status: z.string(),
  app_name: z.string().nullable(),
  app_version: z.string().nullable(),
  account_id: z.string().nullable(),
  compose: z
    .string()
    .nullable()
    .describe('base64 compose; null unless the caller is the deployment’s account, its OIDC owner or an admin'),
  config: z
    .record(z.string(), z.unknown())
    .nullable()
    .describe('Request config; null unless the caller is the deployment’s account, its OIDC owner or an admin'),
  service_id: z.string().nullable(),
  attestation: z.unknown(),
  error: z.string().nullable(),
  created_at: z.string(),
  started_at: z.string().nullable(),
  completed_at: z.string().nullable(),
  sla_class: z.string(),
  machine_size: z.string(),
  cpu_vcpus: z.number(),
  memory_gb: z.number(),
  gpu_count: z.number(),
  last_charge_time: z.string().nullable(),
  total_charged: z.number().describe('USD'),
});

/** Public metadata for everyone; compose and config only for the deployment's parties (`isDeploymentParty`). */
export function deploymentView(d: Deployment, viewer: Viewer | null): z.infer<typeof DeploymentView> {
  const party = isDeploymentParty(viewer, d);
  return {
    deployment_id: d.deployment_id,
    agent_id: d.agent_id,
    status: d.status,
    app_name: d.app_name,
    app_version: d.app_version,
    account_id: d.account_id,
    compose: party ? d.compose : null,
    config: party ? d.config : null,
    service_id: d.service_id,
    attestation: d.attestation,
    error: d.error,
    created_at: d.created_at,
    started_at: d.started_at,
    completed_at: d.completed_at,
    sla_class: d.sla_class,
    machine_size: d.machine_size,
    cpu_vcpus: d.cpu_vcpus,
    memory_gb: d.memory_gb,
    gpu_count: d.gpu_count,
    last_charge_time: d.last_charge_time,
    total_charged: microsToUsd(d.total_charged),
  };
}

/** Compose as stored (base64) after checking it is a compose file with top-level services. */
export function normalizeCompose(input: string): string {
  const trimmed = input.trim();
  let text = trimmed;
  if (/^[A-Za-z0-9+/=\r\n]+$/.test(trimmed) && !trimmed.includes(':')) {
    text = Buffer.from(trimmed, 'base64').toString('utf8');
  }
  if (Buffer.byteLength(text) > MAX_COMPOSE_BYTES) throw unprocessable(`compose exceeds ${MAX_COMPOSE_BYTES} bytes`);
  if (!/^services\s*:/m.test(text)) {
    throw unprocessable("compose must be a docker compose file with a top-level 'services' key");
  }
  return Buffer.from(text, 'utf8').toString('base64');
}

interface Caller {
  owner: OwnerScope;
  account: Account | null;
  /** Verified repository_owner of an OIDC caller; null for API keys. */
  oidcOwner: string | null;
}

export async function callerOf(deps: AppDeps, ctx: Context): Promise<Caller> {
  const oidc = ctx.state.oidc;
  if (oidc) {
    const identities = ownerIdentities(oidc);
    // A deployer account linked to the owner (github_login or github_org) pays for it, when there is one.
    const linked = await findDeployerLinkedTo(deps.db, identities);
    return {
      owner: { identities, allowUnowned: false, label: `repository_owner '${oidc.repository_owner}'` },
      account: linked ?? null,
      oidcOwner: oidc.repository_owner,
    };
  }
  const account = ctx.state.account!;
  if (account.account_type !== 'deployer') throw forbidden('Deployer API key required');
  return {
    owner: { identities: accountIdentities(account), allowUnowned: true, label: `account '${account.name}'` },
    account,
    oidcOwner: null,
  };
}

async function evaluate(deps: AppDeps, caller: Caller, body: DeployInput): Promise<PlacementResult> {
  const agents = (await deps.db<AgentRow>('agents').orderBy([
    { column: 'registered_at', order: 'asc' },
    { column: 'agent_id', order: 'asc' },
  ])) as AgentRow[];
  const targets = (await deps.db<CapacityPoolTargetRow>('capacity_pool_targets')) as CapacityPoolTargetRow[];
  const owners = await deploymentOwners(
    deps.db,
    agents.map((a) => a.current_deployment_id).filter((id): id is string => !!id),
  );
  let funds: { balanceMicros: number; hourlyCostMicros: number } | undefined;
  if (await settingBool(deps.settings, 'billing.enabled')) {
    const hourly = hourlyCostMicros({
      cpuVcpus: body.cpu_vcpus,
      memoryGb: body.memory_gb,
      gpuCount: body.gpu_count,
      slaClass: body.sla_class,
      machineSize: body.machine_size,
    });
    // What is billed must cost something: a free deployment would run on paper only.
    if (hourly <= 0)
      throw unprocessable('The requested resources have an hourly price of $0; nothing free is deployed');
    if (caller.account)
      funds = { balanceMicros: await getBalance(deps.db, caller.account.account_id), hourlyCostMicros: hourly };
  }
  return evaluatePlacement({
    request: {
      appName: body.app_name ?? null,
      agentId: body.agent_id ?? null,
      nodeSize: body.node_size,
      allowedDatacenters: body.allowed_datacenters,
      deniedDatacenters: body.denied_datacenters,
      allowedClouds: body.allowed_clouds,
      deniedClouds: body.denied_clouds,
      allowMeasuringEnclaveFallback: body.allow_measuring_enclave_fallback,
    },
    owner: caller.owner,
    agents: agents.map((a) => ({
      agent_id: a.agent_id,
      status: a.status,
      node_size: a.node_size,
      datacenter: a.datacenter,
      verified: toBool(a.verified),
      verification_error: a.verification_error,
      hostname: a.hostname,
      health_status: a.health_status,
      deployed_app: a.deployed_app,
      github_owner: a.github_owner,
      current_deployment: a.current_deployment_id ? (owners.get(a.current_deployment_id) ?? null) : null,
    })),
    enabledTargets: targets.filter((t) => toBool(t.enabled)),
    funds,
    caller: { account_id: caller.account?.account_id ?? null, github_owner: caller.oidcOwner },
    allowInsecureLocalAgents: await settingBool(deps.settings, 'operational.allow_insecure_local_agents'),
  });
}

function preflightView(p: PlacementResult, caller: Caller): z.infer<typeof Preflight> {
  const s = p.selected;
  return {
    dry_run: true,
    eligible: p.eligible,
    selected_agent_id: s?.agent_id ?? null,
    selected_node_size: s?.node_size ? s.node_size : null,
    selected_datacenter: s?.datacenter ? s.datacenter : null,
    selected_cloud: s ? cloudOf(s.datacenter) || null : null,
    reason: p.reason,
    owner_scope: caller.owner.label,
    issues: p.issues,
  };
}

/** The deploy of POST /api/v1/deploy, for the catalog aliases (api/routes/catalog-deploy.ts). */
export type DeployFn = (body: DeployInput, ctx: Context, forceDryRun: boolean) => Promise<unknown>;

export function deployRoutes(routes: Routes, deps: AppDeps): DeployFn {
  const responses = {
    200: { description: 'Dry run: the preflight object (also when ineligible)', schema: Preflight },
    202: { description: 'Accepted: the deployment workflow claimed the agent and is pushing', schema: DeployAccepted },
    400: { description: 'Policy conflict / explicit agent refused' },
    401: { description: 'Missing or invalid API key / OIDC token' },
    402: { description: 'Insufficient funds' },
    403: { description: 'Not a deployer key / agent not yours / not verified' },
    404: { description: 'Explicit agent not found' },
    422: { description: 'Invalid body (compose, node_size, lists…)' },
    503: { description: 'No eligible agents' },
  };

  const deploy = async (body: DeployInput, ctx: Context, forceDryRun: boolean) => {
    const caller = await callerOf(deps, ctx);
    const compose = normalizeCompose(body.compose);
    const placement = await evaluate(deps, caller, body);
    if (forceDryRun || body.dry_run) return preflightView(placement, caller);
    if (!placement.eligible || !placement.selected) {
      const e = placement.error ?? { status: 503, detail: 'No eligible agents available for deployment' };
      throw new HttpError(e.status, e.detail);
    }

    const deploymentId = randomUUID();
    const config: Record<string, unknown> = { ...body.config };
    if (body.app_name && config.service_name === undefined) config.service_name = body.app_name;
    if (body.app_name) config.app_name = body.app_name;
    const createdAt = deps.now().toISOString();
    // The compose is staged by digest; the workflow inserts the deployments row itself as its first step.
    const composeSha256 = await stageCompose(deps.db, compose, createdAt);
    const timeout = await settingInt(deps.settings, 'operational.deploy_callback_timeout_seconds');
    const answer = await deps.workflows.deployments.startDeployment({
      deploymentId,
      record: {
        composeSha256,
        config,
        accountId: caller.account?.account_id ?? null,
        appName: body.app_name ?? null,
        appVersion: body.app_version ?? null,
        slaClass: body.sla_class,
        machineSize: body.machine_size,
        cpuVcpus: body.cpu_vcpus,
        memoryGb: body.memory_gb,
        gpuCount: body.gpu_count,
        createdAt,
        githubOwner: caller.oidcOwner,
      },
      candidates: placement.candidates,
      callbackTimeoutSeconds: Math.max(1, timeout),
    });
    if (answer && !answer.ok) throw serviceUnavailable(answer.error);
    const current = await getDeployment(deps.db, deploymentId);
    ctx.status = 202;
    ctx.set('Location', `/api/v1/deployments/${deploymentId}`);
    return {
      deployment_id: deploymentId,
      // null: accepted, the agent is not chosen yet (follow Location).
      agent_id: answer ? answer.agentId : null,
      status: current?.status ?? 'pending',
      workflow_id: `deployment:${deploymentId}`,
    };
  };

  routes.add(
    {
      method: 'post',
      path: '/api/v1/deploy',
      summary:
        'Deploy a compose file to an eligible agent (API key or GitHub Actions OIDC); dry_run explains the choice',
      tag: 'deployments',
      auth: 'deployer',
      body: DeployBody,
      responses,
    },
    ({ body }, ctx) => deploy(body, ctx, false),
  );

  routes.add(
    {
      method: 'post',
      path: '/api/v1/deploy/preflight',
      summary: 'Same as a dry run of /api/v1/deploy: which agent would be chosen and why; never changes anything',
      tag: 'deployments',
      auth: 'deployer',
      body: DeployBody,
      responses: { 200: { description: 'Preflight', schema: Preflight } },
    },
    ({ body }, ctx) => deploy(body, ctx, true),
  );

  routes.add(
    {
      method: 'get',
      path: '/api/v1/deployments',
      summary:
        'List deployments, newest first; compose and config are shown only to each deployment’s account, OIDC ' +
        'owner or an admin',
      tag: 'deployments',
      auth: 'viewer',
      etag: true,
      query: z.object({
        status: z.string().optional(),
        agent_id: z.string().optional(),
        // v1's bounds (1-1000, default 500 rows) stay, for v1 clients; giving it is cursor mode.
        limit: z.coerce
          .number()
          .int()
          .min(1)
          .max(1000)
          .optional()
          .describe('At most this many (1-1000; default 500); with limit or cursor the response carries next_cursor'),
        cursor: cursorParam(LISTS.deployments),
      }),
      responses: {
        200: {
          description: 'Deployments',
          schema: z.object({ deployments: z.array(DeploymentView), total: z.number(), next_cursor: nextCursorField }),
          links: {
            GetDeployment: {
              operation: 'get /api/v1/deployments/:deployment_id',
              parameters: { deployment_id: '$response.body#/deployments/0/deployment_id' },
              description: 'The newest deployment listed',
            },
          },
        },
      },
    },
    async ({ query }, ctx) => {
      const filter = { status: query.status, agentId: query.agent_id };
      const viewer = viewerOf(ctx);
      const page = pageRequest(query);
      if (!page) {
        const rows = await listDeployments(deps.db, { ...filter, limit: 500 });
        return { deployments: rows.map((d) => deploymentView(d, viewer)), total: rows.length };
      }
      const p = await listDeploymentsPage(deps.db, filter, page);
      return {
        deployments: p.items.map((d) => deploymentView(d, viewer)),
        total: p.items.length,
        next_cursor: nextCursor(LISTS.deployments, p),
      };
    },
  );

  routes.add(
    {
      method: 'get',
      path: '/api/v1/deployments/:deployment_id',
      summary: 'One deployment; compose and config only for its account, OIDC owner or an admin',
      tag: 'deployments',
      auth: 'viewer',
      params: z.object({ deployment_id: z.string() }),
      etag: true,
      responses: {
        200: { description: 'Deployment', schema: DeploymentView },
        401: { description: 'A credential was sent and is invalid' },
        404: { description: 'Not found' },
      },
    },
    async ({ params }, ctx) => {
      const d = await getDeployment(deps.db, params.deployment_id);
      if (!d) throw notFound('Deployment not found');
      return deploymentView(d, viewerOf(ctx));
    },
  );

  routes.add(
    {
      method: 'post',
      path: '/api/v1/agents/:agent_id/undeploy',
      summary: 'Stop the workload on an agent through its deployment workflow and free the agent (admin)',
      tag: 'deployments',
      auth: 'admin',
      params: z.object({ agent_id: z.string() }),
      responses: {
        200: {
          description: 'Undeployed',
          schema: z.object({
            status: z.literal('undeployed'),
            agent_id: z.string(),
            deployment_id: z.string().nullable(),
          }),
        },
        400: { description: 'Agent has no address' },
        404: { description: 'Agent not found' },
        502: { description: 'Agent unreachable or refused' },
      },
    },
    async ({ params }, ctx) => {
      const agent = (await deps.db<AgentRow>('agents').where({ agent_id: params.agent_id }).first()) as
        AgentRow | undefined;
      if (!agent) throw notFound('Agent not found');
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
  return deploy;
}
