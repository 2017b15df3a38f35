import { ActivityFailure, getExternalWorkflowHandle, log, proxyActivities } from '@temporalio/workflow';
import type { AgentActivities } from '../activities/agent';
import type { BillingActivities } from '../activities/billing';
import type { TerminateUnfundedResult } from './contracts/billing';
import { deploymentWorkflowId, stoppedElsewhereSignal } from './contracts/deployments';

const { billingConfig, listUnfundedDeployments, markUnfundedStopped } = proxyActivities<BillingActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

// A few attempts per pass: an unreachable agent is retried by the next pass (5 minutes later), not forever here.
const { agentUndeploy } = proxyActivities<AgentActivities>({
  startToCloseTimeout: '45 seconds',
  retry: { initialInterval: '2 seconds', maximumAttempts: 3 },
});

const PER_PASS = 500;
/** Agents contacted at once. */
const LANES = 10;

/**
 * Started every 5 minutes by the `terminate-unfunded` Schedule (billing.md §5, background.md §2.6): each deployment
 * marked `insufficient_funds` is stopped on its agent (POST /api/undeploy through agentUndeploy — v1 called a
 * `/api/terminate` route no agent has) and only then set `stopped`. A deployment whose agent row is gone has no
 * workload to stop and is set `stopped` directly.
 */
/** Lets the deployment's own workflow finish (it would otherwise wait for an undeploy forever). */
async function endDeploymentWorkflow(deploymentId: string): Promise<void> {
  try {
    await getExternalWorkflowHandle(deploymentWorkflowId(deploymentId)).signal(stoppedElsewhereSignal, {
      reason: 'Insufficient funds',
    });
  } catch (err) {
    // No such workflow (a deployment created before workflows, or already finished): nothing to end.
    log.info(`deployment workflow of ${deploymentId} not signalled: ${String(err)}`);
  }
}

export async function terminateUnfunded(): Promise<TerminateUnfundedResult> {
  const config = await billingConfig();
  if (!config.enabled) return { skipped: 'billing disabled', stopped: 0, failed: 0, failedIds: [] };
  const { deployments } = await listUnfundedDeployments({ limit: PER_PASS });
  const result: TerminateUnfundedResult = { stopped: 0, failed: 0, failedIds: [] };
  let next = 0;
  const lane = async () => {
    while (next < deployments.length) {
      const d = deployments[next++]!;
      try {
        if (d.agentExists) await agentUndeploy({ agentId: d.agentId, hostname: d.hostname });
        const { stopped } = await markUnfundedStopped({ deploymentId: d.deploymentId });
        if (stopped) {
          result.stopped += 1;
          await endDeploymentWorkflow(d.deploymentId);
        }
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
        result.failed += 1;
        if (result.failedIds.length < 20) result.failedIds.push(d.deploymentId);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(LANES, deployments.length) }, lane));
  return result;
}
