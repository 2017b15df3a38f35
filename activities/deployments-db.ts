/**
 * Database steps of the deployment workflow. Each is idempotent: a conditional update on the expected status (or
 * on the agent still holding this deployment), so a retry or a replayed activity lands in the same end state.
 */
import { ACTIVE_DEPLOYMENT_STATUSES } from '../core/deployment-status';
import { consumeClaimedAgent } from '../core/stores/capacity';
import { ApplicationFailure } from '@temporalio/common';
import type { Knex } from 'knex';
import type { AgentRow } from '../core/db/tables';
import {
  getDeployment,
  insertDeployment,
  markAgentDeployed,
  releaseAgent,
  runningFields,
  type RunningReport,
  stagedCompose,
  reserveAgentForDeployment,
  transitionDeployment,
} from '../core/stores/deployments';
import { stopDeploymentWithFinalCharge } from '../core/stores/billing';
import { settingBool, settingInt } from '../core/settings/read';
import type { SettingsReader } from '../core/settings/types';
import type { DeploymentCandidate, DeploymentRecordInput } from '../workflows/contracts/deployments';
import { DeploymentFailure } from '../workflows/contracts/failures';

export interface DeploymentsDbDeps {
  db: Knex;
  settings: SettingsReader;
}

/** What ends a running deployment: the stop time (workflow time) and why, recorded on the row. */
export interface StopDeploymentRequest {
  deploymentId: string;
  agentId: string | null;
  /** Workflow time of the stop; the final period is charged up to here (absent in histories before it existed). */
  stoppedAt?: string;
  reason?: string | null;
}

const ACTIVE = ACTIVE_DEPLOYMENT_STATUSES;

