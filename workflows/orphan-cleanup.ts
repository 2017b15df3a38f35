import { cf, errorText, gcp, plans, provisioner } from './lib/cloud-activities';
import { removeAgent } from './delete-agent';
import type { OrphanCleanupInput } from './contracts/cloud';

/** background.md §8.3: at most 8 deletions in flight. */
const CONCURRENCY = 8;

async function each<T>(items: T[], f: (t: T) => Promise<boolean>): Promise<{ deleted: number; failed: number }> {
  let deleted = 0;
  let failed = 0;
  for (let i = 0; i < items.length; i += CONCURRENCY) {
    const r = await Promise.allSettled(items.slice(i, i + CONCURRENCY).map(f));
    for (const x of r) {
      if (x.status === 'fulfilled' && x.value) deleted++;
      else failed++;
    }
  }
  return { deleted, failed };
}

/**
 * `orphan-cleanup:<request>` (POST /api/v1/admin/cleanup/orphans): one activity computes the plan — agent tunnels
 * and tunnel CNAMEs no agent references, managed GCP instances of this install with no agent or order in flight
 * (older than the fulfilled-grace window), stale agents — and a dry run returns it. The real run deletes exactly the
 * plan's items (never re-lists), each delete idempotent, and asks the external provisioner's cleanup webhook too.
 */
export async function orphanCleanup(input: OrphanCleanupInput) {
  const p = await plans.planOrphanCleanup({
    cloudflare: input.cloudflare,
    gcp: input.gcp,
    staleAgents: input.stale_agents,
    staleHours: input.stale_hours,
  });
  const detail = [...p.detail];
  const { plan } = p;

  let external: Record<string, unknown> | null = null;
  let externalConfigured = false;
  if (input.external_cloud) {
    try {
      const r = await provisioner.provisionerCleanup({
        dry_run: input.dry_run,
        only_orphaned: input.external_only_orphaned,
        providers: input.external_providers,
        resource_ids: input.external_resource_ids,
        reason: input.reason,
      });
      externalConfigured = r.configured;
      external = {
        configured: r.configured,
        dispatched: r.dispatched,
        dry_run: input.dry_run,
        requested_count: r.requested_count,
        status_code: r.status,
        detail: r.detail,
      };
      if (!r.configured && r.detail) detail.push(`${r.detail}.`);
    } catch (err) {
      externalConfigured = true;
      detail.push(`External cloud cleanup failed: ${errorText(err)}`);
    }
  }

  const cloudflare = input.cloudflare && p.cloudflare_configured;
  type Counts = { deleted: number; failed: number };
  /** The answer, dry run or not: what was planned beside what was deleted (nothing, in a dry run). */
  const report = (dryRun: boolean, done: { tunnels: Counts; dns: Counts; vms: Counts; agents: Counts }) => ({
    dry_run: dryRun,
    cloudflare_configured: p.cloudflare_configured,
    gcp_configured: p.gcp_configured,
    external_cloud_configured: externalConfigured,
    stale_hours: p.stale_hours,
    plan,
    cloudflare: cloudflare
      ? {
          dry_run: dryRun,
          tunnels_deleted: done.tunnels.deleted,
          dns_deleted: done.dns.deleted,
          tunnels_candidates: plan.tunnels.length,
          dns_candidates: plan.dns_records.length,
          tunnels_failed: done.tunnels.failed,
          dns_failed: done.dns.failed,
        }
      : null,
    gcp: input.gcp && p.gcp_configured ? { candidates: plan.gcp_instances.length, ...done.vms } : null,
    stale_agents: input.stale_agents ? { candidates: plan.stale_agents.length, ...done.agents } : null,
    external_cloud: external,
    detail: detail.length ? detail.join(' ') : null,
  });
  if (input.dry_run) {
    const none = { deleted: 0, failed: 0 };
    return report(true, { tunnels: none, dns: none, vms: none, agents: none });
  }

  const tunnels = await each(plan.tunnels, async (t) => {
    await cf.deleteTunnel({ tunnelId: t.tunnel_id });
    return true; // deleted now, or already gone: either way it no longer exists
  });
  const dns = await each(plan.dns_records, async (r) => {
    await cf.deleteDnsRecord({ recordId: r.record_id });
    return true;
  });
  const vms = await each(plan.gcp_instances, async (i) => {
    await gcp.deleteGcpInstance({ datacenter: i.datacenter, name: i.name, requestKey: `orphan:${i.name}` });
    return true;
  });
  // Agent by agent (each waits for its deployment to end first); tunnel and DNS go with the agent.
  let agentsDeleted = 0;
  let agentsFailed = 0;
  for (const a of plan.stale_agents) {
    try {
      await removeAgent(
        { agentId: a.agent_id, tunnelId: a.tunnel_id, hostname: a.hostname },
        'agent removed by the orphan clean-up',
      );
      agentsDeleted++;
    } catch (err) {
      agentsFailed++;
      detail.push(`Failed to delete agent ${a.agent_id}: ${errorText(err)}`);
    }
  }
  return report(false, { tunnels, dns, vms, agents: { deleted: agentsDeleted, failed: agentsFailed } });
}
