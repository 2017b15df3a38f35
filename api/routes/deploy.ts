/**
 * Deploy (SEED `POST /api/v1/deploy`, api.md §4): always authenticated (API key or GitHub Actions OIDC), the owner
 * scope comes from the credential — never from the body (`account_id`/`github_owner` in a body are ignored).
 * The handler validates, evaluates placement (core/placement.ts over core/stores/placement.ts) and then starts the
 * `deployment:<id>` workflow, which claims the agent atomically, pushes and waits for the agent's callback. Dry runs
 * touch nothing. Shapes: ./deploy-schemas.ts; answers: ../views/deployments.ts; the admin undeploy of an agent is
 * in ./agents-admin.ts.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { Context } from 'koa';
import { z } from 'zod';
import { LISTS, nextCursor, nextCursorField, pageRequest } from '../http/pagination';
import { ownerIdentities } from '../../core/auth/github-oidc';
import { ComposeError, normalizeDeployCompose } from '../../core/compose';
import { HttpError, conflict, forbidden, notFound, serviceUnavailable, unprocessable } from '../http/errors';
import { evaluatePlacement, type OwnerScope, type PlacementRequest, type PlacementResult } from '../../core/placement';
import { hourlyCostMicros } from '../../core/pricing';
import { settingBool, settingInt } from '../../core/settings/read';
import { accountIdentities, findDeployerLinkedTo, type Account } from '../../core/stores/accounts';
import { getDeployment, listDeployments, listDeploymentsPage, stageCompose } from '../../core/stores/deployments';
import { listReassignments } from '../../core/stores/failover';
import { getBalance } from '../../core/stores/ledger';
import { loadPlacementInputs } from '../../core/stores/placement';
import { viewerOf } from '../access';
import type { AppDeps } from '../deps';
import type { Routes } from '../http/route';
import { deploymentView, preflightView } from '../views/deployments';
import {
  DeployAccepted,
  DeployBody,
  DeploymentDetail,
  DeploymentView,
  DeploymentsQuery,
  Preflight,
  type DeployInput,
} from './deploy-schemas';
import { checkEncryptedDeploy } from './deploy-secrets';

/** Compose as stored (base64); a compose that is too big or has no top-level services is a 422. */
function composeOf(input: string): string {
  try {
    return normalizeDeployCompose(input);
  } catch (err) {
    if (err instanceof ComposeError) throw unprocessable(err.message);
    throw err;
  }
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

/** What is priced and recorded of a request: its SLA class, machine size and resources. */
const sizingOf = (body: DeployInput) => ({
  slaClass: body.sla_class,
  machineSize: body.machine_size,
  cpuVcpus: body.cpu_vcpus,
  memoryGb: body.memory_gb,
  gpuCount: body.gpu_count,
});

/** What the caller can afford, when billing is on; a request priced at $0 is refused (nothing free is deployed). */
async function fundsOf(
  deps: AppDeps,
  caller: Caller,
  body: DeployInput,
): Promise<{ balanceMicros: number; hourlyCostMicros: number } | undefined> {
  if (!(await settingBool(deps.settings, 'billing.enabled'))) return undefined;
  const hourly = hourlyCostMicros(sizingOf(body));
  // What is billed must cost something: a free deployment would run on paper only.
  if (hourly <= 0) throw unprocessable('The requested resources have an hourly price of $0; nothing free is deployed');
  if (!caller.account) return undefined;
  return { balanceMicros: await getBalance(deps.db, caller.account.account_id), hourlyCostMicros: hourly };
}

async function evaluate(deps: AppDeps, caller: Caller, body: DeployInput): Promise<PlacementResult> {
  const { agents, enabledTargets } = await loadPlacementInputs(deps.db);
  const funds = await fundsOf(deps, caller, body);
  return evaluatePlacement({
    request: placementRequestOf(body),
    owner: caller.owner,
    agents,
    enabledTargets,
    funds,
    caller: { account_id: caller.account?.account_id ?? null, github_owner: caller.oidcOwner },
    allowInsecureLocalAgents: await settingBool(deps.settings, 'operational.allow_insecure_local_agents'),
  });
}

/** The request's placement constraints (also kept in the workflow input, for a failover to place again). */
function placementRequestOf(body: DeployInput): PlacementRequest {
  return {
    appName: body.app_name ?? null,
    agentId: body.agent_id ?? null,
    nodeSize: body.node_size,
    allowedDatacenters: body.allowed_datacenters,
    deniedDatacenters: body.denied_datacenters,
    allowedClouds: body.allowed_clouds,
    deniedClouds: body.denied_clouds,
    allowMeasuringEnclaveFallback: body.allow_measuring_enclave_fallback,
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
    409: { description: 'deployment_id already exists' },
    422: { description: 'Invalid body (compose, node_size, lists…)' },
    503: { description: 'No eligible agents' },
  };

  const startOnce = (id: string, input: Parameters<typeof deps.workflows.deployments.startDeployment>[0]) =>
    deps.workflows.deployments.startDeployment(input).catch((err: unknown) => {
      if (err instanceof WorkflowExecutionAlreadyStartedError) throw conflict(`Deployment ${id} already exists`);
      throw err;
    });

  const deploy = async (body: DeployInput, ctx: Context, forceDryRun: boolean) => {
    const caller = await callerOf(deps, ctx);
    const compose = composeOf(body.compose);
    const placement = await evaluate(deps, caller, body);
    if (forceDryRun || body.dry_run) return preflightView(placement, caller.owner);
    await checkEncryptedDeploy(deps, body);
    if (!placement.eligible || !placement.selected) {
      const e = placement.error ?? { status: 503, detail: 'No eligible agents available for deployment' };
      throw new HttpError(e.status, e.detail);
    }

    const deploymentId = body.deployment_id ?? randomUUID();
    const config: Record<string, unknown> = { ...body.config };
    if (body.app_name && config.service_name === undefined) config.service_name = body.app_name;
    if (body.app_name) config.app_name = body.app_name;
    const createdAt = deps.now().toISOString();
    // The compose is staged by digest; the workflow inserts the deployments row itself as its first step.
    const composeSha256 = await stageCompose(deps.db, compose, createdAt);
    const timeout = await settingInt(deps.settings, 'operational.deploy_callback_timeout_seconds');
    const answer = await startOnce(deploymentId, {
      deploymentId,
      record: {
        composeSha256,
        config,
        accountId: caller.account?.account_id ?? null,
        appName: body.app_name ?? null,
        appVersion: body.app_version ?? null,
        ...sizingOf(body),
        createdAt,
        githubOwner: caller.oidcOwner,
        ...(body.encrypted_env ? { encryptedEnv: body.encrypted_env } : {}),
      },
      candidates: placement.candidates,
      callbackTimeoutSeconds: Math.max(1, timeout),
      placement: { request: placementRequestOf(body), owner: caller.owner },
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
      query: DeploymentsQuery,
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
        200: { description: 'Deployment, with its failovers', schema: DeploymentDetail },
        401: { description: 'A credential was sent and is invalid' },
        404: { description: 'Not found' },
      },
    },
    async ({ params }, ctx) => {
      const d = await getDeployment(deps.db, params.deployment_id);
      if (!d) throw notFound('Deployment not found');
      const moves = await listReassignments(deps.db, d.deployment_id);
      return {
        ...deploymentView(d, viewerOf(ctx)),
        reassignments: moves.map((m) => ({
          from_agent_id: m.from_agent_id,
          to_agent_id: m.to_agent_id,
          at: m.at,
          reason: m.reason,
          completed_at: m.completed_at,
          outcome: m.outcome,
        })),
      };
    },
  );

  return deploy;
}
