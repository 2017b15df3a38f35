/**
 * The `agents` and `agent_control_credentials` tables. Rows are mapped to the API's Agent object in one place
 * (`toAgentView`), which never carries the tunnel token, the ITA token or any secret (v1 exposed them publicly).
 */
import Database, { type Statement } from 'better-sqlite3';
import type { Knex } from 'knex';
import {
  nowIso,
  parseJsonColumn,
  requireIso,
  toBool,
  toIso,
  type AgentControlCredentialRow,
  type AgentRow,
  type DbTimestamp,
} from '../db/tables';
import { filteredKeysetPage, keyTime, keysetPage } from '../db/keyset';
import type { CursorKey, Page, PageRequest } from '../pagination';
import { isPostgres } from '../db/connection';
import { LIST_CLOCK_TABLE, LIST_VERSION_SEQUENCE } from '../db/migrations/20261202000100_list_agents_version';

type Db = Knex | Knex.Transaction;

/** The row after migration 20261124020000 (adds last_contact_at). */
export type AgentDbRow = AgentRow & { last_contact_at?: DbTimestamp | null; row_version?: number | string };
export type CredentialDbRow = AgentControlCredentialRow & { api_secret_sealed?: string | null };

/** data-model.md §2.1's 35 fields minus `tunnel_token` and `intel_ta_token`. */
export interface AgentView {
  agent_id: string;
  vm_name: string;
  status: string;
  attestation: unknown;
  mrtd: string;
  rtmrs: Record<string, string> | null;
  tunnel_id: string | null;
  hostname: string | null;
  current_deployment_id: string | null;
  service_url: string | null;
  health_endpoint: string;
  health_status: string;
  last_health_check: string | null;
  unhealthy_since: string | null;
  stats: unknown;
  registered_at: string;
  last_heartbeat: string;
  version: string;
  verified: boolean;
  verification_error: string | null;
  tunnel_error: string | null;
  last_attestation_check: string | null;
  attestation_valid: boolean;
  attestation_error: string | null;
  account_id: string | null;
  sla_tiers: unknown[];
  machine_sizes: unknown[];
  tcb_status: string | null;
  tcb_verified_at: string | null;
  node_size: string;
  datacenter: string;
  github_owner: string | null;
  deployed_app: string | null;
}

/** Drops `intel_ta_token` (and any other key naming a token or secret) from the stored attestation blob. */
export function redactAttestation(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactAttestation);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (/token|secret/i.test(k)) continue;
    out[k] = redactAttestation(v);
  }
  return out;
}

export function toAgentView(r: AgentDbRow): AgentView {
  return {
    agent_id: r.agent_id,
    vm_name: r.vm_name,
    status: r.status,
    attestation: redactAttestation(parseJsonColumn<unknown>(r.attestation, null)),
    mrtd: r.mrtd,
    rtmrs: parseJsonColumn<Record<string, string> | null>(r.rtmrs, null),
    tunnel_id: r.tunnel_id,
    hostname: r.hostname,
    current_deployment_id: r.current_deployment_id,
    service_url: r.service_url,
    health_endpoint: r.health_endpoint,
    health_status: r.health_status,
    last_health_check: toIso(r.last_health_check),
    unhealthy_since: toIso(r.unhealthy_since),
    stats: parseJsonColumn<unknown>(r.stats, null),
    registered_at: requireIso(r.registered_at),
    last_heartbeat: requireIso(r.last_heartbeat),
    version: r.version,
    verified: toBool(r.verified),
    verification_error: r.verification_error,
    tunnel_error: r.tunnel_error,
    last_attestation_check: toIso(r.last_attestation_check),
    attestation_valid: toBool(r.attestation_valid),
    attestation_error: r.attestation_error,
    account_id: r.account_id,
    sla_tiers: parseJsonColumn<unknown[]>(r.sla_tiers, []),
    machine_sizes: parseJsonColumn<unknown[]>(r.machine_sizes, []),
    tcb_status: r.tcb_status,
    tcb_verified_at: toIso(r.tcb_verified_at),
    node_size: r.node_size,
    datacenter: r.datacenter,
    github_owner: r.github_owner,
    deployed_app: r.deployed_app,
  };
}

export async function getAgent(db: Db, agentId: string): Promise<AgentDbRow | undefined> {
  return (await db('agents').where({ agent_id: agentId }).first()) as AgentDbRow | undefined;
}

export async function getAgentByVmName(db: Db, vmName: string): Promise<AgentDbRow | undefined> {
  return (await db('agents').where({ vm_name: vmName }).first()) as AgentDbRow | undefined;
}

export interface AgentFilter {
  status?: string;
  vm_name?: string;
}

function agentsQuery(db: Db, f: AgentFilter, columns: readonly string[] = ['*']): Knex.QueryBuilder {
  const q = db('agents').select(...columns);
  if (f.status !== undefined) q.where({ status: f.status });
  if (f.vm_name) q.whereRaw('lower(vm_name) like ?', [`%${f.vm_name.toLowerCase().replace(/[%_\\]/g, '\\$&')}%`]);
  return q;
}

