import { errorText, gcp, plans, provisioner } from './lib/cloud-activities';
import { removeAgent } from './delete-agent';
import type { AgentCleanupInput } from './contracts/cloud';

/**
 * `agent-cleanup:<agent>:<request>` (POST /api/v1/admin/agents/{id}/cleanup, api.md §12): the agent's provisioner
 * resources (inventory items linked to it, cleaned by the cleanup webhook for exactly those ids), its own managed GCP
 * VM (built-in path), then tunnel, DNS, reservations and row. A dry run reports what it would do.
 */
export async function agentCleanup(input: AgentCleanupInput) {
  const plan = await plans.planAgentCleanup({ agentId: input.agentId });
  if (!plan.found) return { found: false as const };
  const a = plan.agent;
  const detail: string[] = [];
  const ids = plan.external_resource_ids;
  let external: Record<string, unknown> | null = null;
  if (!plan.external.configured && !plan.gcp_instance) {
    detail.push('External inventory not configured; skipping linked VM cleanup.');
  } else if (plan.external.configured && !plan.external.ok && !plan.gcp_instance) {
    detail.push(`External inventory error; skipping linked VM cleanup: ${plan.external.detail}`);
  }
  if (ids.length > 0) {
    if (input.dryRun) {
      external = { configured: true, dispatched: false, dry_run: true, requested_count: ids.length, detail: 'dry run' };
    } else {
      try {
        const r = await provisioner.provisionerCleanup({
          dry_run: false,
          only_orphaned: false,
          providers: [],
          resource_ids: ids,
          reason: input.reason,
        });
        external = {
          configured: r.configured,
          dispatched: r.dispatched,
          dry_run: false,
          requested_count: r.dispatched ? r.requested_count || ids.length : 0,
          status_code: r.status,
          detail: r.configured ? r.detail : 'External cleanup webhook not configured; skipping linked VM deletion.',
        };
      } catch (err) {
        detail.push(`External cloud cleanup failed: ${errorText(err)}`);
      }
    }
  }
  if (plan.gcp_instance) {
    if (input.dryRun) {
      external ??= {
        configured: true,
        dispatched: false,
        dry_run: true,
        requested_count: 1,
        detail: 'Built-in GCP cleanup dry run for linked agent VM.',
      };
    } else if (!external || external.dispatched !== true) {
      try {
        const r = await gcp.deleteGcpInstance({
          datacenter: plan.gcp_instance.datacenter,
          name: plan.gcp_instance.name,
          requestKey: `agent-cleanup:${a.agent_id}`,
        });
        const msg = r.deleted
          ? 'Built-in GCP cleanup deleted linked VM.'
          : 'Built-in GCP cleanup found linked VM already absent.';
        external = { configured: true, dispatched: r.deleted, dry_run: false, requested_count: 1, detail: msg };
        detail.push(msg);
      } catch (err) {
        detail.push(`Built-in GCP cleanup failed for linked VM: ${errorText(err)}`);
      }
    }
  }
  let agentDeleted = false;
  let cloudflareDeleted = false;
  if (!input.dryRun) {
    const r = await removeAgent(
      { agentId: a.agent_id, tunnelId: a.tunnel_id, hostname: a.hostname },
      'agent removed by an admin clean-up',
    );
    agentDeleted = r.deleted;
    cloudflareDeleted = r.tunnelDeleted;
  }
  return {
    found: true as const,
    dry_run: input.dryRun,
    agent_id: a.agent_id,
    vm_name: a.vm_name,
    cloudflare_deleted: cloudflareDeleted,
    agent_deleted: agentDeleted,
    external_cloud: external,
    external_candidates: ids.length + (plan.gcp_instance ? 1 : 0),
    detail: detail.length ? detail.join(' ') : null,
  };
}
