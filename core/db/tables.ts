/**
 * Raw row types of every table (what knex hands back) and the helpers stores use to map
 * them to domain objects. Engines differ on the way out: PostgreSQL returns timestamptz as
 * Date and booleans as boolean; SQLite returns the ISO text the app wrote and 0/1. The app
 * always writes ISO-8601 UTC strings (`nowIso()`), booleans, and JSON.stringify'd text.
 */

import type { DeploymentStatus } from '../deployment-status';

/** timestamptz: Date from pg, ISO string from SQLite. */
export type DbTimestamp = Date | string;
/** boolean from pg, 0/1 from SQLite. */
export type DbBool = boolean | number;
/** JSON text column. */
export type DbJson = string | null;

export interface AgentRow {
  agent_id: string;
  vm_name: string;
  status: string;
  attestation: DbJson;
  mrtd: string;
  rtmrs: DbJson;
  intel_ta_token: string | null;
  tunnel_id: string | null;
  hostname: string | null;
  tunnel_token: string | null;
  current_deployment_id: string | null;
  service_url: string | null;
  health_endpoint: string;
  health_status: string;
  last_health_check: DbTimestamp | null;
  unhealthy_since: DbTimestamp | null;
  stats: DbJson;
  registered_at: DbTimestamp;
  last_heartbeat: DbTimestamp;
  version: string;
  verified: DbBool;
  verification_error: string | null;
  tunnel_error: string | null;
  last_attestation_check: DbTimestamp | null;
  attestation_valid: DbBool;
  attestation_error: string | null;
  account_id: string | null;
  sla_tiers: DbJson;
  machine_sizes: DbJson;
  tcb_status: string | null;
  tcb_verified_at: DbTimestamp | null;
  node_size: string;
  datacenter: string;
  github_owner: string | null;
  deployed_app: string | null;
  /** base64url X25519 HPKE public key (issue #17); null for agents that registered without one. */
  encryption_public_key?: string | null;
  /** The ITA token that binds encryption_public_key (REPORTDATA 32..64 = its SHA-256). */
  encryption_key_token?: string | null;
}

export interface AgentControlCredentialRow {
  agent_id: string;
  api_secret_hash: string;
  api_secret_prefix: string;
  created_at: DbTimestamp;
  updated_at: DbTimestamp;
}

export interface DeploymentRow {
  deployment_id: string;
  compose: string;
  build_context: DbJson;
  config: DbJson;
  agent_id: string;
  status: DeploymentStatus;
  service_id: string | null;
  attestation: DbJson;
  error: string | null;
  created_at: DbTimestamp;
  started_at: DbTimestamp | null;
  completed_at: DbTimestamp | null;
  account_id: string | null;
  app_name: string | null;
  app_version: string | null;
  sla_class: string;
  machine_size: string;
  cpu_vcpus: number;
  memory_gb: number;
  gpu_count: number;
  last_charge_time: DbTimestamp | null;
  /** micro-dollars */
  total_charged: number;
  /** repository_owner of the OIDC token that deployed it; null for API-key deploys. */
  github_owner: string | null;
  /** JSON {enc, ct} HPKE envelope of the env sealed to the agent (issue #17); null when none. */
  encrypted_env?: string | null;
}

export interface AppRow {
  app_id: string;
  name: string;
  description: string;
  source_repo: string | null;
  maintainers: DbJson;
  tags: DbJson;
  created_at: DbTimestamp;
  maintainer_accounts: DbJson;
}

export interface AppVersionRow {
  version_id: string;
  app_name: string;
  version: string;
  node_size: string;
  compose: string;
  image_digest: string | null;
  source_commit: string | null;
  source_tag: string | null;
  mrtd: string | null;
  attestation: DbJson;
  ingress: DbJson;
  status: string;
  rejection_reason: string | null;
  published_at: DbTimestamp;
  pinned_compose: string | null;
  measured_at: DbTimestamp | null;
}

export interface AppRevenueShareRow {
  share_id: string;
  app_name: string;
  account_id: string;
  share_bps: number;
  label: string;
  created_at: DbTimestamp;
}

export interface AccountRow {
  account_id: string;
  name: string;
  description: string;
  account_type: string;
  created_at: DbTimestamp;
  api_key_hash: string | null;
  api_key_prefix: string | null;
  github_id: number | null;
  github_login: string | null;
  github_org: string | null;
  linked_at: DbTimestamp | null;
  /** JSON list (text) of the proving session's orgs. */
  github_orgs: string | null;
  github_login_proof: string | null;
  github_org_proof: string | null;
}

