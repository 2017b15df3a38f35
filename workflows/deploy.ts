import { condition, getExternalWorkflowHandle, log, patched, proxyActivities, setHandler } from '@temporalio/workflow';
import type { AgentActivities } from '../activities/agent';
import type { DeploymentsDbActivities } from '../activities/deployments-db';
import type { FailoverDbActivities } from '../activities/failover-db';
import type { CloudflareActivities } from '../activities/cloudflare';
import type { ServicesDbActivities } from '../activities/services-db';
import {
  agentLostSignal,
  agentUnhealthySignal,
  deployedSignal,
  deploymentEndedSignal,
  placementUpdate,
  stoppedElsewhereSignal,
  undeployUpdate,
  type AgentLost,
  type AgentUnhealthy,
  type DeployedCallback,
  type DeploymentInput,
  type DeploymentResult,
  type PlacementAnswer,
  type UndeployAnswer,
  type UndeployRequest,
} from './contracts/deployments';
import { failureMessageOf } from './contracts/failures';
import { AGENT_CALL, DB_STEP } from './lib/activity-options';

const db = proxyActivities<DeploymentsDbActivities>(DB_STEP);
// The push is retried a few times only: agentDeploy is idempotent under the deployment id, but a dead agent should
// fail the deployment quickly and free nothing else.
const push = proxyActivities<Pick<AgentActivities, 'agentDeploy'>>(AGENT_CALL);
const stop = proxyActivities<Pick<AgentActivities, 'agentUndeploy'>>(AGENT_CALL);
const move = proxyActivities<FailoverDbActivities>(DB_STEP);
// Best effort on a lost agent: one try, short, so an unreachable agent does not hold the failover up.
const stopLost = proxyActivities<Pick<AgentActivities, 'agentUndeploy'>>({
  startToCloseTimeout: '15 seconds',
  retry: { maximumAttempts: 1 },
});
const services = proxyActivities<ServicesDbActivities>(DB_STEP);
// v1 ignored ingress failures (the workload still deploys, reachable on the default rule): a few tries only.
const ingress = proxyActivities<Pick<CloudflareActivities, 'updateTunnelIngress'>>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 3, initialInterval: '1 second', backoffCoefficient: 2 },
});
/** Catalog ingress before the push, services registry at running/end: added after histories were recorded. */
const SERVICES_PATCH = 'catalog-services-v1';
/** The workflow inserts its own row as its first step (update-with-start deploys); older runs found it inserted. */
const OWNS_ROW_PATCH = 'deployment-owns-row-v1';
/** A running deployment whose agent the health sweep reports lost moves to another agent (issue #20). */
const FAILOVER_PATCH = 'deployment-failover-v1';
/** Placement retries of a failover back off from here (capped by the give-up time) up to MAX_RETRY_MS. */
const FIRST_RETRY_MS = 5_000;
const MAX_RETRY_MS = 300_000;

const describe = failureMessageOf;

/**
 * One deployment from reservation to its end: claim an agent atomically, push the compose (agent /api/deploy),
 * wait for the agent's `deployed` callback with a timeout, then stay open as the handle for undeploy. Failures
 * free the agent. The `placement` update lets the API answer the deploy request with the chosen agent.
 */
