import { ActivityFailure, ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { AgentLifecycleActivities } from '../activities/agent-lifecycle';
import type { CloudflareActivities } from '../activities/cloudflare';
import type { RegistrationActivities } from '../activities/registration';
import type { ResetAgentResult } from './contracts/agents';
import { endAgentDeployment } from './lib/end-agent-deployment';

const db = proxyActivities<AgentLifecycleActivities & Pick<CloudflareActivities, 'cloudflareConfigured'>>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 10, initialInterval: '200 ms' },
});
const tunnel = proxyActivities<Pick<RegistrationActivities, 'provisionAgentTunnel'>>({
  startToCloseTimeout: '90 seconds',
  retry: { maximumAttempts: 5, initialInterval: '500 ms', backoffCoefficient: 2 },
});

/** Admin/owner reset (api.md §2): status back to undeployed; a verified agent without a hostname gets its tunnel. */
export async function resetAgent(input: { agentId: string }): Promise<ResetAgentResult> {
  await endAgentDeployment(input.agentId, 'agent reset', true);
  const r = await db.resetAgentRecord({ agentId: input.agentId });
  if (!r.found) return { found: false, tunnelCreated: false };
  if (!r.needsTunnel || !(await db.cloudflareConfigured({})).configured) return { found: true, tunnelCreated: false };
  try {
    const t = await tunnel.provisionAgentTunnel({ agentId: input.agentId });
    await db.storeAgentTunnel({ agentId: input.agentId, tunnel: t });
    return { found: true, tunnelCreated: true };
  } catch (err) {
    const msg =
      err instanceof ActivityFailure && err.cause instanceof ApplicationFailure ? err.cause.message : String(err);
    return { found: true, tunnelCreated: false, error: msg };
  }
}