export interface TransactionRow {
  transaction_id: string;
  account_id: string;
  /** signed micro-dollars */
  amount: number;
  /** micro-dollars */
  balance_after: number;
  tx_type: string;
  description: string;
  reference_id: string | null;
  created_at: DbTimestamp;
  ledger_key: string | null;
}

export interface SettingRow {
  key: string;
  value: string;
  is_secret: DbBool;
  updated_at: DbTimestamp;
}

export interface AdminSessionRow {
  session_id: string;
  token_hash: string;
  token_prefix: string;
  created_at: DbTimestamp;
  expires_at: DbTimestamp;
  last_used: DbTimestamp;
  ip_address: string | null;
  github_id: number | null;
  github_login: string | null;
  github_email: string | null;
  github_avatar_url: string | null;
  auth_method: string;
  github_orgs: DbJson;
}

export interface TrustedMrtdRow {
  mrtd: string;
  mrtd_type: string;
  note: string;
  added_at: DbTimestamp;
}

export interface CapacityPoolTargetRow {
  target_id: string;
  datacenter: string;
  node_size: string;
  min_warm_count: number;
  enabled: DbBool;
  require_verified: DbBool;
  require_healthy: DbBool;
  require_hostname: DbBool;
  dispatch: DbBool;
  reason: string;
  created_at: DbTimestamp;
  updated_at: DbTimestamp;
}

export interface CapacityReservationRow {
  reservation_id: string;
  agent_id: string;
  datacenter: string;
  node_size: string;
  status: string;
  deployment_id: string | null;
  note: string;
  created_at: DbTimestamp;
  updated_at: DbTimestamp;
}

export interface CapacityLaunchOrderRow {
  order_id: string;
  datacenter: string;
  node_size: string;
  status: string;
  reason: string;
  requested_count: number;
  account_id: string | null;
  claimed_by_account_id: string | null;
  claim_expires_at: DbTimestamp | null;
  claimed_at: DbTimestamp | null;
  fulfilled_at: DbTimestamp | null;
  bootstrap_token_hash: string | null;
  bootstrap_token_issued_at: DbTimestamp | null;
  bootstrap_token_used_at: DbTimestamp | null;
  vm_name: string | null;
  error: string | null;
  created_at: DbTimestamp;
  updated_at: DbTimestamp;
  fulfiller: string | null;
  claim_count: number;
  bootstrap_token_consumer: string | null;
  agent_id: string | null;
}

export interface ServiceRow {
  service_id: string;
  name: string;
  description: string;
  source_repo: string | null;
  source_commit: string | null;
  compose_hash: string | null;
  mrtd: string | null;
  intel_ta_token: string | null;
  endpoints: DbJson;
  attestation_json: DbJson;
  registered_at: DbTimestamp;
  last_health_check: DbTimestamp | null;
  health_status: string;
  tags: DbJson;
  agent_id: string | null;
  deployment_id: string | null;
}

// ---- mapping helpers -------------------------------------------------------------------

/** Current time as the ISO-8601 UTC string the app stores (`2026-11-24T00:00:00.000Z`). */
export function nowIso(): string {
  return new Date().toISOString();
}

/**
 * Normalizes a stored datetime to ISO-8601 UTC with `Z`. Accepts pg Dates, the ISO text the
 * app writes, naive `YYYY-MM-DD HH:MM:SS[.ffffff]` text (treated as UTC, as v1 did) and epoch ms.
 */
export function toIso(v: Date | string | number | null | undefined): string | null {
  if (v === null || v === undefined || v === '') return null;
  let d: Date;
  if (v instanceof Date) d = v;
  else if (typeof v === 'number') d = new Date(v);
  else {
    let s = v.trim().replace(' ', 'T');
    if (!/(Z|[+-]\d{2}:?\d{2})$/i.test(s)) s += 'Z';
    d = new Date(s);
  }
  if (Number.isNaN(d.getTime())) throw new Error(`invalid datetime in database: ${String(v)}`);
  return d.toISOString();
}

/** `toIso` for NOT NULL columns. */
export function requireIso(v: Date | string | number): string {
  const iso = toIso(v);
  if (iso === null) throw new Error('missing datetime in NOT NULL column');
  return iso;
}

/** pg booleans, SQLite 0/1 (and '0'/'1' text from a DB default) to boolean. */
export function toBool(v: boolean | number | string | null | undefined): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') return v !== '' && v !== '0' && v.toLowerCase() !== 'false';
  return false;
}

/** Parses a JSON text column; null, empty or malformed text gives `fallback`. */
export function parseJsonColumn<T>(v: unknown, fallback: T): T {
  if (v === null || v === undefined || v === '') return fallback;
  if (typeof v !== 'string') return v as T; // already decoded (json/jsonb column)
  try {
    return JSON.parse(v) as T;
  } catch {
    return fallback;
  }
}
