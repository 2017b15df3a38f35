import { log } from '@temporalio/workflow';
import { errorText, gcp, plans } from './lib/cloud-activities';
import { removeAgent } from './delete-agent';
import type { GcpReaperResult } from './contracts/cloud';

/**
 * Started every 60 s by the `gcp-reaper` schedule (background.md §4): stale fulfilled built-in GCP orders (their VM
 * produced no live agent within the grace window) get their VM deleted and are failed; orphaned managed instances of
 * this install are deleted. A reclaimed VM's agent row, when one exists without an active deployment, goes too.
 * A delete that fails is skipped until the next run.
 */
export async function gcpReaper(): Promise<GcpReaperResult> {
  const p = await plans.planGcpReap({});
  const out: GcpReaperResult = { configured: p.configured, orders_reaped: [], instances_deleted: [], failed: [] };
  const reclaim = async (
    key: string,
    vm: { datacenter: string; name: string },
    agent: { agent_id: string; tunnel_id: string | null; hostname: string | null } | null,
  ) => {
    try {
      await gcp.deleteGcpInstance({ datacenter: vm.datacenter, name: vm.name, requestKey: `reap:${key}` });
    } catch (err) {
      log.warn('reaper: VM delete failed', { vm: vm.name, error: errorText(err) });
      out.failed.push(vm.name);
      return false;
    }
    if (agent) {
      await removeAgent(
        { agentId: agent.agent_id, tunnelId: agent.tunnel_id, hostname: agent.hostname },
        'agent removed by the GCP reaper',
      );
    }
    return true;
  };
  for (const o of p.orders) {
    if (await reclaim(o.orderId, o, o.agent)) {
      await plans.failReapedOrder({ orderId: o.orderId });
      out.orders_reaped.push(o.orderId);
    }
  }
  for (const i of p.instances) {
    if (await reclaim(i.name, i, i.agent)) out.instances_deleted.push(i.name);
  }
  return out;
}
