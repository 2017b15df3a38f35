import { errorText, plans } from './lib/cloud-activities';
import { removeAgent } from './delete-agent';
import type { StaleAgentsCleanupInput } from './contracts/cloud';

/**
 * `stale-agents-cleanup:<request>` (POST /api/v1/admin/agents/cleanup/stale, api.md §12): the admin's on-demand
 * version of the hourly `agent-stale-cleanup`, with its own threshold, an include-deployed switch and a dry run.
 */
export async function staleAgentsCleanup(input: StaleAgentsCleanupInput) {
  const p = await plans.planStaleAgents({ staleHours: input.staleHours, includeDeployed: input.includeDeployed });
  const deleted: Record<string, unknown>[] = [];
  const errors: string[] = [];
  for (const a of p.candidates) {
    if (input.dryRun) {
      deleted.push({ agent_id: a.agent_id, vm_name: a.vm_name, dry_run: true });
      continue;
    }
    try {
      const r = await removeAgent(
        { agentId: a.agent_id, tunnelId: a.tunnel_id, hostname: a.hostname },
        'agent removed by the admin stale clean-up',
      );
      if (r.deleted) deleted.push({ agent_id: a.agent_id, vm_name: a.vm_name });
      else errors.push(`Failed to delete agent record: ${a.agent_id}`);
    } catch (err) {
      errors.push(`${a.agent_id}: ${errorText(err)}`);
    }
  }
  return {
    dry_run: input.dryRun,
    stale_hours: p.stale_hours,
    candidates: p.candidates.length,
    deleted_agents: deleted,
    skipped_agents: p.skipped,
    errors,
  };
}
