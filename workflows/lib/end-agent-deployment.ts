/**
 * Nothing keeps running on paper (trust issue item 10): before an agent is deleted or reset, the deployment it
 * holds ends through its own `deployment:<id>` workflow — final prorated charge, `stopped` with the reason — while
 * the agent row (and with it the operator's account) still exists. The caller waits for the deployment's answer; a
 * deployment with no live workflow (rows from before workflows, or one that already ended) is stopped directly by
 * the same activity the workflow uses, so the result is the same either way.
 */
import {
  condition,
  getExternalWorkflowHandle,
  log,
  patched,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { DeploymentsDbActivities } from '../../activities/deployments-db';
import { agentLostSignal, deploymentEndedSignal, deploymentWorkflowId } from '../contracts/deployments';

const db = proxyActivities<Pick<DeploymentsDbActivities, 'currentDeploymentOf' | 'markDeploymentStopped'>>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 10, initialInterval: '200 ms' },
});

/** How long the agent's removal waits for the deployment workflow before stopping the row itself. */
const ANSWER_TIMEOUT = '2 minutes';

/** Changed the command sequence of deleteAgent / resetAgent / agentStaleCleanup: old histories skip it. */
export const END_DEPLOYMENT_PATCH = 'end-agent-deployment-first';

export async function endAgentDeployment(agentId: string, reason: string, stopWorkload: boolean): Promise<void> {
  if (!patched(END_DEPLOYMENT_PATCH)) return;
  const { deploymentId } = await db.currentDeploymentOf({ agentId });
  if (!deploymentId) return;
  let ended = false;
  setHandler(deploymentEndedSignal, (s) => {
    if (s.deploymentId === deploymentId) ended = true;
  });
  try {
    await getExternalWorkflowHandle(deploymentWorkflowId(deploymentId)).signal(agentLostSignal, {
      reason,
      stopWorkload,
      replyTo: workflowInfo().workflowId,
    });
    ended = await condition(() => ended, ANSWER_TIMEOUT);
  } catch (err) {
    log.info(`deployment ${deploymentId} has no running workflow; stopping it here`, { error: String(err) });
  }
  if (!ended) {
    await db.markDeploymentStopped({ deploymentId, agentId, stoppedAt: new Date().toISOString(), reason });
  }
}