export function createDeploymentsDbActivities({ db, settings }: DeploymentsDbDeps) {
  const now = () => new Date().toISOString();
  return {
    /**
     * The workflow's first step: the `pending` row from the request, the staged compose copied in. Idempotent (insert
     * or leave), so a retry after a lost answer changes nothing.
     */
    async createDeploymentRecord(input: { deploymentId: string; record: DeploymentRecordInput }): Promise<void> {
      const r = input.record;
      const compose = await stagedCompose(db, r.composeSha256);
      if (compose === null) {
        if (await getDeployment(db, input.deploymentId)) return;
        throw ApplicationFailure.nonRetryable(
          `Compose ${r.composeSha256} of deployment ${input.deploymentId} is not staged`,
          DeploymentFailure.ComposeNotStaged,
        );
      }
      await insertDeployment(db, {
        deployment_id: input.deploymentId,
        compose,
        config: r.config,
        account_id: r.accountId,
        app_name: r.appName,
        app_version: r.appVersion,
        sla_class: r.slaClass,
        machine_size: r.machineSize,
        cpu_vcpus: r.cpuVcpus,
        memory_gb: r.memoryGb,
        gpu_count: r.gpuCount,
        created_at: r.createdAt,
        github_owner: r.githubOwner,
        encrypted_env: r.encryptedEnv ? JSON.stringify({ enc: r.encryptedEnv.enc, ct: r.encryptedEnv.ct }) : null,
      });
    },

    /** Claims the first candidate that is still free (atomic per agent); null agent when every one was taken. */
    async reserveDeploymentAgent(input: {
      deploymentId: string;
      candidates: DeploymentCandidate[];
    }): Promise<{ agentId: string | null; hostname: string | null; tried: number }> {
      const d = await getDeployment(db, input.deploymentId);
      if (!d)
        throw ApplicationFailure.nonRetryable(
          `Deployment ${input.deploymentId} not found`,
          DeploymentFailure.DeploymentNotFound,
        );
      // A retry after a successful claim: the deployment already names its agent and that agent holds it.
      if (d.agent_id) {
        const held = (await db<AgentRow>('agents')
          .where({ agent_id: d.agent_id, current_deployment_id: d.deployment_id })
          .first('hostname')) as Pick<AgentRow, 'hostname'> | undefined;
        if (held) return { agentId: d.agent_id, hostname: held.hostname, tried: 0 };
      }
      let tried = 0;
      for (const c of input.candidates) {
        tried += 1;
        const ok = await reserveAgentForDeployment(db, {
          deploymentId: input.deploymentId,
          agentId: c.agentId,
          expectedStatus: c.expectedStatus,
          expectedApp: c.expectedStatus === 'deployed' ? (c.expectedApp ?? null) : undefined,
          now: now(),
        });
        if (ok) {
          // api.md §4.3: the agent's warm reservation is consumed by this deployment (idempotent on retry).
          const { hostname } = await consumeClaimedAgent(db, c.agentId, input.deploymentId);
          return { agentId: c.agentId, hostname, tried };
        }
      }
      return { agentId: null, hostname: null, tried };
    },

    /** deployment → failed (from any active status) and, if given, the agent freed when it still holds it. */
    async failDeployment(input: { deploymentId: string; agentId: string | null; error: string }): Promise<void> {
      await db.transaction(async (trx) => {
        await transitionDeployment(trx, input.deploymentId, ACTIVE, {
          status: 'failed',
          error: input.error.slice(0, 2000),
          completed_at: now(),
        });
        if (input.agentId) await releaseAgent(trx, input.agentId, input.deploymentId);
      });
    },

    /** deploying → running on the agent's callback; the agent becomes `deployed` with this app. */
    async markDeploymentRunning(input: RunningReport): Promise<{ running: boolean }> {
      const d = await getDeployment(db, input.deploymentId);
      if (!d) return { running: false };
      return db.transaction(async (trx) => {
        const ts = now();
        const moved = await transitionDeployment(trx, input.deploymentId, ['pending', 'deploying'], {
          ...runningFields(input),
          started_at: ts,
          completed_at: null,
        });
        if (moved || d.status === 'running') {
          await markAgentDeployed(trx, input, d.app_name, ts);
          // An upgrade replaced the previous deployment of this app on the agent: it is stopped now.
          await trx('deployments')
            .where({ agent_id: input.agentId })
            .whereNot({ deployment_id: input.deploymentId })
            .whereIn('status', ['running', 'deploying', 'pending'])
            .update({ status: 'stopped', completed_at: ts });
        }
        return { running: moved || d.status === 'running' };
      });
    },

    /** running/… → stopped after an undeploy, and the agent freed. */
    /**
     * Ends the deployment: the last partial period is charged (`charge:<id>:final:*`, prorated to the second) and
     * the row becomes `stopped` with its agent freed, in one transaction (core/stores/billing.ts).
     */
    async markDeploymentStopped(input: StopDeploymentRequest): Promise<{ stopped: boolean; finalCharge: number }> {
      const poolBps = await settingInt(settings, 'billing.contributor_pool_bps');
      const r = await stopDeploymentWithFinalCharge(db, {
        deploymentId: input.deploymentId,
        agentId: input.agentId,
        stoppedAt: input.stoppedAt ?? now(),
        reason: input.reason ?? null,
        billingEnabled: await settingBool(settings, 'billing.enabled'),
        contributorPoolBps: Math.min(10_000, Math.max(0, poolBps)),
        platformAccountId: (await settings.get('billing.platform_account_id')).trim(),
      });
      return { stopped: r.stopped, finalCharge: r.final?.status === 'charged' ? r.final.charge : 0 };
    },

    /** The deployment an agent holds now, if any (agent delete/reset end it through its workflow first). */
    async currentDeploymentOf(input: { agentId: string }): Promise<{ deploymentId: string | null }> {
      const a = (await db<AgentRow>('agents').where({ agent_id: input.agentId }).first('current_deployment_id')) as
        Pick<AgentRow, 'current_deployment_id'> | undefined;
      return { deploymentId: a?.current_deployment_id ?? null };
    },

    /** For the undeployAgent workflow: the agent's hostname and current deployment. */
    async loadAgentForUndeploy(input: {
      agentId: string;
    }): Promise<{ found: boolean; hostname: string | null; currentDeploymentId: string | null }> {
      const a = (await db<AgentRow>('agents')
        .where({ agent_id: input.agentId })
        .first('hostname', 'current_deployment_id')) as
        Pick<AgentRow, 'hostname' | 'current_deployment_id'> | undefined;
      return { found: !!a, hostname: a?.hostname ?? null, currentDeploymentId: a?.current_deployment_id ?? null };
    },

    /** Agent → undeployed with nothing placed, whatever it held (admin undeploy without a deployment workflow). */
    async clearAgentDeployment(input: { agentId: string; deploymentId: string | null }): Promise<void> {
      await db.transaction(async (trx) => {
        if (input.deploymentId) {
          await transitionDeployment(trx, input.deploymentId, ACTIVE, { status: 'stopped', completed_at: now() });
        }
        await trx('agents')
          .where({ agent_id: input.agentId })
          .update({ status: 'undeployed', current_deployment_id: null, deployed_app: null });
      });
    },
  };
}

export type DeploymentsDbActivities = ReturnType<typeof createDeploymentsDbActivities>;
