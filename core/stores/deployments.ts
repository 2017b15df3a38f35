/**
 * Deployments (table `deployments`) and the agent-side half of their transitions. Every transition is a
 * conditional update on the expected status, so a retried activity or a late callback can never move a
 * deployment backwards; the count tells the caller whether it happened.
 *
 * Statuses: DeploymentStatus (core/deployment-status.ts). The row is written by the `deployment:<id>` workflow's
 * activities (and billing's stop of an unfunded one), never by the API.
 */
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { DeploymentStatus } from '../deployment-status';
import { parseJsonColumn, requireIso, toIso, type DeploymentRow } from '../db/tables';
import { keysetPage, keyTime } from '../db/keyset';
import type { Page, PageRequest } from '../pagination';
import { hasPendingReset } from './failover';

export interface Deployment {
  deployment_id: string;
  /** base64 compose YAML */
  compose: string;
  config: Record<string, unknown>;
  agent_id: string;
  status: DeploymentStatus;
  service_id: string | null;
  attestation: unknown;
  error: string | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  account_id: string | null;
  app_name: string | null;
  app_version: string | null;
  sla_class: string;
  machine_size: string;
  cpu_vcpus: number;
  memory_gb: number;
  gpu_count: number;
  last_charge_time: string | null;
  /** micro-dollars */
  total_charged: number;
  /** Verified repository_owner of the OIDC token that deployed it; null for API-key deploys. */
  github_owner: string | null;
}

export function toDeployment(row: DeploymentRow): Deployment {
  return {
    deployment_id: row.deployment_id,
    compose: row.compose,
    config: parseJsonColumn<Record<string, unknown>>(row.config, {}),
    agent_id: row.agent_id,
    status: row.status,
    service_id: row.service_id,
    attestation: parseJsonColumn<unknown>(row.attestation, null),
    error: row.error,
    created_at: requireIso(row.created_at),
    started_at: toIso(row.started_at),
    completed_at: toIso(row.completed_at),
    account_id: row.account_id,
    app_name: row.app_name,
    app_version: row.app_version,
    sla_class: row.sla_class,
    machine_size: row.machine_size,
    cpu_vcpus: Number(row.cpu_vcpus),
    memory_gb: Number(row.memory_gb),
    gpu_count: Number(row.gpu_count),
    last_charge_time: toIso(row.last_charge_time),
    total_charged: Number(row.total_charged),
    github_owner: row.github_owner ?? null,
  };
}

/** What a deploy request supplies; the rest (agent, status, times) is set as the deployment moves on. */
/** `encrypted_env`: the JSON {enc, ct} envelope as the client sealed it (issue #17), never shown in views. */
export type NewDeployment = { encrypted_env?: string | null } & Pick<
  Deployment,
  | 'deployment_id'
  | 'compose'
  | 'config'
  | 'account_id'
  | 'app_name'
  | 'app_version'
  | 'sla_class'
  | 'machine_size'
  | 'cpu_vcpus'
  | 'memory_gb'
  | 'gpu_count'
  | 'created_at'
  | 'github_owner'
>;

/**
 * A new `pending` deployment, not yet placed (agent_id '' until the workflow reserves an agent). Idempotent: a retried
 * insert of the same id leaves the first row as it is (the workflow's first activity may run twice).
 */
export async function insertDeployment(db: Knex, d: NewDeployment): Promise<void> {
  await db('deployments')
    .insert({ ...d, config: JSON.stringify(d.config), agent_id: '', status: 'pending' })
    .onConflict('deployment_id')
    .ignore();
}

/** Stages a compose file by its digest for the workflow that creates the row; returns the digest. */
export async function stageCompose(db: Knex, compose: string, now: string): Promise<string> {
  const sha256 = createHash('sha256').update(compose).digest('hex');
  await db('compose_blobs').insert({ sha256, compose, created_at: now }).onConflict('sha256').ignore();
  return sha256;
}

export async function stagedCompose(db: Knex, sha256: string): Promise<string | null> {
  const row = (await db('compose_blobs').where({ sha256 }).first('compose')) as { compose: string } | undefined;
  return row?.compose ?? null;
}

/** Deployments of an account that hold or may soon hold an agent (pending, deploying, running, reassigning). */
export async function countActiveDeployments(db: Knex, accountId: string): Promise<number> {
  const r = await db('deployments')
    .where({ account_id: accountId })
    .whereIn('status', ['pending', 'deploying', 'running', 'reassigning'])
    .count({ n: '*' })
    .first();
  return Number(r?.n ?? 0);
}

export async function getDeployment(db: Knex, id: string): Promise<Deployment | null> {
  const row = await db<DeploymentRow>('deployments').where({ deployment_id: id }).first();
  return row ? toDeployment(row) : null;
}

/** Account and OIDC owner of each given deployment (for upgrade checks in placement). */
export async function deploymentOwners(
  db: Knex,
  ids: readonly string[],
): Promise<Map<string, { account_id: string | null; github_owner: string | null }>> {
  const out = new Map<string, { account_id: string | null; github_owner: string | null }>();
  for (let i = 0; i < ids.length; i += 500) {
    const rows = (await db('deployments')
      .whereIn('deployment_id', ids.slice(i, i + 500) as string[])
      .select('deployment_id', 'account_id', 'github_owner')) as {
      deployment_id: string;
      account_id: string | null;
      github_owner: string | null;
    }[];
    for (const r of rows) out.set(r.deployment_id, { account_id: r.account_id, github_owner: r.github_owner });
  }
  return out;
}

