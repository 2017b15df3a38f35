import { DAY_MS, HOUR_MS } from '../core/time';
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { AgentLifecycleActivities } from '../activities/agent-lifecycle';
import type { AgentStaleCleanupInput, AgentStaleCleanupResult } from './contracts/agents';
import { removeAgent } from './delete-agent';

const db = proxyActivities<AgentLifecycleActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 10, initialInterval: '200 ms' },
});

/**
 * Started hourly by the `agent-stale-cleanup` schedule (background.md §2.3): agents with no contact of any kind
 * (agent calls or a healthy health check) since workflow time − operational.agent_stale_hours lose their tunnel,
 * DNS record and row. Deployed agents with a current deployment are kept.
 */
export async function agentStaleCleanup(input: AgentStaleCleanupInput = {}): Promise<AgentStaleCleanupResult> {
  let cutoff = input.cutoff;
  if (!cutoff) {
    const { hours } = await db.readAgentStaleHours({});
    cutoff = new Date(workflowInfo().runStartTime.getTime() - hours * HOUR_MS).toISOString();
  }
  const { agents } = await db.findStaleAgents({ cutoff });
  const deleted: string[] = [];
  for (const ref of agents) {
    if ((await removeAgent(ref, 'agent removed by the stale clean-up')).deleted) deleted.push(ref.agentId);
  }
  // Registration challenges live 5 min by default; anything a day old is expired or spent.
  await db.purgeStaleNonces({ before: new Date(workflowInfo().runStartTime.getTime() - DAY_MS).toISOString() });
  return { cutoff, deleted };
}