export async function deployment(input: DeploymentInput): Promise<DeploymentResult> {
  const { deploymentId } = input;
  let placement: PlacementAnswer | undefined;
  let callback: DeployedCallback | undefined;
  let undeploy: UndeployRequest | undefined;
  let stoppedElsewhere: string | undefined;
  let lost: AgentLost | undefined;
  const replyTo: string[] = [];
  let finished: UndeployAnswer['status'] | undefined;
  let agentId: string | null = null;
  let hostname: string | null = null;
  let unhealthy: AgentUnhealthy | undefined;
  /** Moves so far (the ledger key and reassignment row of the next one use moves + 1). */
  let moves = 0;

  setHandler(placementUpdate, async () => {
    await condition(() => placement !== undefined);
    return placement!;
  });
  setHandler(deployedSignal, (cb) => {
    // Only the agent the deployment was placed on may complete it; the first answer wins.
    if (callback === undefined && agentId !== null && cb.agentId === agentId) callback = cb;
  });
  setHandler(agentUnhealthySignal, (signal) => {
    // Only about the agent it runs on now; the sweep repeats itself every pass until the move has begun.
    if (unhealthy === undefined && agentId !== null && signal.agentId === agentId) unhealthy = signal;
  });
  setHandler(stoppedElsewhereSignal, ({ reason }) => {
    stoppedElsewhere ??= reason;
  });
  setHandler(agentLostSignal, (signal) => {
    lost ??= signal;
    replyTo.push(signal.replyTo);
  });
  /** Tells whoever reported the agent lost that this deployment has ended (they delete the agent row next). */
  const answerLost = async () => {
    for (const id of replyTo.splice(0)) {
      await getExternalWorkflowHandle(id)
        .signal(deploymentEndedSignal, { deploymentId })
        .catch((e: unknown) => log.warn(`could not tell ${id} that ${deploymentId} ended: ${describe(e)}`));
    }
  };
  /** Final charge + `stopped` + the service unregistered; only then is an undeploy answered. */
  const stopped = async (reason: string | null) => {
    await db.markDeploymentStopped({ deploymentId, agentId, stoppedAt: new Date().toISOString(), reason });
    if (withServices) await services.removeService({ deploymentId });
    finished = 'stopped';
  };
  setHandler(undeployUpdate, async (req) => {
    if (finished) return { deploymentId, agentId, status: 'already_finished' as const };
    undeploy ??= req;
    await condition(() => finished !== undefined);
    return {
      deploymentId,
      agentId,
      status: finished === 'stopped' ? ('stopped' as const) : ('already_finished' as const),
    };
  });

  const withServices = patched(SERVICES_PATCH);
  const failed = async (error: string): Promise<DeploymentResult> => {
    await db.failDeployment({ deploymentId, agentId, error });
    if (withServices) await services.removeService({ deploymentId });
    finished = 'already_finished';
    await answerLost();
    return { deploymentId, agentId, outcome: 'failed', error };
  };

  const ended = () => undeploy !== undefined || stoppedElsewhere !== undefined || lost !== undefined;

  /**
   * Failover (issue #20), as steps of this workflow: the partial period is charged on the old agent and the row
   * becomes `reassigning` with the reason (one activity, one transaction); the old agent is asked once to stop the
   * workload (the health sweep resets it when it answers again, and it is not placeable before); then placement
   * with the request's constraints and owner, the same compose pushed (keyed by deployment + agent + move), and the
   * new agent's `deployed` callback awaited → `running`, billed to the new operator from then on. No agent: retry
   * on a backoff until `operational.reassign_give_up_seconds`, then `failed`.
   *
   * 'running' — on another agent now; 'ignored' — not running on that agent any more (a late report); 'ended' — an
   * undeploy, agent removal or billing stop arrived meanwhile (the caller ends the deployment as usual); otherwise
   * the failed result.
   */
  const failover = async (report: AgentUnhealthy): Promise<'running' | 'ignored' | 'ended' | DeploymentResult> => {
    const from = report.agentId;
    const fromHostname = hostname;
    const seq = moves + 1;
    const startedMs = new Date().getTime();
    const { moved, giveUpSeconds } = await move.beginReassignment({
      deploymentId,
      seq,
      fromAgentId: from,
      at: new Date(startedMs).toISOString(),
      reason: report.reason,
    });
    if (!moved) return 'ignored';
    moves = seq;
    if (withServices) await services.removeService({ deploymentId });
    await stopLost
      .agentUndeploy({ agentId: from, hostname: fromHostname })
      .then(() => move.clearAgentReset({ agentId: from, deploymentId }))
      .catch((e: unknown) => log.info(`lost agent ${from} did not take the undeploy: ${describe(e)}`));
    const deadlineMs = startedMs + giveUpSeconds * 1000;
    const exclude = [from];
    let waitMs = Math.max(1000, Math.min(FIRST_RETRY_MS, Math.floor((giveUpSeconds * 1000) / 4)));
    const endMove = (outcome: 'failed' | 'stopped') => move.endReassignment({ deploymentId, seq, outcome });
    for (;;) {
      if (ended()) {
        await endMove('stopped');
        return 'ended';
      }
      const plan = await move.planFailover({ deploymentId, placement: input.placement, excludeAgentIds: exclude });
      const next =
        plan.candidates.length > 0
          ? await move.reserveFailoverAgent({ deploymentId, seq, candidates: plan.candidates })
          : { agentId: null, hostname: null };
      let why = plan.reason;
      if (next.agentId !== null) {
        agentId = next.agentId;
        hostname = next.hostname;
        callback = undefined;
        const { reason: blocked } = await move.failoverBlocker({ deploymentId, agentId });
        if (blocked) {
          // Encrypted fields are sealed to the old agent; only the client can re-encrypt them for this one. The
          // deployment waits here (reassigning, not billed) until it is undeployed.
          await move.noteReassignmentWaiting({ deploymentId, reason: blocked });
          await condition(ended);
          await endMove('stopped');
          return 'ended';
        }
        if (withServices) {
          const rules = await services.loadCatalogIngress({ deploymentId, agentId });
          if (rules) await ingress.updateTunnelIngress(rules).catch((e: unknown) => log.warn(describe(e)));
        }
        let pushed = true;
        try {
          await push.agentDeploy({ agentId, hostname, deploymentId, move: seq });
        } catch (err) {
          pushed = false;
          why = `Agent ${agentId} rejected the deployment: ${describe(err)}`;
        }
        if (pushed) {
          await condition(() => callback !== undefined || ended(), input.callbackTimeoutSeconds * 1000);
          // Set by the signal handler meanwhile (TypeScript cannot see that).
          const cb = callback as DeployedCallback | undefined;
          if (cb?.ok) {
            await move.resumeAfterReassignment({
              deploymentId,
              seq,
              agentId,
              serviceId: cb.serviceId ?? null,
              attestation: cb.attestation ?? null,
            });
            if (withServices) await services.registerService({ deploymentId, agentId });
            return 'running';
          }
          if (ended()) {
            await endMove('stopped');
            return 'ended';
          }
          why = cb
            ? `Agent ${agentId}: ${cb.error || 'reported a failed deployment'}`
            : `Agent ${agentId} did not report the deployment within ${input.callbackTimeoutSeconds} s`;
          await stop.agentUndeploy({ agentId, hostname }).catch((e: unknown) => log.warn(describe(e)));
        }
        await move.releaseFailoverAgent({ deploymentId, seq, agentId });
        exclude.push(agentId);
        agentId = from;
        hostname = fromHostname;
      }
      const leftMs = deadlineMs - new Date().getTime();
      if (leftMs <= 0) {
        await endMove('failed');
        return failed(`Failover gave up after ${giveUpSeconds} s without an eligible agent: ${why}`);
      }
      await move.noteReassignmentWaiting({
        deploymentId,
        reason: `${report.reason}; no eligible agent yet, retrying: ${why}`,
      });
      await condition(ended, Math.min(waitMs, leftMs));
      waitMs = Math.min(waitMs * 2, MAX_RETRY_MS);
    }
  };

  if (input.record && patched(OWNS_ROW_PATCH)) {
    await db.createDeploymentRecord({ deploymentId, record: input.record });
  }
  const reserved = await db.reserveDeploymentAgent({ deploymentId, candidates: input.candidates });
  if (!reserved.agentId) {
    const error =
      'No eligible agents available for deployment. Last reason: every eligible agent was taken by a concurrent deployment';
    placement = { ok: false, error };
    return failed(error);
  }
  agentId = reserved.agentId;
  hostname = reserved.hostname;
  placement = { ok: true, agentId };

  if (withServices) {
    const rules = await services.loadCatalogIngress({ deploymentId, agentId });
    if (rules) await ingress.updateTunnelIngress(rules).catch((e: unknown) => log.warn(describe(e)));
  }

  try {
    await push.agentDeploy({ agentId, hostname, deploymentId });
  } catch (err) {
    return failed(`Agent rejected deployment: ${describe(err)}`);
  }

  const answered = await condition(
    () => callback !== undefined || undeploy !== undefined || lost !== undefined,
    input.callbackTimeoutSeconds * 1000,
  );
  if (lost && !callback) return failed(`Agent went away before the deployment ran: ${lost.reason}`);
  if (!answered) {
    // Best effort: stop whatever the agent may have started, so the freed agent is really free.
    await stop.agentUndeploy({ agentId, hostname }).catch((e: unknown) => log.warn(describe(e)));
    return failed(`Agent did not report the deployment within ${input.callbackTimeoutSeconds} s`);
  }
  if (callback && !callback.ok) {
    await stop.agentUndeploy({ agentId, hostname }).catch((e: unknown) => log.warn(describe(e)));
    return failed(callback.error || 'Agent reported a failed deployment');
  }
  if (callback) {
    await db.markDeploymentRunning({
      deploymentId,
      agentId,
      serviceId: callback.serviceId ?? null,
      attestation: callback.attestation ?? null,
    });
    if (withServices) await services.registerService({ deploymentId, agentId });
    // Running: nothing happens until an undeploy arrives, the agent goes away, billing stops the workload, or the
    // health sweep reports the agent lost (then the deployment moves, and runs on again elsewhere).
    for (;;) {
      await condition(() => ended() || unhealthy !== undefined);
      if (ended()) break;
      const report = unhealthy!;
      unhealthy = undefined;
      // Histories from before failover never reach here with a report (no handler existed), so this is new code.
      if (!patched(FAILOVER_PATCH)) continue;
      const moved = await failover(report);
      if (typeof moved === 'object') return moved;
      if (moved === 'ended') break;
    }
    if (lost && undeploy === undefined) {
      if (lost.stopWorkload) {
        await stop
          .agentUndeploy({ agentId, hostname })
          .catch((e: unknown) => log.warn(`undeploy of ${deploymentId} on a lost agent failed: ${describe(e)}`));
      }
      await stopped(lost.reason);
      await answerLost();
      return { deploymentId, agentId, outcome: 'stopped', error: lost.reason };
    }
    if (undeploy === undefined) {
      if (withServices) await services.removeService({ deploymentId });
      finished = 'already_finished';
      return { deploymentId, agentId, outcome: 'stopped', error: stoppedElsewhere };
    }
  }

  try {
    await stop.agentUndeploy({ agentId, hostname });
  } catch (err) {
    // The agent is gone or refuses: the deployment still ends here and the agent row is freed; an operator
    // cleans up the VM (admin cleanup) if it comes back with a workload.
    log.warn(`undeploy of ${deploymentId} on ${agentId} failed: ${describe(err)}`);
  }
  await stopped(undeploy?.reason ?? null);
  await answerLost();
  return { deploymentId, agentId, outcome: 'stopped' };
}
