import { condition, getExternalWorkflowHandle, log, patched, proxyActivities, setHandler } from '@temporalio/workflow';
import type { AgentActivities } from '../activities/agent';
import type { DeploymentsDbActivities } from '../activities/deployments-db';
import type { CloudflareActivities } from '../activities/cloudflare';
import type { ServicesDbActivities } from '../activities/services-db';
import {
  agentLostSignal,
  deployedSignal,
  deploymentEndedSignal,
  placementUpdate,
  stoppedElsewhereSignal,
  undeployUpdate,
  type AgentLost,
  type DeployedCallback,
  type DeploymentInput,
  type DeploymentResult,
  type PlacementAnswer,
  type UndeployAnswer,
  type UndeployRequest,
} from './contracts/deployments';
import { failureMessageOf } from './contracts/failures';

const db = proxyActivities<DeploymentsDbActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 20, initialInterval: '200 ms' },
});
// The push is retried a few times only: agentDeploy is idempotent under the deployment id, but a dead agent should
// fail the deployment quickly and free nothing else.
const push = proxyActivities<Pick<AgentActivities, 'agentDeploy'>>({
  startToCloseTimeout: '45 seconds',
  retry: { maximumAttempts: 3, initialInterval: '1 second', backoffCoefficient: 2 },
});
const stop = proxyActivities<Pick<AgentActivities, 'agentUndeploy'>>({
  startToCloseTimeout: '45 seconds',
  retry: { maximumAttempts: 3, initialInterval: '1 second', backoffCoefficient: 2 },
});
const services = proxyActivities<ServicesDbActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 20, initialInterval: '200 ms' },
});
// v1 ignored ingress failures (the workload still deploys, reachable on the default rule): a few tries only.
const ingress = proxyActivities<Pick<CloudflareActivities, 'updateTunnelIngress'>>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 3, initialInterval: '1 second', backoffCoefficient: 2 },
});
/** Catalog ingress before the push, services registry at running/end: added after histories were recorded. */
const SERVICES_PATCH = 'catalog-services-v1';
/** The workflow inserts its own row as its first step (update-with-start deploys); older runs found it inserted. */
const OWNS_ROW_PATCH = 'deployment-owns-row-v1';

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

  setHandler(placementUpdate, async () => {
    await condition(() => placement !== undefined);
    return placement!;
  });
  setHandler(deployedSignal, (cb) => {
    // Only the agent the deployment was placed on may complete it; the first answer wins.
    if (callback === undefined && agentId !== null && cb.agentId === agentId) callback = cb;
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
  placement = { ok: true, agentId };

  if (withServices) {
    const rules = await services.loadCatalogIngress({ deploymentId, agentId });
    if (rules) await ingress.updateTunnelIngress(rules).catch((e: unknown) => log.warn(describe(e)));
  }

  try {
    await push.agentDeploy({ agentId, hostname: reserved.hostname, deploymentId });
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
    await stop.agentUndeploy({ agentId, hostname: reserved.hostname }).catch((e: unknown) => log.warn(describe(e)));
    return failed(`Agent did not report the deployment within ${input.callbackTimeoutSeconds} s`);
  }
  if (callback && !callback.ok) {
    await stop.agentUndeploy({ agentId, hostname: reserved.hostname }).catch((e: unknown) => log.warn(describe(e)));
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
    // Running: nothing happens until an undeploy arrives, the agent goes away, or billing stops the workload.
    await condition(() => undeploy !== undefined || stoppedElsewhere !== undefined || lost !== undefined);
    if (lost && undeploy === undefined) {
      if (lost.stopWorkload) {
        await stop
          .agentUndeploy({ agentId, hostname: reserved.hostname })
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
    await stop.agentUndeploy({ agentId, hostname: reserved.hostname });
  } catch (err) {
    // The agent is gone or refuses: the deployment still ends here and the agent row is freed; an operator
    // cleans up the VM (admin cleanup) if it comes back with a workload.
    log.warn(`undeploy of ${deploymentId} on ${agentId} failed: ${describe(err)}`);
  }
  await stopped(undeploy?.reason ?? null);
  await answerLost();
  return { deploymentId, agentId, outcome: 'stopped' };
}
