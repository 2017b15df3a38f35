/**
 * Database steps of a failover (issue #20), run by the `deployment:<id>` workflow that owns the row. Each is
 * idempotent: conditional updates on the expected status, ledger keys `charge:<id>:move<seq>:<role>`, inserts that
 * leave an existing row, so a retried or replayed step lands in the same end state.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Knex } from 'knex';
import type { AgentRow } from '../core/db/tables';
import { evaluatePlacement, type OwnerScope, type PlacementRequest } from '../core/placement';
import { settingBool, settingInt } from '../core/settings/read';
import type { SettingsReader } from '../core/settings/types';
import { consumeClaimedAgent } from '../core/stores/capacity';
import { chargeDeployments, moveChargeLabel } from '../core/stores/billing';
import {
  getDeployment,
  markAgentDeployed,
  releaseAgent,
  runningFields,
  transitionDeployment,
  type RunningReport,
} from '../core/stores/deployments';
import { loadPlacementInputs } from '../core/stores/placement';
import {
  completeAgentReset,
  endReassignment,
  insertReassignment,
  pendingResets,
  requestAgentReset,
  setReassignmentTarget,
} from '../core/stores/failover';
import type { DeploymentCandidate, DeploymentPlacement } from '../workflows/contracts/deployments';
import { DeploymentFailure } from '../workflows/contracts/failures';

export interface FailoverDbDeps {
  db: Knex;
  settings: SettingsReader;
}

/**
 * Attested secrets (issue #17): a deployment's `encrypted_env` is HPKE ciphertext sealed to one agent's key, with the
 * deployment and agent ids as associated data; only the client can re-encrypt it for another agent, so such a
 * deployment waits in `reassigning` instead of being pushed.
 */
export const needsFreshCiphertextReason = (agentId: string) => `needs a fresh ciphertext for agent ${agentId}`;

