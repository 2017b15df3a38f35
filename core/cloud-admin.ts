/**
 * Admin cloud views and clean-up plans (api.md §10 cloud resources, §12 Cloudflare and clean-up; background.md
 * §4 and §8.3), pure: the activities fetch tunnels, records, instances and rows, these functions decide. A plan
 * names exactly what a clean-up deletes; the workflow deletes that list and nothing else.
 */
import { regionOfZone } from './capacity';
import { cloudOf } from './placement';

export const PROTECTED_TUNNEL = 'easyenclave-control-plane';
export const TUNNEL_SUFFIX = '.cfargotunnel.com';

export interface TunnelIn {
  tunnel_id: string;
  name: string;
  status: string;
  has_connections: boolean;
  connection_count: number;
  created_at: string | null;
}
export interface DnsIn {
  record_id: string;
  name: string;
  content: string;
  proxied: boolean;
  created_on: string | null;
}
export interface InstanceIn {
  name: string;
  zone: string;
  datacenter: string;
  status: string;
  creation_timestamp: string | null;
  labels: Record<string, string>;
}
export interface AgentIn {
  agent_id: string;
  vm_name: string;
  status: string;
  tunnel_id: string | null;
  hostname: string | null;
}

export const isAgentTunnelName = (name: string) => name.startsWith('agent-') && name !== PROTECTED_TUNNEL;

export function tunnelViews(tunnels: TunnelIn[], agents: AgentIn[]) {
  const byTunnel = new Map(agents.filter((a) => a.tunnel_id).map((a) => [a.tunnel_id!, a]));
  const rows = tunnels.map((t) => {
    const a = byTunnel.get(t.tunnel_id);
    const isProtected = t.name === PROTECTED_TUNNEL;
    return {
      ...t,
      agent_id: a?.agent_id ?? null,
      agent_vm_name: a?.vm_name ?? null,
      agent_status: a?.status ?? null,
      protected: isProtected,
      orphaned: !a && !isProtected && t.name.startsWith('agent-'),
      owner: t.name.startsWith('agent-') ? 'agent' : isProtected ? 'control-plane' : 'unmanaged',
    };
  });
  return {
    tunnels: rows,
    total: rows.length,
    orphaned_count: rows.filter((r) => r.orphaned).length,
    connected_count: rows.filter((r) => r.has_connections).length,
  };
}

const linkedTunnel = (content: string) =>
  content.toLowerCase().endsWith(TUNNEL_SUFFIX) ? content.slice(0, -TUNNEL_SUFFIX.length) : null;

export function dnsViews(records: DnsIn[], tunnels: TunnelIn[]) {
  const ids = new Set(tunnels.map((t) => t.tunnel_id));
  const rows = records.map((r) => {
    const linked = linkedTunnel(r.content);
    return {
      ...r,
      is_tunnel_record: linked !== null,
      linked_tunnel_id: linked,
      orphaned: linked !== null && !ids.has(linked),
    };
  });
  return {
    records: rows,
    total: rows.length,
    orphaned_count: rows.filter((r) => r.orphaned).length,
    tunnel_record_count: rows.filter((r) => r.is_tunnel_record).length,
  };
}

// ---------- orphan plans ----------

export interface StaleAgentRef {
  agent_id: string;
  vm_name: string;
  tunnel_id: string | null;
  hostname: string | null;
}

export interface OrphanPlan {
  tunnels: { tunnel_id: string; name: string }[];
  dns_records: { record_id: string; name: string; content: string }[];
  gcp_instances: { name: string; zone: string; datacenter: string }[];
  stale_agents: StaleAgentRef[];
}

/** background.md §8.3: agent-named tunnels no agent references; tunnel CNAMEs to those or to no listed tunnel. */
export function cloudflareOrphans(tunnels: TunnelIn[], records: DnsIn[], agents: AgentIn[]) {
  const referenced = new Set(agents.map((a) => a.tunnel_id).filter(Boolean));
  const orphanTunnels = tunnels.filter((t) => t.tunnel_id && isAgentTunnelName(t.name) && !referenced.has(t.tunnel_id));
  const orphanIds = new Set(orphanTunnels.map((t) => t.tunnel_id));
  const listed = new Set(tunnels.map((t) => t.tunnel_id));
  const orphanRecords = records.filter((r) => {
    const linked = linkedTunnel(r.content);
    return r.record_id && linked !== null && (orphanIds.has(linked) || !listed.has(linked));
  });
  return {
    tunnels: orphanTunnels.map((t) => ({ tunnel_id: t.tunnel_id, name: t.name })),
    dns_records: orphanRecords.map((r) => ({ record_id: r.record_id, name: r.name, content: r.content })),
  };
}

