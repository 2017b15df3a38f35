/**
 * Capacity vocabulary (api.md §10–§11, background.md §5–§6), pure: sizes, datacenter normalization, order and
 * reservation statuses, and the view shapes the API serves. No I/O; workflows may import this file directly.
 */
import { DATACENTER_RE, normalizeDatacenter as normalizeRegistrationDatacenter } from './agents/registration-input';
import { NODE_SIZES } from './placement';

export { NODE_SIZES };
export type NodeSize = (typeof NODE_SIZES)[number];

export const ORDER_STATUSES = ['open', 'claimed', 'provisioning', 'fulfilled', 'failed'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];
export const IN_FLIGHT_STATUSES: readonly OrderStatus[] = ['open', 'claimed', 'provisioning'];
export const REPORTABLE_STATUSES = ['claimed', 'provisioning', 'fulfilled', 'failed'] as const;
export const RESERVATION_STATUSES = ['open', 'consumed', 'expired', 'released'] as const;

/** Who fulfils the order when no launcher claims it: v1's literal id for the built-in GCP fulfiller. */
export const CP_INTERNAL_LAUNCHER = 'cp-internal-launcher';
export const DEFAULT_POOL_REASON = 'capacity-pool-controller';
export const DEFAULT_GCP_TINY_REASON = 'default-gcp-tiny-capacity';
export const REQUEUE_ERROR = 'claim expired and was re-queued';

export const INVALID_DATACENTER = "Invalid datacenter. Expected '<cloud>:<zone>' (for example gcp:us-central1-a)";
export const INVALID_NODE_SIZE = `Invalid node_size. Expected one of: ${NODE_SIZES.join(', ')}`;

export const lower = (v: string | null | undefined) => (v ?? '').trim().toLowerCase();

/** Registration normalization (`GCP` → `gcp:default`) then the `<cloud>:<zone>` format; null when invalid. */
export function parseDatacenter(raw: string): string | null {
  const dc = normalizeRegistrationDatacenter(raw);
  return dc !== '' && DATACENTER_RE.test(dc) ? dc : null;
}

export function isNodeSize(v: string): v is NodeSize {
  return (NODE_SIZES as readonly string[]).includes(v);
}

/** `gcp` or `gcp:<zone>`: orders the built-in GCP fulfiller may take. */
export function isGcpDatacenter(dc: string): boolean {
  const d = lower(dc);
  return d === 'gcp' || d.startsWith('gcp:');
}

export interface TargetView {
  datacenter: string;
  node_size: string;
  min_warm_count: number;
  enabled: boolean;
  require_verified: boolean;
  require_healthy: boolean;
  require_hostname: boolean;
  dispatch: boolean;
  reason: string;
  eligible_agents: number;
  open_reservations: number;
  shortfall: number;
}

export interface ReservationView {
  reservation_id: string;
  agent_id: string;
  datacenter: string;
  node_size: string;
  status: string;
  deployment_id: string | null;
  note: string;
  created_at: string;
  updated_at: string;
}

/** Never carries bootstrap token fields. */
export interface OrderView {
  order_id: string;
  datacenter: string;
  node_size: string;
  status: string;
  reason: string;
  requested_count: number;
  account_id: string | null;
  claimed_by_account_id: string | null;
  claim_expires_at: string | null;
  claimed_at: string | null;
  fulfilled_at: string | null;
  vm_name: string | null;
  error: string | null;
  created_at: string;
  updated_at: string;
}

/** Agent fields the pool rules read (background.md §5.1). */
export interface PoolAgent {
  agent_id: string;
  status: string;
  verified: boolean;
  health_status: string;
  hostname: string | null;
  datacenter: string;
  node_size: string;
  vm_name: string;
}

export interface PoolRequirements {
  requireVerified: boolean;
  requireHealthy: boolean;
  requireHostname: boolean;
}

/** §5.1 minus the status rule, which the caller chooses (`undeployed` for pools, a list for admin reconcile). */
export function matchesPool(a: PoolAgent, dc: string, ns: string, req: PoolRequirements): boolean {
  if (req.requireVerified && !a.verified) return false;
  if (req.requireHealthy && lower(a.health_status) !== 'healthy') return false;
  if (req.requireHostname && !(a.hostname ?? '').trim()) return false;
  if (lower(a.datacenter) !== dc) return false;
  return ns === '' || lower(a.node_size) === ns;
}

/** v1 region rule (data-model.md §4): drop a trailing all-digit or single-letter `-` segment. */
export function regionOfZone(zone: string): string {
  const parts = zone.split('-');
  const last = parts[parts.length - 1] ?? '';
  if (parts.length >= 2 && (/^\d+$/.test(last) || /^[a-z]$/.test(last))) return parts.slice(0, -1).join('-');
  return zone;
}

/** Instance-name rule: [a-z0-9-], runs of '-' collapsed, trimmed, ≤ 63; empty → `easyenclave`. */
export function sanitizeName(v: string): string {
  const s = v
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return s || 'easyenclave';
}

/** `ee-<size>-<first 8 of order>-<6 of suffix>`: the suffix is chosen once per claim by the workflow. */
export function instanceName(orderId: string, nodeSize: string, suffix: string): string {
  return sanitizeName(`ee-${nodeSize || 'tiny'}-${orderId.slice(0, 8)}-${suffix.slice(0, 6)}`);
}
