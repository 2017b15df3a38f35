import {
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { AgentLifecycleActivities } from '../activities/agent-lifecycle';
import {
  agentDeletedSignal,
  deployedUpdate,
  heartbeatUpdate,
  statusUpdate,
  type AgentEntityInput,
} from './contracts/agents';

const db = proxyActivities<AgentLifecycleActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 10, initialInterval: '200 ms' },
});

const DEFAULT_CONTINUE_AFTER = 200;

/**
 * `agent:<agent_id>`: one long-lived workflow per agent through which every agent-control call passes, so the
 * calls of one agent are recorded in one place (Web UI) and applied by activities in arrival order. Updates, because
 * the agent's HTTP request needs the answer. The history is bounded by continue-as-new after `continueAfter`
 * updates or when the server suggests it, always after in-flight handlers finish.
 */
export async function agentEntity(input: AgentEntityInput): Promise<{ agentId: string; handled: number }> {
  const { agentId } = input;
  const limit = input.continueAfter ?? DEFAULT_CONTINUE_AFTER;
  let handled = input.handled ?? 0;
  let inRun = 0;
  let deleted = false;
  const count = <T>(p: Promise<T>) => {
    handled++;
    inRun++;
    return p;
  };

  setHandler(heartbeatUpdate, (hb) => count(db.applyHeartbeat({ ...hb, agentId })));
  setHandler(statusUpdate, (s) => count(db.applyAgentStatus({ ...s, agentId })));
  setHandler(deployedUpdate, (d) => count(db.applyAgentDeployed({ ...d, agentId })));
  setHandler(agentDeletedSignal, () => {
    deleted = true;
  });

  await condition(() => deleted || inRun >= limit || workflowInfo().continueAsNewSuggested);
  await condition(allHandlersFinished);
  if (deleted) return { agentId, handled };
  return continueAsNew<typeof agentEntity>({ agentId, handled, continueAfter: input.continueAfter });
}