/** The list's sort key (registration order), served by the agents_registered_at_agent_id index. */
export const AGENT_KEY = ['registered_at', 'agent_id'] as const;
export const agentKeyOf = (r: AgentDbRow): CursorKey => [keyTime(r.registered_at), r.agent_id];

/** `status` exact, `vm_name` case-insensitive substring; registration order. */
export async function listAgents(db: Db, f: AgentFilter = {}): Promise<AgentDbRow[]> {
  return (await agentsQuery(db, f).orderBy(AGENT_KEY.map((column) => ({ column })))) as AgentDbRow[];
}

/** One keyset page of `listAgents`; `keep` filters in code (e.g. owner matching), still yielding full pages. */
export async function listAgentsPage(
  db: Db,
  f: AgentFilter,
  page: PageRequest,
  keep?: (r: AgentDbRow) => boolean,
): Promise<Page<AgentDbRow>> {
  return keep
    ? filteredKeysetPage(() => agentsQuery(db, f), AGENT_KEY, 'asc', page, agentKeyOf, keep)
    : keysetPage(agentsQuery(db, f), AGENT_KEY, 'asc', page, agentKeyOf);
}

/**
 * What identifies one rendering of an agent row: its id and `row_version` (new on every write, by trigger), plus
 * `last_health_check`, which the health sweep refreshes without a new version (migration 20261201210000).
 */
export interface AgentVersion {
  agent_id: string;
  row_version: string;
  registered_at: Date | string;
  last_health_check?: Date | string | null;
}

const VERSION_COLUMNS = ['agent_id', 'row_version', 'registered_at', 'last_health_check'] as const;
const toVersion = (r: AgentVersion): AgentVersion => ({ ...r, row_version: String(r.row_version) });

/**
 * The (id, version) pairs of `listAgents` — or of one keyset page of it — in list order: three narrow columns, so a
 * caller holding rendered views by version reads full rows only for the ones that changed.
 */
export async function listAgentVersions(db: Db, f: AgentFilter, page?: PageRequest): Promise<Page<AgentVersion>> {
  if (!page) {
    const rows = (await agentsQuery(db, f, VERSION_COLUMNS).orderBy(
      AGENT_KEY.map((column) => ({ column })),
    )) as AgentVersion[];
    return { items: rows.map(toVersion), next: null };
  }
  const p = await keysetPage<AgentVersion>(agentsQuery(db, f, VERSION_COLUMNS), AGENT_KEY, 'asc', page, (r) => [
    keyTime(r.registered_at),
    r.agent_id,
  ]);
  return { items: p.items.map(toVersion), next: p.next };
}

/**
 * The agents list version (migration 20261202000100): a string that changes with every insert, update or delete of
 * any agents row, read in O(1) (one row on SQLite, a sequence's last value on PostgreSQL — plus the server's start
 * time, so a failover to a promoted replica, whose sequence may be behind what a running API saw, never repeats a
 * version with other rows behind it). On PostgreSQL it may run ahead of the rows a reader can see (see
 * `agentListSnapshot`).
 */
export async function agentListVersion(db: Db): Promise<string> {
  if (isPostgres(db)) {
    const r = (await db.raw(
      `SELECT last_value::text || ':' || is_called::text || ':' || extract(epoch from pg_postmaster_start_time())::text
         AS v FROM ${LIST_VERSION_SEQUENCE}`,
    )) as { rows: { v: string }[] };
    return r.rows[0]!.v;
  }
  const row = (await db(LIST_CLOCK_TABLE).where({ id: 1 }).first('version')) as { version: number | string };
  return String(row.version);
}

/**
 * For a SQLite file: `agentListVersion` as a synchronous prepared statement on a connection of its own (opened on
 * first call), a few microseconds instead of a pooled knex query. A separate connection is as sound as the pool's:
 * under WAL each statement reads the newest commit of any connection or process. Null for PostgreSQL and
 * `:memory:` (another connection would see another database).
 */
export function sqliteListVersionReader(db: Knex): (() => string) | null {
  if (isPostgres(db)) return null;
  const filename = (db.client.config.connection as { filename?: string } | undefined)?.filename;
  if (!filename || filename === ':memory:' || filename.startsWith('file:')) return null;
  let statement: Statement<[], number | bigint> | null = null;
  return () => {
    if (!statement) {
      const conn = new Database(filename, { fileMustExist: true });
      conn.pragma('busy_timeout = 5000');
      statement = conn.prepare<[], number | bigint>(`SELECT version FROM ${LIST_CLOCK_TABLE} WHERE id = 1`).pluck();
    }
    return String(statement.get());
  };
}

/** How long a list render waits for in-flight writers of agents on PostgreSQL before rendering without holding. */
export const LIST_SNAPSHOT_LOCK_TIMEOUT_MS = 1000;