export function createFailoverDbActivities({ db, settings }: FailoverDbDeps) {
  const now = () => new Date().toISOString();
  return {
    /**
     * The move begins, in ONE transaction: the partial period up to `at` is charged to the deployer and credited to
     * the operator of the agent it leaves (`charge:<id>:move<seq>:*`, prorated to the second), the deployment becomes
     * `reassigning` with the reason (not billed from here on), the move is recorded, and the old agent is freed but
     * marked for a reset (not placeable until it has been told to undeploy). `moved: false` when the deployment is not
     * running on that agent any more (the signal came late): nothing changes.
     */
    async beginReassignment(input: {
      deploymentId: string;
      seq: number;
      fromAgentId: string;
      at: string;
      reason: string;
    }): Promise<{ moved: boolean; giveUpSeconds: number }> {
      const giveUpSeconds = Math.max(1, await settingInt(settings, 'operational.reassign_give_up_seconds'));
      const billing = await settingBool(settings, 'billing.enabled');
      const poolBps = Math.min(10_000, Math.max(0, await settingInt(settings, 'billing.contributor_pool_bps')));
      const platformAccountId = (await settings.get('billing.platform_account_id')).trim();
      const moved = await db.transaction(async (trx) => {
        const d = await getDeployment(trx as unknown as Knex, input.deploymentId);
        if (!d) return false;
        // A retry after the commit: the move is already under way.
        if (d.status === 'reassigning') return true;
        if (d.status !== 'running' || d.agent_id !== input.fromAgentId) return false;
        if (billing) {
          await chargeDeployments(trx as unknown as Knex, {
            deploymentIds: [input.deploymentId],
            hour: moveChargeLabel(input.seq),
            chargeTime: input.at,
            contributorPoolBps: poolBps,
            platformAccountId,
          });
        }
        // An unpayable last period leaves it `insufficient_funds` (the terminator's): then it does not move.
        const ok = await transitionDeployment(trx, input.deploymentId, ['running'], {
          status: 'reassigning',
          error: input.reason.slice(0, 2000),
        });
        if (!ok) return false;
        await insertReassignment(trx, input);
        const freed = await releaseAgent(trx, input.fromAgentId, input.deploymentId);
        if (freed || (await trx('agents').where({ agent_id: input.fromAgentId }).first('agent_id'))) {
          await requestAgentReset(trx, { agentId: input.fromAgentId, deploymentId: input.deploymentId, at: input.at });
        }
        return true;
      });
      return { moved, giveUpSeconds };
    },

    /**
     * Where the deployment may go now: the placement rules of a deploy (core/placement.ts) with the request's
     * constraints and owner scope, over free agents only (an upgrade candidate would replace another workload),
     * never an excluded agent or one waiting for its reset. The explicit agent of the request is dropped: it is the
     * one that was lost.
     */
    async planFailover(input: {
      deploymentId: string;
      placement?: DeploymentPlacement;
      excludeAgentIds: string[];
    }): Promise<{ candidates: DeploymentCandidate[]; reason: string }> {
      const d = await getDeployment(db, input.deploymentId);
      if (!d) {
        throw ApplicationFailure.nonRetryable(
          `Deployment ${input.deploymentId} not found`,
          DeploymentFailure.DeploymentNotFound,
        );
      }
      const request: PlacementRequest = input.placement?.request ?? {
        appName: d.app_name,
        nodeSize: '',
        allowedDatacenters: [],
        deniedDatacenters: [],
        allowedClouds: [],
        deniedClouds: [],
        allowMeasuringEnclaveFallback: false,
      };
      const owner: OwnerScope =
        input.placement?.owner ??
        (d.github_owner
          ? { identities: [d.github_owner], allowUnowned: false, label: `repository_owner '${d.github_owner}'` }
          : { identities: [], allowUnowned: true, label: `account '${d.account_id ?? ''}'` });
      const excluded = new Set(input.excludeAgentIds);
      const inputs = await loadPlacementInputs(db);
      const result = evaluatePlacement({
        request: { ...request, agentId: null },
        owner,
        // Agents with a pending reset come as `resetting`: not deployable ("Agent status 'resetting' …").
        agents: inputs.agents.filter((a) => !excluded.has(a.agent_id)),
        enabledTargets: inputs.enabledTargets,
        caller: { account_id: d.account_id, github_owner: d.github_owner },
        allowInsecureLocalAgents: await settingBool(settings, 'operational.allow_insecure_local_agents'),
      });
      const candidates = result.eligible ? result.candidates.filter((c) => c.expectedStatus !== 'deployed') : [];
      return { candidates, reason: candidates.length > 0 ? result.reason : result.reason || 'no free agent' };
    },

    /**
     * Claims the first candidate still free for the moving deployment (atomic per agent) and points the deployment
     * at it, still `reassigning`. A retry finds the agent it already claimed. `agentId: null` when none could be
     * claimed, or when the deployment is not reassigning any more.
     */
    async reserveFailoverAgent(input: {
      deploymentId: string;
      seq: number;
      candidates: DeploymentCandidate[];
    }): Promise<{ agentId: string | null; hostname: string | null }> {
      const none = { agentId: null, hostname: null };
      const d = await getDeployment(db, input.deploymentId);
      if (!d || d.status !== 'reassigning') return none;
      const held = (await db<AgentRow>('agents')
        .where({ agent_id: d.agent_id, current_deployment_id: d.deployment_id })
        .first('hostname')) as Pick<AgentRow, 'hostname'> | undefined;
      if (held) return { agentId: d.agent_id, hostname: held.hostname };
      const resets = await pendingResets(db);
      for (const c of input.candidates) {
        if (resets.has(c.agentId)) continue;
        const ok = await db.transaction(async (trx) => {
          const n = await trx('agents')
            .where({ agent_id: c.agentId, status: c.expectedStatus })
            .whereNull('current_deployment_id')
            .update({ status: 'deploying', current_deployment_id: input.deploymentId, last_heartbeat: now() });
          if (n !== 1) return false;
          const moved = await trx('deployments')
            .where({ deployment_id: input.deploymentId, status: 'reassigning' })
            .update({ agent_id: c.agentId });
          if (moved !== 1) throw new Error(`deployment ${input.deploymentId} stopped reassigning`);
          await setReassignmentTarget(trx, { deploymentId: input.deploymentId, seq: input.seq, toAgentId: c.agentId });
          return true;
        });
        if (!ok) continue;
        const { hostname } = await consumeClaimedAgent(db, c.agentId, input.deploymentId);
        return { agentId: c.agentId, hostname };
      }
      return none;
    },

    /** The agent did not take the deployment (push refused, no callback in time): it is freed for others. */
    async releaseFailoverAgent(input: { deploymentId: string; seq: number; agentId: string }): Promise<void> {
      await db.transaction(async (trx) => {
        await releaseAgent(trx, input.agentId, input.deploymentId);
        await setReassignmentTarget(trx, { deploymentId: input.deploymentId, seq: input.seq, toAgentId: null });
      });
    },

    /** Why the deployment cannot be pushed to `agentId` as stored (encrypted fields sealed to another agent), or null. */
    async failoverBlocker(input: { deploymentId: string; agentId: string }): Promise<{ reason: string | null }> {
      const row = (await db('deployments')
        .where({ deployment_id: input.deploymentId })
        .first('encrypted_env', 'agent_id')) as { encrypted_env: string | null; agent_id: string } | undefined;
      return { reason: row?.encrypted_env ? needsFreshCiphertextReason(input.agentId) : null };
    },

    /** The reason shown while the deployment waits in `reassigning` (no agent yet, or no fresh ciphertext). */
    async noteReassignmentWaiting(input: { deploymentId: string; reason: string }): Promise<void> {
      await db('deployments')
        .where({ deployment_id: input.deploymentId, status: 'reassigning' })
        .update({ error: input.reason.slice(0, 2000) });
    },

    /**
     * reassigning → running on the new agent's callback. Billing restarts here: last_charge_time = now, so the time
     * spent reassigning is never charged and the next charge credits the new operator.
     */
    async resumeAfterReassignment(input: RunningReport & { seq: number }): Promise<{ running: boolean }> {
      const d = await getDeployment(db, input.deploymentId);
      if (!d) return { running: false };
      return db.transaction(async (trx) => {
        const ts = now();
        const moved = await transitionDeployment(trx, input.deploymentId, ['reassigning'], {
          ...runningFields(input),
          agent_id: input.agentId,
          last_charge_time: ts,
        });
        const running = moved || (d.status === 'running' && d.agent_id === input.agentId);
        if (moved) {
          await markAgentDeployed(trx, input, d.app_name, ts);
          await endReassignment(trx, { deploymentId: input.deploymentId, seq: input.seq, outcome: 'running', at: ts });
        }
        return { running };
      });
    },

    /** The move ended without running again (failed after the give-up time, or undeployed meanwhile). */
    async endReassignment(input: { deploymentId: string; seq: number; outcome: 'failed' | 'stopped' }): Promise<void> {
      await endReassignment(db, { ...input, at: now() });
    },

    /** The old agent answered an undeploy: it is placeable again. */
    async clearAgentReset(input: { agentId: string; deploymentId: string }): Promise<{ cleared: boolean }> {
      return { cleared: await completeAgentReset(db, input) };
    },
  };
}

export type FailoverDbActivities = ReturnType<typeof createFailoverDbActivities>;