export interface DeploymentFilter {
  status?: string;
  agentId?: string;
  agentIds?: readonly string[];
  accountId?: string;
}

function deploymentsQuery(db: Knex, filter: DeploymentFilter): Knex.QueryBuilder {
  const q = db<DeploymentRow>('deployments');
  if (filter.status) q.where('status', filter.status);
  if (filter.agentId) q.where({ agent_id: filter.agentId });
  if (filter.accountId) q.where({ account_id: filter.accountId });
  if (filter.agentIds) q.whereIn('agent_id', filter.agentIds as string[]);
  return q;
}

/** Newest first, served by the deployments_created_at_deployment_id index. */
const DEPLOYMENT_KEY = ['created_at', 'deployment_id'] as const;

export async function listDeployments(db: Knex, filter: DeploymentFilter & { limit?: number }): Promise<Deployment[]> {
  if (filter.agentIds?.length === 0) return [];
  const q = deploymentsQuery(db, filter).orderBy(DEPLOYMENT_KEY.map((column) => ({ column, order: 'desc' })));
  if (filter.limit) q.limit(filter.limit);
  return ((await q) as DeploymentRow[]).map(toDeployment);
}

/** One keyset page of `listDeployments` (newest first). */
export async function listDeploymentsPage(
  db: Knex,
  filter: DeploymentFilter,
  page: PageRequest,
): Promise<Page<Deployment>> {
  if (filter.agentIds?.length === 0) return { items: [], next: null };
  const p = await keysetPage<DeploymentRow>(deploymentsQuery(db, filter), DEPLOYMENT_KEY, 'desc', page, (r) => [
    keyTime(r.created_at),
    r.deployment_id,
  ]);
  return { items: p.items.map(toDeployment), next: p.next };
}

/**
 * Atomically claim a free agent for a deployment: `UPDATE agents SET status='deploying', current_deployment_id=?
 * WHERE agent_id=? AND status=<expected>` and check the count, then place the (still pending) deployment on it in
 * the same transaction. Two concurrent deploys can never both claim one agent. Re-running it for the same
 * deployment (activity retry) finds the agent already claimed by this deployment and reports success.
 */
export async function reserveAgentForDeployment(
  db: Knex,
  input: { deploymentId: string; agentId: string; expectedStatus: string; expectedApp?: string | null; now: string },
): Promise<boolean> {
  return db.transaction(async (trx) => {
    const mine = await trx('agents')
      .where({ agent_id: input.agentId, current_deployment_id: input.deploymentId, status: 'deploying' })
      .first('agent_id');
    if (!mine) {
      // An agent a deployment failed over from may still run that workload: not placeable until it is reset.
      if (await hasPendingReset(trx, input.agentId)) return false;
      const q = trx('agents').where({ agent_id: input.agentId, status: input.expectedStatus });
      if (input.expectedApp !== undefined) q.where({ deployed_app: input.expectedApp });
      const n = await q.update({
        status: 'deploying',
        current_deployment_id: input.deploymentId,
        last_heartbeat: input.now,
      });
      if (n !== 1) return false;
    }
    await trx('deployments')
      .where({ deployment_id: input.deploymentId })
      .whereIn('status', ['pending', 'deploying'])
      .update({ agent_id: input.agentId, status: 'deploying' });
    return true;
  });
}

/** Conditional status change; returns whether the row was in one of `from`. */
export async function transitionDeployment(
  db: Knex | Knex.Transaction,
  deploymentId: string,
  from: readonly DeploymentStatus[],
  patch: Partial<Record<keyof DeploymentRow, unknown>> & { status: DeploymentStatus },
): Promise<boolean> {
  const n = await db('deployments')
    .where({ deployment_id: deploymentId })
    .whereIn('status', from as string[])
    .update(patch);
  return n > 0;
}

/** Free the agent if (and only if) it still holds this deployment. */
export async function releaseAgent(
  db: Knex | Knex.Transaction,
  agentId: string,
  deploymentId: string,
): Promise<boolean> {
  const n = await db('agents')
    .where({ agent_id: agentId, current_deployment_id: deploymentId })
    .update({ status: 'undeployed', current_deployment_id: null, deployed_app: null });
  return n > 0;
}

/** What an agent's `deployed` callback reports about a deployment it now runs. */
export interface RunningReport {
  deploymentId: string;
  agentId: string;
  serviceId?: string | null;
  attestation?: Record<string, unknown> | null;
}

/** The row fields of a deployment its agent reports running. */
export function runningFields(input: RunningReport) {
  return {
    status: 'running' as const,
    error: null,
    service_id: input.serviceId ?? null,
    attestation: input.attestation ? JSON.stringify(input.attestation) : null,
  };
}

/** The agent that holds the deployment becomes `deployed` with its app. */
export async function markAgentDeployed(
  trx: Knex.Transaction | Knex,
  input: RunningReport,
  appName: string | null,
  ts: string,
): Promise<void> {
  await trx('agents')
    .where({ agent_id: input.agentId, current_deployment_id: input.deploymentId })
    .update({ status: 'deployed', deployed_app: appName, last_heartbeat: ts });
}
