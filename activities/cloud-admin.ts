/**
 * Admin cloud activities (api.md §10 cloud resources, §12 Cloudflare and clean-up, background.md §4): views that
 * join an outside listing (Cloudflare, Compute, the provisioner's inventory) with the agent rows, and the clean-up
 * *plans*. A plan is computed in one activity from one consistent read of every source, so a dry run and the real
 * run that follows it see the same list; the workflow then deletes exactly the plan's items with the idempotent
 * delete activities (404 = already gone).
 */
import { HOUR_MS } from '../core/time';
import type { Knex } from 'knex';
import {
  cloudflareOrphans,
  dnsViews,
  orphanInstances,
  tunnelViews,
  PROTECTED_TUNNEL,
  type OrphanPlan,
  type StaleAgentRef,
} from '../core/cloud-admin';
import { isGcpDatacenter, lower, sanitizeName } from '../core/capacity';
import { sanitizeLabel } from '../core/gcp-instance';
import { normalizeInventory, type ExternalCloudResource } from '../core/provisioner';
import { settingInt } from '../core/settings/read';
import type { SettingsReader } from '../core/settings/types';
import {
  clearAgentTunnel,
  cloudAgents,
  failReapedOrder,
  fulfilledGcpOrders,
  inFlightOrders,
  staleRef,
  type CloudAgent,
} from '../core/stores/cloud';
import type { CloudflareActivities } from './cloudflare';
import type { GcpActivities } from './gcp';
import type { ProvisionerActivities } from './provisioner';

export interface CloudAdminDeps {
  db: Knex;
  settings: SettingsReader;
  cloudflare: Pick<CloudflareActivities, 'cloudflareConfigured' | 'listAllTunnels' | 'listAllDnsRecords'>;
  gcp: Pick<GcpActivities, 'listManagedGcpInstances'>;
  provisioner: Pick<ProvisionerActivities, 'provisionerInventory'>;
}

export type Refusal = { ok: false; status: number; detail: string };
// 503, not v1's 400: a missing integration is the server's state, not a fault of the request (as GitHub OAuth, Stripe).
const NOT_CONFIGURED: Refusal = { ok: false, status: 503, detail: 'Cloudflare not configured' };
export const STALE_ORDER_REAPED = 'stale fulfilled order reclaimed; vm deleted or missing';

export interface OrphanPlanInput {
  cloudflare: boolean;
  gcp: boolean;
  staleAgents: boolean;
  /** null → operational.agent_stale_hours. */
  staleHours?: number | null;
}
export interface OrphanPlanResult {
  cloudflare_configured: boolean;
  gcp_configured: boolean;
  stale_hours: number;
  plan: OrphanPlan;
  detail: string[];
}

export interface AgentCleanupPlan {
  found: boolean;
  agent: StaleAgentRef & { datacenter: string; active: boolean };
  /** Provisioner inventory resource ids linked to the agent. */
  external_resource_ids: string[];
  external: { configured: boolean; ok: boolean; detail: string | null };
  /** The agent's own managed GCP VM, when the built-in GCP path can delete it. */
  gcp_instance: { name: string; datacenter: string } | null;
}

