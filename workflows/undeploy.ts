import { proxyActivities } from '@temporalio/workflow';
import type { AgentActivities } from '../activities/agent';
import type { DeploymentsDbActivities } from '../activities/deployments-db';
import type { UndeployAgentInput, UndeployAgentResult } from './contracts/deployments';
import { AGENT_CALL, DB_STEP } from './lib/activity-options';

const db = proxyActivities<DeploymentsDbActivities>(DB_STEP);
const agent = proxyActivities<Pick<AgentActivities, 'agentUndeploy'>>(AGENT_CALL);

/**
 * Admin undeploy of an agent whose workload has no live deployment workflow (e.g. placed before v2 or by hand):
 * the agent's /api/undeploy, then the agent freed and its deployment (if any) stopped. Agent errors fail the
 * workflow, so the API can answer 502 as v1 did.
 */
export async function undeployAgent(input: UndeployAgentInput): Promise<UndeployAgentResult> {
  const a = await db.loadAgentForUndeploy({ agentId: input.agentId });
  await agent.agentUndeploy({ agentId: input.agentId, hostname: a.hostname });
  await db.clearAgentDeployment({ agentId: input.agentId, deploymentId: a.currentDeploymentId });
  return { agentId: input.agentId, stoppedDeploymentId: a.currentDeploymentId };
}
