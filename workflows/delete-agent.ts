import { getExternalWorkflowHandle, log, proxyActivities } from '@temporalio/workflow';
import type { AgentLifecycleActivities } from '../activities/agent-lifecycle';
import type { CloudflareActivities } from '../activities/cloudflare';
import { endAgentDeployment } from './lib/end-agent-deployment';
import { agentDeletedSignal, agentWorkflowId, type AgentRef, type DeleteAgentResult } from './contracts/agents';
import { LIFECYCLE_DB_STEP } from './lib/activity-options';

const db = proxyActivities<AgentLifecycleActivities>(LIFECYCLE_DB_STEP);
const cf = proxyActivities<Pick<CloudflareActivities, 'cloudflareConfigured' | 'deleteAgentTunnel'>>({
  startToCloseTimeout: '60 seconds',
  retry: { maximumAttempts: 5, initialInterval: '1 second' },
});

/**
 * Tunnel, CNAME, credential, open reservations and row (api.md §2 DELETE, background.md §2.3), then the entity
 * workflow is told to end. Cloudflare failures are logged, not fatal, as in v1: the orphan sweep catches leftovers.
 * Shared by the admin delete and the stale clean-up.
 */
export async function removeAgent(ref: AgentRef, reason = 'agent deleted'): Promise<DeleteAgentResult> {
  await endAgentDeployment(ref.agentId, reason, false);
  let tunnelDeleted = false;
  if (ref.tunnelId && (await cf.cloudflareConfigured({})).configured) {
    try {
      const r = await cf.deleteAgentTunnel({ tunnelId: ref.tunnelId, hostname: ref.hostname });
      tunnelDeleted = r.tunnelDeleted;
    } catch (err) {
      log.warn('tunnel clean-up failed', { agentId: ref.agentId, error: String(err) });
    }
  }
  const { deleted } = await db.deleteAgentRecord({ agentId: ref.agentId });
  try {
    await getExternalWorkflowHandle(agentWorkflowId(ref.agentId)).signal(agentDeletedSignal);
  } catch {
    // no entity workflow running for this agent
  }
  return { deleted, tunnelDeleted };
}

/** Admin DELETE /api/v1/agents/{id}. */
export async function deleteAgent(ref: AgentRef): Promise<DeleteAgentResult> {
  return removeAgent(ref, 'agent deleted by an admin');
}