export interface InstanceRules {
  /** VM names (lower-case) something still needs: an agent that stays, an order in flight. */
  protectedNames: Set<string>;
  /** `ee-order` label values of orders in flight. */
  protectedOrderLabels: Set<string>;
  /** Instances created after this (epoch ms) are left alone: their agent may not have registered yet. */
  cutoffMs: number;
  /** label-sanitized network name of this install; '' = any managed instance of this project. */
  networkLabel: string;
}

/**
 * Managed instances (`easyenclave=managed`, named `ee-…`) of this install with no agent or order (background.md
 * §4.2). Unparsable creation times are not protected (v1).
 */
export function orphanInstances(instances: InstanceIn[], r: InstanceRules) {
  return instances
    .filter((i) => {
      if (i.labels.easyenclave !== 'managed' || !i.name.startsWith('ee-')) return false;
      if (r.networkLabel && i.labels['ee-network'] !== r.networkLabel) return false;
      const created = i.creation_timestamp ? Date.parse(i.creation_timestamp) : Number.NaN;
      if (Number.isFinite(created) && created > r.cutoffMs) return false;
      if (r.protectedNames.has(i.name.toLowerCase())) return false;
      return !(i.labels['ee-order'] && r.protectedOrderLabels.has(i.labels['ee-order']));
    })
    .map((i) => ({ name: i.name, zone: i.zone, datacenter: i.datacenter }));
}

// ---------- cloud resources (api.md §10) ----------

export interface ResourceAgentIn {
  agent_id: string;
  vm_name: string;
  datacenter: string;
  node_size: string;
  status: string;
  health_status: string;
  verified: boolean;
  deployed_app: string | null;
  hostname: string | null;
}

export function cloudResources(
  agents: ResourceAgentIn[],
  deployments: { total: number; active: number },
  generatedAt: string,
) {
  const rows = agents.map((a) => {
    const dc = a.datacenter.trim().toLowerCase();
    const zone = dc.includes(':') ? dc.slice(dc.indexOf(':') + 1) : '';
    return {
      agent_id: a.agent_id,
      vm_name: a.vm_name,
      cloud: cloudOf(dc) || 'unknown',
      datacenter: dc,
      availability_zone: zone,
      region: zone ? regionOfZone(zone) : '',
      node_size: a.node_size,
      status: a.status,
      health_status: a.health_status,
      verified: a.verified,
      deployed_app: a.deployed_app,
      hostname: a.hostname,
    };
  });
  const k = (r: (typeof rows)[number]) => [r.cloud, r.datacenter, r.node_size, r.vm_name].join('\u0000');
  rows.sort((x, y) => (k(x) < k(y) ? -1 : k(x) > k(y) ? 1 : 0));
  const clouds = [...new Set(rows.map((r) => r.cloud))].sort().map((cloud) => {
    const of = rows.filter((r) => r.cloud === cloud);
    const sizes: Record<string, number> = {};
    for (const r of of) sizes[r.node_size] = (sizes[r.node_size] ?? 0) + 1;
    return {
      cloud,
      total_agents: of.length,
      healthy_agents: of.filter((r) => r.health_status === 'healthy').length,
      verified_agents: of.filter((r) => r.verified).length,
      undeployed_agents: of.filter((r) => r.status === 'undeployed').length,
      deployed_agents: of.filter((r) => r.status === 'deployed').length,
      deploying_agents: of.filter((r) => r.status === 'deploying').length,
      node_size_counts: sizes,
      datacenters: [...new Set(of.map((r) => r.datacenter))].sort(),
    };
  });
  return {
    generated_at: generatedAt,
    total_agents: rows.length,
    total_deployments: deployments.total,
    active_deployments: deployments.active,
    clouds,
    agents: rows,
  };
}
