/**
 * The external provisioner's wire contract (background.md §10), pure: the request signature, the inventory
 * normalization (§10.3) and the cleanup payload's requested count (§10.4). The HTTP calls live in
 * activities/provisioner.ts; docs/provisioner.md is the receiver's side.
 *
 * Signature: `X-EasyEnclave-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>` with
 * `X-EasyEnclave-Timestamp: <unix seconds>`, over the exact body bytes sent ('' for the inventory GET).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { regionOfZone } from './capacity';
import { normalizeCloud } from './placement';

export const SIGNATURE_HEADER = 'x-easyenclave-signature';
export const TIMESTAMP_HEADER = 'x-easyenclave-timestamp';
/** Receivers should refuse timestamps further than this from their clock (replay window). */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

export function webhookSignature(secret: string, timestamp: number | string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** The receiver's check, as documented: known secret, fresh timestamp, constant-time compare. */
export function verifyWebhookSignature(
  secret: string,
  headers: { timestamp?: string | null; signature?: string | null },
  body: string,
  nowSeconds: number,
  toleranceSeconds = SIGNATURE_TOLERANCE_SECONDS,
): boolean {
  const ts = headers.timestamp ?? '';
  if (!/^\d{1,12}$/.test(ts) || Math.abs(nowSeconds - Number(ts)) > toleranceSeconds) return false;
  const want = Buffer.from(webhookSignature(secret, ts, body));
  const got = Buffer.from(headers.signature ?? '');
  return want.length === got.length && timingSafeEqual(want, got);
}

// ---------- inventory (§10.3) ----------

export interface InventoryAgent {
  agent_id: string;
  vm_name: string;
  datacenter: string;
}

export interface ExternalCloudResource {
  provider: string;
  cloud: string;
  resource_id: string;
  resource_type: string;
  name: string;
  datacenter: string;
  availability_zone: string;
  region: string;
  status: string;
  labels: Record<string, string>;
  metadata: Record<string, unknown>;
  linked_agent_id: string | null;
  linked_vm_name: string | null;
  tracked: boolean;
  orphaned: boolean;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (...vs: unknown[]): string => {
  for (const v of vs) if ((typeof v === 'string' && v.trim()) || typeof v === 'number') return String(v).trim();
  return '';
};
const truthy = (v: unknown) => v === true || (typeof v === 'string' && ['1', 'true', 'yes'].includes(v.toLowerCase()));

/** Items = the first list under `resources`, `items`, `instances`, `vms`; non-objects dropped. */
export function inventoryItems(payload: Record<string, unknown>): Record<string, unknown>[] {
  for (const k of ['resources', 'items', 'instances', 'vms']) {
    const v = payload[k];
    if (Array.isArray(v)) return v.filter(isObj);
  }
  return [];
}

export function normalizeInventory(
  payload: Record<string, unknown>,
  agents: InventoryAgent[],
): ExternalCloudResource[] {
  const byId = new Map(agents.map((a) => [a.agent_id, a]));
  const byVm = new Map(agents.map((a) => [a.vm_name.toLowerCase(), a]));
  const out = inventoryItems(payload).map((raw, i): ExternalCloudResource => {
    const labels: Record<string, string> = {};
    if (isObj(raw.labels)) for (const [k, v] of Object.entries(raw.labels)) labels[k] = String(v);
    const metadata = isObj(raw.metadata) ? raw.metadata : {};
    const provider = str(raw.provider, raw.cloud).toLowerCase();
    const cloud = provider ? normalizeCloud(provider) || provider : 'unknown';
    let datacenter = str(raw.datacenter).toLowerCase();
    let zone = str(raw.availability_zone, raw.zone).toLowerCase();
    if (!datacenter && cloud !== 'unknown' && zone) datacenter = `${cloud}:${zone}`;
    if (!zone && datacenter.includes(':')) zone = datacenter.slice(datacenter.indexOf(':') + 1);
    let region = str(raw.region).toLowerCase() || (zone ? regionOfZone(zone) : '');
    const agentId = str(raw.linked_agent_id, raw.agent_id, metadata.agent_id, labels.agent_id);
    const vmName = str(raw.linked_vm_name, raw.vm_name, metadata.vm_name, labels.vm_name, raw.name);
    const agent = (agentId && byId.get(agentId)) || (vmName && byVm.get(vmName.toLowerCase())) || undefined;
    const tracked = truthy(raw.tracked) || agent !== undefined;
    let orphaned = 'orphaned' in raw ? truthy(raw.orphaned) : !tracked;
    if (agent) {
      orphaned = false;
      datacenter ||= agent.datacenter;
      if (!zone && datacenter.includes(':')) zone = datacenter.slice(datacenter.indexOf(':') + 1);
      region ||= zone ? regionOfZone(zone) : '';
    }
    return {
      provider: provider || cloud,
      cloud,
      resource_id: str(raw.resource_id, raw.id, raw.instance_id) || `resource-${i + 1}`,
      resource_type: str(raw.resource_type, raw.type).toLowerCase(),
      name: str(raw.name, raw.vm_name),
      datacenter,
      availability_zone: zone,
      region,
      status: str(raw.status, raw.state).toLowerCase(),
      labels,
      metadata,
      linked_agent_id: agent?.agent_id ?? null,
      linked_vm_name: agent?.vm_name ?? (vmName || null),
      tracked,
      orphaned,
    };
  });
  const key = (r: ExternalCloudResource) =>
    [r.cloud, r.region, r.availability_zone, r.resource_type, r.name, r.resource_id].join('\u0000');
  return out.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** §10.4: the first integer (or integer-like string) count field of a cleanup payload, floored at 0. */
export function requestedCount(payload: Record<string, unknown>): number {
  for (const k of [
    'requested_count',
    'target_count',
    'candidate_count',
    'orphaned_count',
    'deleted_count',
    'resources_count',
  ]) {
    const v = payload[k];
    if (typeof v === 'number' && Number.isInteger(v)) return Math.max(0, v);
    if (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v)) return Math.max(0, Number.parseInt(v, 10));
  }
  return 0;
}