export function createCloudAdminActivities({ db, settings, cloudflare, gcp, provisioner }: CloudAdminDeps) {
  const gcpConfigured = async () =>
    (await settings.get('gcp.project_id')).trim() !== '' &&
    (await settings.get('gcp.service_account_key')).trim() !== '';
  const staleHoursSetting = async () => {
    const h = Number.parseFloat(await settings.get('operational.agent_stale_hours'));
    return Number.isFinite(h) && h > 0 ? h : 24;
  };
  const graceMs = async () =>
    Math.max(300, await settingInt(settings, 'operational.capacity_fulfilled_grace_seconds')) * 1000;
  const isStale = (a: CloudAgent, cutoffMs: number) => !a.last_contact || Date.parse(a.last_contact) < cutoffMs;
  const keepsDeployment = (a: CloudAgent) => Boolean(a.current_deployment_id) && a.status === 'deployed';

  async function instanceRules(keep: CloudAgent[], cutoffMs: number) {
    const orders = await inFlightOrders(db);
    return {
      protectedNames: new Set([
        ...keep.map((a) => lower(a.vm_name)),
        ...orders.map((o) => lower(o.vm_name)).filter(Boolean),
      ]),
      protectedOrderLabels: new Set(orders.map((o) => sanitizeName(o.order_id.slice(0, 24)))),
      cutoffMs,
      networkLabel: sanitizeLabel((await settings.get('gcp.network_name')).trim()),
    };
  }

  async function inventory(agents: CloudAgent[]) {
    const r = await provisioner.provisionerInventory({});
    const resources = r.configured && !r.detail ? normalizeInventory(r.payload, agents) : [];
    return { ...r, resources };
  }

  return {
    async cloudflareStatus(_input: Record<string, never> = {}) {
      const c = await cloudflare.cloudflareConfigured({});
      return { configured: c.configured, domain: c.domain, protected_tunnel_names: [PROTECTED_TUNNEL] };
    },

    async cloudflareTunnelsView(_input: Record<string, never> = {}) {
      if (!(await cloudflare.cloudflareConfigured({})).configured) return NOT_CONFIGURED;
      const { items } = await cloudflare.listAllTunnels({});
      return { ok: true as const, ...tunnelViews(items, await cloudAgents(db)) };
    },

    async cloudflareDnsView(_input: Record<string, never> = {}) {
      if (!(await cloudflare.cloudflareConfigured({})).configured) return NOT_CONFIGURED;
      const [{ items: records }, { items: tunnels }] = [
        await cloudflare.listAllDnsRecords({}),
        await cloudflare.listAllTunnels({}),
      ];
      return { ok: true as const, ...dnsViews(records, tunnels) };
    },

    /** Pre-check of an admin tunnel delete: refuse the control plane's own tunnel (listing failures ignored). */
    async cloudflareTunnelDeletable(input: { tunnelId: string }): Promise<{ ok: true } | Refusal> {
      if (!(await cloudflare.cloudflareConfigured({})).configured) return NOT_CONFIGURED;
      try {
        const { items } = await cloudflare.listAllTunnels({});
        if (items.some((t) => t.tunnel_id === input.tunnelId && t.name === PROTECTED_TUNNEL)) {
          return { ok: false, status: 400, detail: 'Refusing to delete the protected control plane tunnel.' };
        }
      } catch {
        // v1: a failed pre-check does not block the delete
      }
      return { ok: true };
    },

    async clearAgentTunnel(input: { tunnelId: string }): Promise<{ cleared: number }> {
      return { cleared: await clearAgentTunnel(db, input.tunnelId) };
    },

    async externalResourcesView(_input: Record<string, never> = {}) {
      const inv = await inventory(await cloudAgents(db));
      const detail =
        inv.detail ??
        (typeof inv.payload.detail === 'string'
          ? inv.payload.detail
          : typeof inv.payload.message === 'string'
            ? inv.payload.message
            : `Inventory webhook returned HTTP ${inv.status}`);
      return {
        configured: inv.configured,
        total_resources: inv.resources.length,
        tracked_count: inv.resources.filter((r) => r.tracked).length,
        orphaned_count: inv.resources.filter((r) => r.orphaned).length,
        detail,
        resources: inv.resources as ExternalCloudResource[],
      };
    },

    /** The unified clean-up's list (api.md §12): orphan tunnels + records, orphan managed VMs, stale agents. */
    async planOrphanCleanup(input: OrphanPlanInput, now = Date.now()): Promise<OrphanPlanResult> {
      const staleHours = input.staleHours ?? (await staleHoursSetting());
      const agents = await cloudAgents(db);
      const stale = input.staleAgents
        ? agents.filter((a) => isStale(a, now - staleHours * HOUR_MS) && !keepsDeployment(a))
        : [];
      const staleIds = new Set(stale.map((a) => a.agent_id));
      const keep = agents.filter((a) => !staleIds.has(a.agent_id));
      const plan: OrphanPlan = { tunnels: [], dns_records: [], gcp_instances: [], stale_agents: stale.map(staleRef) };
      const detail: string[] = [];
      const cfConfigured = (await cloudflare.cloudflareConfigured({})).configured;
      if (input.cloudflare && !cfConfigured) detail.push('Cloudflare is not configured.');
      if (input.cloudflare && cfConfigured) {
        const { items: tunnels } = await cloudflare.listAllTunnels({});
        const { items: records } = await cloudflare.listAllDnsRecords({});
        // Every agent row still references its tunnel here: a stale agent's tunnel goes with the agent.
        Object.assign(plan, cloudflareOrphans(tunnels, records, agents));
      }
      const gcpOn = await gcpConfigured();
      if (input.gcp && gcpOn) {
        const { instances } = await gcp.listManagedGcpInstances();
        plan.gcp_instances = orphanInstances(instances, await instanceRules(keep, now - (await graceMs())));
      }
      return { cloudflare_configured: cfConfigured, gcp_configured: gcpOn, stale_hours: staleHours, plan, detail };
    },

    /** Stale-agent candidates of POST /admin/agents/cleanup/stale. */
    async planStaleAgents(input: { staleHours: number | null; includeDeployed: boolean }, now = Date.now()) {
      const staleHours = input.staleHours ?? (await staleHoursSetting());
      const stale = (await cloudAgents(db)).filter((a) => isStale(a, now - staleHours * HOUR_MS));
      return {
        stale_hours: staleHours,
        candidates: stale
          .filter((a) => input.includeDeployed || !keepsDeployment(a))
          .map((a) => ({ ...staleRef(a), active: a.active })),
        skipped: stale
          .filter((a) => !input.includeDeployed && keepsDeployment(a))
          .map((a) => ({ agent_id: a.agent_id, vm_name: a.vm_name, reason: 'active_deployment' })),
      };
    },

    /** POST /admin/agents/{id}/cleanup: the agent, its inventory resources and its own managed GCP VM. */
    async planAgentCleanup(input: { agentId: string }): Promise<AgentCleanupPlan> {
      const agents = await cloudAgents(db);
      const a = agents.find((x) => x.agent_id === input.agentId);
      const empty = {
        agent_id: input.agentId,
        vm_name: '',
        tunnel_id: null,
        hostname: null,
        datacenter: '',
        active: false,
      };
      if (!a) {
        return {
          found: false,
          agent: empty,
          external_resource_ids: [],
          external: { configured: false, ok: false, detail: null },
          gcp_instance: null,
        };
      }
      const inv = await inventory(agents);
      const linked = inv.resources.filter(
        (r) => r.linked_agent_id === a.agent_id || lower(r.linked_vm_name) === lower(a.vm_name),
      );
      const dc = lower(a.datacenter);
      return {
        found: true,
        agent: { ...staleRef(a), datacenter: dc, active: a.active },
        external_resource_ids: [...new Set(linked.map((r) => r.resource_id))].sort(),
        external: { configured: inv.configured, ok: inv.configured && !inv.detail, detail: inv.detail },
        gcp_instance:
          (await gcpConfigured()) && dc.startsWith('gcp:') && a.vm_name
            ? { name: lower(a.vm_name), datacenter: dc }
            : null,
      };
    },

    /**
     * background.md §4.1 + §4.2 for the `gcp-reaper` schedule: stale fulfilled built-in orders and orphaned managed
     * instances, each with no protecting agent (an active deployment, or contact within agent_stale_hours).
     */
    async planGcpReap(_input: Record<string, never> = {}, now = Date.now()) {
      if (!(await gcpConfigured())) return { configured: false, orders: [], instances: [] };
      const cutoffMs = now - (await graceMs());
      const staleMs = Math.max(1, await staleHoursSetting()) * HOUR_MS;
      const agents = await cloudAgents(db);
      const protecting = agents.filter(
        (a) => a.active || (a.last_contact && now - Date.parse(a.last_contact) < staleMs),
      );
      const protectedNames = new Set(protecting.map((a) => lower(a.vm_name)));
      const byVm = new Map(agents.map((a) => [lower(a.vm_name), a]));
      const ref = (name: string) => {
        const a = byVm.get(name);
        return a && !a.active ? staleRef(a) : null;
      };
      const orders = (await fulfilledGcpOrders(db))
        .filter((o) => {
          const at = Date.parse(String(o.fulfilled_at ?? o.updated_at ?? o.created_at));
          return (
            isGcpDatacenter(o.datacenter) &&
            [null, '', 'cp-internal-launcher'].includes(o.claimed_by_account_id) &&
            (o.vm_name ?? '').trim() !== '' &&
            Number.isFinite(at) &&
            at <= cutoffMs &&
            !protectedNames.has(lower(o.vm_name))
          );
        })
        .map((o) => ({
          orderId: o.order_id,
          datacenter: o.datacenter,
          name: lower(o.vm_name),
          agent: ref(lower(o.vm_name)),
        }));
      const { instances } = await gcp.listManagedGcpInstances();
      const rules = await instanceRules(protecting, cutoffMs);
      const reapedNames = new Set(orders.map((o) => o.name));
      const orphans = orphanInstances(instances, rules)
        .filter((i) => !reapedNames.has(i.name))
        .map((i) => ({ ...i, agent: ref(lower(i.name)) }));
      return { configured: true, orders, instances: orphans };
    },

    async failReapedOrder(input: { orderId: string }): Promise<{ failed: boolean }> {
      return { failed: await failReapedOrder(db, input.orderId, STALE_ORDER_REAPED) };
    },
  };
}

export type CloudAdminActivities = ReturnType<typeof createCloudAdminActivities>;