/**
 * Runs `read` on one snapshot of `agents` together with the list version that names it exactly. SQLite: one read
 * transaction (the clock is a row, bumped inside each writing transaction). PostgreSQL: under `LOCK TABLE agents IN
 * SHARE MODE`, which waits for every in-flight writer and holds new ones back until `read` returns, so no write that
 * advanced the version is unfinished (migration 20261202000100 says why that suffices). When the lock is not granted
 * within LIST_SNAPSHOT_LOCK_TIMEOUT_MS (a long writer), `read` runs without it and `version` is null: the result is
 * current but must not be held under any version.
 */
export async function agentListSnapshot<T>(
  db: Knex,
  read: (trx: Knex.Transaction | Knex) => Promise<T>,
): Promise<{ version: string | null; value: T }> {
  if (!isPostgres(db)) {
    return db.transaction(async (trx) => {
      const version = await agentListVersion(trx);
      return { version, value: await read(trx) };
    });
  }
  try {
    return await db.transaction(async (trx) => {
      await trx.raw(`SET LOCAL lock_timeout = '${LIST_SNAPSHOT_LOCK_TIMEOUT_MS}ms'`);
      await trx.raw('LOCK TABLE agents IN SHARE MODE');
      const version = await agentListVersion(trx);
      return { version, value: await read(trx) };
    });
  } catch (err) {
    // 55P03 lock_not_available: lock_timeout elapsed.
    if ((err as { code?: unknown }).code !== '55P03') throw err;
    return { version: null, value: await read(db) };
  }
}

export async function getAgentsByIds(db: Db, ids: readonly string[]): Promise<AgentDbRow[]> {
  const out: AgentDbRow[] = [];
  for (let i = 0; i < ids.length; i += 500) {
    out.push(...((await db('agents').whereIn('agent_id', ids.slice(i, i + 500) as string[])) as AgentDbRow[]));
  }
  return out;
}

/** Agents per status (the `easyenclave_agents` gauge, read at scrape time). */
export async function countAgentsByStatus(db: Db): Promise<Record<string, number>> {
  const rows = (await db('agents').select('status').count({ n: '*' }).groupBy('status')) as {
    status: string;
    n: number | string;
  }[];
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

export async function updateAgent(db: Db, agentId: string, patch: Partial<AgentDbRow>): Promise<boolean> {
  return (await db('agents').where({ agent_id: agentId }).update(patch)) > 0;
}

export async function getCredential(db: Db, agentId: string): Promise<CredentialDbRow | undefined> {
  return (await db('agent_control_credentials').where({ agent_id: agentId }).first()) as CredentialDbRow | undefined;
}

export async function upsertCredential(
  db: Db,
  agentId: string,
  c: { hash: string; prefix: string; sealed: string },
): Promise<void> {
  const now = nowIso();
  await db('agent_control_credentials')
    .insert({
      agent_id: agentId,
      api_secret_hash: c.hash,
      api_secret_prefix: c.prefix,
      api_secret_sealed: c.sealed,
      created_at: now,
      updated_at: now,
    })
    .onConflict('agent_id')
    .merge(['api_secret_hash', 'api_secret_prefix', 'api_secret_sealed', 'updated_at']);
}

/**
 * Replaces a verified legacy secret hash with its HMAC form, only while the row still holds `fromHash` (a
 * re-registration in between wins). `updated_at` is left alone: the secret itself did not change.
 */
export async function rehashCredential(db: Db, agentId: string, fromHash: string, toHash: string): Promise<boolean> {
  return (
    (await db('agent_control_credentials')
      .where({ agent_id: agentId, api_secret_hash: fromHash })
      .update({ api_secret_hash: toHash })) > 0
  );
}

/** Credential, open reservations (→ expired) and row; true when the agent row existed. */
export async function deleteAgentCascade(db: Knex, agentId: string): Promise<boolean> {
  return db.transaction(async (trx) => {
    await trx('capacity_reservations')
      .where({ agent_id: agentId, status: 'open' })
      .update({ status: 'expired', updated_at: nowIso() });
    await trx('agent_control_credentials').where({ agent_id: agentId }).delete();
    return (await trx('agents').where({ agent_id: agentId }).delete()) > 0;
  });
}

/**
 * Agents not heard from since `cutoff` by any channel (last_contact_at, else last_heartbeat for rows written before
 * it existed), except those deployed with a current deployment (background.md §2.3).
 */
export async function listStaleAgents(db: Db, cutoff: string): Promise<AgentDbRow[]> {
  const rows = (await db('agents')
    .where((q) =>
      q
        .where('last_contact_at', '<', cutoff)
        .orWhere((q2) => q2.whereNull('last_contact_at').andWhere('last_heartbeat', '<', cutoff)),
    )
    .select('*')) as AgentDbRow[];
  return rows.filter((r) => !(r.current_deployment_id && r.status === 'deployed'));
}
