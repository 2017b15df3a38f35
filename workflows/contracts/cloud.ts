/**
 * Contracts of the admin cloud processes (api.md §12): Cloudflare admin views and deletes, the unified orphan
 * clean-up (plan in one activity, delete exactly the plan), single-agent and stale-agent clean-ups, and the
 * `gcp-reaper` schedule's run (background.md §4).
 */
export const CLOUD_ADMIN_WORKFLOW = 'cloudAdmin';
export const ORPHAN_CLEANUP_WORKFLOW = 'orphanCleanup';
export const AGENT_CLEANUP_WORKFLOW = 'agentCleanup';
export const STALE_AGENTS_CLEANUP_WORKFLOW = 'staleAgentsCleanup';

export type CloudAdminOp =
  | { op: 'cloudflare-status' }
  | { op: 'cloudflare-tunnels' }
  | { op: 'cloudflare-dns' }
  | { op: 'delete-tunnel'; id: string }
  | { op: 'delete-dns'; id: string }
  | { op: 'external-resources' };

/** A refusal the API answers with its status (`{ detail }`); anything else is the view. */
export type CloudAdminResult = { ok: false; status: number; detail: string } | ({ ok: true } & Record<string, unknown>);

export const cloudAdminWorkflowId = (op: string, requestId: string) => `cloud-admin:${op}:${requestId}`;

export interface OrphanCleanupInput {
  dry_run: boolean;
  cloudflare: boolean;
  gcp: boolean;
  stale_agents: boolean;
  stale_hours: number | null;
  external_cloud: boolean;
  external_only_orphaned: boolean;
  external_providers: string[];
  external_resource_ids: string[];
  reason: string;
}

export const orphanCleanupWorkflowId = (requestId: string) => `orphan-cleanup:${requestId}`;

export interface AgentCleanupInput {
  agentId: string;
  dryRun: boolean;
  reason: string;
}
export const agentCleanupWorkflowId = (agentId: string, requestId: string) => `agent-cleanup:${agentId}:${requestId}`;

export interface StaleAgentsCleanupInput {
  staleHours: number | null;
  includeDeployed: boolean;
  dryRun: boolean;
}
export const staleAgentsCleanupWorkflowId = (requestId: string) => `stale-agents-cleanup:${requestId}`;

export interface GcpReaperResult {
  configured: boolean;
  orders_reaped: string[];
  instances_deleted: string[];
  failed: string[];
}
