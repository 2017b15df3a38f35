import { readdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { MIGRATION_NAMES, migrateLatest, migrateRollbackAll } from '../../core/db/migrate';
import * as catalog from '../../core/db/migrations/20261201010000_catalog';
import { isPostgres } from '../../core/db/connection';
import { parseJsonColumn, requireIso, toBool, toIso } from '../../core/db/tables';
import { createTestDb, listTables, testEngines, type TestDb, type TestEngine } from '../helpers/databases';

/** Columns per table, copied from spec/data-model.md §2 plus the v2 changes noted inline. */
const EXPECTED_COLUMNS: Record<string, string[]> = {
  agents: [
    'last_contact_at', // v2: last contact by any channel (stale clean-up)
    'row_version', // v2: random per write (trigger), the API's view cache key
    'agent_id',
    'vm_name',
    'status',
    'attestation',
    'mrtd',
    'rtmrs',
    'intel_ta_token',
    'tunnel_id',
    'hostname',
    'tunnel_token',
    'current_deployment_id',
    'service_url',
    'health_endpoint',
    'health_status',
    'last_health_check',
    'unhealthy_since',
    'stats',
    'registered_at',
    'last_heartbeat',
    'version',
    'verified',
    'verification_error',
    'tunnel_error',
    'last_attestation_check',
    'attestation_valid',
    'attestation_error',
    'account_id',
    'sla_tiers',
    'machine_sizes',
    'tcb_status',
    'tcb_verified_at',
    'node_size',
    'datacenter',
    'github_owner',
    'deployed_app',
    // v2 (issue #17): the HPKE public key and the registration ITA token that binds it.
    'encryption_public_key',
    'encryption_key_token',
  ],
  // v2: api_secret (plaintext) replaced by api_secret_hash + api_secret_prefix.
  // v2: api_secret (plaintext) replaced by api_secret_hash + api_secret_prefix (agent→CP auth) and a sealed copy
  // (CP→agent calls).
  agent_control_credentials: [
    'agent_id',
    'api_secret_hash',
    'api_secret_prefix',
    'api_secret_sealed',
    'created_at',
    'updated_at',
  ],
  deployments: [
    'deployment_id',
    'compose',
    'build_context',
    'config',
    'agent_id',
    'status',
    'service_id',
    'attestation',
    'error',
    'created_at',
    'started_at',
    'completed_at',
    'account_id',
    'app_name',
    'app_version',
    'sla_class',
    'machine_size',
    'cpu_vcpus',
    'memory_gb',
    'gpu_count',
    'last_charge_time',
    'total_charged',
    // v2: the verified OIDC owner (upgrades need the same account or owner).
    'github_owner',
    // v2 (issue #17): the client's HPKE envelope {enc, ct} of the env (ciphertext only).
    'encrypted_env',
  ],
  apps: ['app_id', 'name', 'description', 'source_repo', 'maintainers', 'tags', 'created_at', 'maintainer_accounts'], // v2: maintainer_accounts
  app_versions: [
    'version_id',
    'app_name',
    'version',
    'node_size',
    'compose',
    'image_digest',
    'source_commit',
    'source_tag',
    'mrtd',
    'attestation',
    'ingress',
    'status',
    'rejection_reason',
    'published_at',
    'pinned_compose', // v2: the digest-pinned compose deploys send
    'measured_at',
  ],
  app_revenue_shares: ['share_id', 'app_name', 'account_id', 'share_bps', 'label', 'created_at'],
  accounts: [
    'account_id',
    'name',
    'description',
    'account_type',
    'created_at',
    'api_key_hash',
    'api_key_prefix',
    'github_id',
    'github_login',
    'github_org',
    'linked_at',
    // v2: identity links are proven (migration 20261201000000_identity_proofs).
    'github_orgs',
    'github_login_proof',
    'github_org_proof',
  ],
  // v2: + ledger_key (idempotency key).
  transactions: [
    'transaction_id',
    'account_id',
    'amount',
    'balance_after',
    'tx_type',
    'description',
    'reference_id',
    'created_at',
    'ledger_key', // v2: idempotency key
    'seq', // v2: position in the account's ledger
  ],
  settings: ['key', 'value', 'is_secret', 'updated_at'],
  admin_sessions: [
    'session_id',
    'token_hash',
    'token_prefix',
    'created_at',
    'expires_at',
    'last_used',
    'ip_address',
    'github_id',
    'github_login',
    'github_email',
    'github_avatar_url',
    'auth_method',
    'github_orgs',
  ],
  trusted_mrtds: ['mrtd', 'mrtd_type', 'note', 'added_at'],
  capacity_pool_targets: [
    'target_id',
    'datacenter',
    'node_size',
    'min_warm_count',
    'enabled',
    'require_verified',
    'require_healthy',
    'require_hostname',
    'dispatch',
    'reason',
    'created_at',
    'updated_at',
  ],
  capacity_reservations: [
    'reservation_id',
    'agent_id',
    'datacenter',
    'node_size',
    'status',
    'deployment_id',
    'note',
    'created_at',
    'updated_at',
  ],
  capacity_launch_orders: [
    'order_id',
    'datacenter',
    'node_size',
    'status',
    'reason',
    'requested_count',
    'account_id',
    'claimed_by_account_id',
    'claim_expires_at',
    'claimed_at',
    'fulfilled_at',
    'bootstrap_token_hash',
    'bootstrap_token_issued_at',
    'bootstrap_token_used_at',
    'vm_name',
    'error',
    'created_at',
    'updated_at',
    // v2 (20261201030000_launch_order_workflows): who fulfils it, claims so far, the token's consumer and agent
    'fulfiller',
    'claim_count',
    'bootstrap_token_consumer',
    'agent_id',
  ],
  services: [
    'service_id',
    'name',
    'description',
    'source_repo',
    'source_commit',
    'compose_hash',
    'mrtd',
    'intel_ta_token',
    'endpoints',
    'attestation_json',
    'registered_at',
    'last_health_check',
    'health_status',
    'tags',
    'agent_id', // v2: the services registry points at the serving agent/deployment
    'deployment_id',
  ],
};
const SPEC_TABLES = Object.keys(EXPECTED_COLUMNS).sort();

/** v2 additions beside the 15 spec tables: state v1 kept in process memory, now shared by replicas. */
const V2_TABLES: Record<string, string[]> = {
  agent_nonces: ['vm_name', 'nonce', 'issued_at', 'consumed_by'],
  oauth_states_used: ['nonce', 'expires_at', 'used_at'],
  rate_limits: ['key', 'window_start_ms', 'count'],
  compose_blobs: ['sha256', 'compose', 'created_at'],
  // Failover (issue #20): a deployment's moves, and the agents it left that must be reset before placement.
  deployment_reassignments: [
    'deployment_id',
    'seq',
    'from_agent_id',
    'to_agent_id',
    'reason',
    'at',
    'completed_at',
    'outcome',
  ],
  agent_pending_resets: ['agent_id', 'deployment_id', 'requested_at'],
};
Object.assign(EXPECTED_COLUMNS, V2_TABLES);
const TABLE_NAMES = Object.keys(EXPECTED_COLUMNS).sort();
/**
 * Per-engine parts of the schema: SQLite's agents list clock is a one-row table; PostgreSQL's is a sequence
 * (migration 20261202000100).
 */
const ENGINE_TABLES: Record<TestEngine, Record<string, string[]>> = {
  sqlite: { agents_list_clock: ['id', 'version'] },
  postgres: {},
};
const tablesOf = (engine: TestEngine) => [...TABLE_NAMES, ...Object.keys(ENGINE_TABLES[engine])].sort();

describe('row mapping helpers', () => {
  it("normalizes both engines' datetimes to ISO UTC", () => {
    const iso = '2026-11-24T01:02:03.456Z';
    expect(toIso(new Date(iso))).toBe(iso);
    expect(toIso(iso)).toBe(iso);
    expect(toIso('2026-11-24 01:02:03.456789')).toBe(iso); // v1 naive text = UTC
    expect(toIso('2026-11-24T03:02:03.456+02:00')).toBe(iso);
    expect(toIso(Date.parse(iso))).toBe(iso);
    expect(toIso(null)).toBeNull();
    expect(() => toIso('not a date')).toThrow();
  });
  it('maps booleans and JSON text', () => {
    expect([toBool(1), toBool(0), toBool(true), toBool(false), toBool('0'), toBool('1'), toBool(null)]).toEqual([
      true,
      false,
      true,
      false,
      false,
      true,
      false,
    ]);
    expect(parseJsonColumn('["a"]', [])).toEqual(['a']);
    expect(parseJsonColumn(null, [])).toEqual([]);
    expect(parseJsonColumn('{bad', {})).toEqual({});
  });
});

for (const engine of testEngines()) {
  describe(`db migrations (${engine})`, () => {
    let t: TestDb | undefined;
    afterEach(async () => {
      await t?.destroy();
      t = undefined;
    });

    it('creates the 15 spec tables and the v2 additions, nothing else', async () => {
      t = await createTestDb(engine);
      const tables = await listTables(t.db);
      expect(tables.filter((name) => SPEC_TABLES.includes(name))).toHaveLength(15);
      expect(tables).toEqual(tablesOf(engine));
    });

    it('gives every table exactly the spec columns', async () => {
      t = await createTestDb(engine);
      expect(Object.keys(await t.db('agents').columnInfo())).toHaveLength(39); // the 35 spec columns + last_contact_at, the HPKE key and its token, row_version
      const expected = { ...EXPECTED_COLUMNS, ...ENGINE_TABLES[engine] };
      for (const table of tablesOf(engine)) {
        const info = await t.db(table).columnInfo();
        expect({ table, columns: Object.keys(info).sort() }).toEqual({
          table,
          columns: [...expected[table]!].sort(),
        });
      }
    });

    it('runs every migration file of core/db/migrations, oldest first', () => {
      const files = readdirSync(new URL('../../core/db/migrations/', import.meta.url))
        .filter((f) => /\.(ts|js)$/.test(f))
        .map((f) => f.replace(/\.(ts|js)$/, ''))
        .sort();
      expect(files.length).toBeGreaterThan(0);
      expect(MIGRATION_NAMES).toEqual(files);
    });

    it('rolls back to an empty schema and migrates again', async () => {
      t = await createTestDb(engine);
      expect([...(await migrateRollbackAll(t.db))].sort()).toEqual([...MIGRATION_NAMES].sort());
      expect(await listTables(t.db)).toEqual([]);
      expect(await migrateLatest(t.db)).toEqual(MIGRATION_NAMES);
      expect(await listTables(t.db)).toEqual(tablesOf(engine));
    });

    it('20261201010000_catalog registers the deployments already running in the services registry', async () => {
      t = await createTestDb(engine);
      await catalog.down(t.db);
      const at = '2026-11-24T00:00:00.000Z';
      await t.db('agents').insert([
        { agent_id: 'a1', vm_name: 'vm-1', registered_at: at, last_heartbeat: at, current_deployment_id: 'd1' },
        { agent_id: 'a2', vm_name: 'vm-2', registered_at: at, last_heartbeat: at, current_deployment_id: 'd2' },
      ]);
      await t.db('deployments').insert([
        {
          deployment_id: 'd1',
          agent_id: 'a1',
          compose: 'x',
          status: 'running',
          app_name: 'web',
          created_at: at,
          config: JSON.stringify({ service_name: 'web-svc' }),
        },
        { deployment_id: 'd2', agent_id: 'a2', compose: 'x', status: 'failed', app_name: 'old', created_at: at },
        { deployment_id: 'd3', agent_id: 'a1', compose: 'x', status: 'running', app_name: 'gone', created_at: at },
      ]);
      await catalog.up(t.db);
      const rows = await t.db('services').select('name', 'agent_id', 'deployment_id');
      expect(rows).toEqual([{ name: 'web-svc', agent_id: 'a1', deployment_id: 'd1' }]);
    });

    it('treats a second migrate as a no-op', async () => {
      t = await createTestDb(engine, { migrate: false });
      expect(await migrateLatest(t.db)).toEqual(MIGRATION_NAMES);
      expect(await migrateLatest(t.db)).toEqual([]);
      expect(await listTables(t.db)).toEqual(tablesOf(engine));
    });

    it('applies DB defaults and round-trips booleans, datetimes and bigint money', async () => {
      t = await createTestDb(engine);
      const at = '2026-11-24T00:00:00.000Z';
      await t.db('agents').insert({ agent_id: 'a1', vm_name: 'vm-1', registered_at: at, last_heartbeat: at });
      const agent = await t.db('agents').where({ agent_id: 'a1' }).first();
      expect({
        status: agent.status,
        health_status: agent.health_status,
        health_endpoint: agent.health_endpoint,
        version: agent.version,
        mrtd: agent.mrtd,
        verified: toBool(agent.verified),
        attestation_valid: toBool(agent.attestation_valid),
        sla_tiers: agent.sla_tiers,
        registered_at: requireIso(agent.registered_at),
      }).toEqual({
        status: 'undeployed',
        health_status: 'unknown',
        health_endpoint: '/health',
        version: '1.0.0',
        mrtd: '',
        verified: false,
        attestation_valid: true,
        sla_tiers: '[]',
        registered_at: at,
      });

      const big = 9_000_000_000_000; // 9M USD in micro-dollars: beyond int4
      await t.db('transactions').insert({
        transaction_id: 't1',
        account_id: 'acc',
        amount: -big,
        balance_after: big,
        tx_type: 'deposit',
        created_at: at,
      });
      const tx = await t.db('transactions').where({ transaction_id: 't1' }).first();
      expect([tx.amount, tx.balance_after, tx.description, tx.ledger_key]).toEqual([-big, big, '', null]);

      await t.db('deployments').insert({ deployment_id: 'd1', compose: 'eA==', agent_id: 'a1', created_at: at });
      const dep = await t.db('deployments').where({ deployment_id: 'd1' }).first();
      expect([dep.cpu_vcpus, dep.memory_gb, dep.gpu_count, dep.total_charged, dep.status]).toEqual([
        2,
        4,
        0,
        0,
        'pending',
      ]);
    });

    it('enforces the composite unique keys', async () => {
      t = await createTestDb(engine);
      const at = '2026-11-24T00:00:00.000Z';
      const target = { datacenter: 'gcp:us-central1-a', node_size: 'tiny', created_at: at, updated_at: at };
      await t.db('capacity_pool_targets').insert({ target_id: 'p1', ...target });
      await expect(t.db('capacity_pool_targets').insert({ target_id: 'p2', ...target })).rejects.toThrow();
      const version = { app_name: 'app', version: '1', node_size: '', compose: 'eA==', published_at: at };
      await t.db('app_versions').insert({ version_id: 'v1', ...version });
      await t.db('app_versions').insert({ version_id: 'v2', ...version, node_size: 'llm' });
      await expect(t.db('app_versions').insert({ version_id: 'v3', ...version })).rejects.toThrow();
    });

    if (engine === 'postgres') {
      it('the agents list version is a sequence, gone after a rollback', async () => {
        t = await createTestDb(engine);
        const sequences = async () =>
          (
            (await t!.db.raw(
              `SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = current_schema()`,
            )) as {
              rows: { sequence_name: string }[];
            }
          ).rows.map((r) => r.sequence_name);
        expect(await sequences()).toContain('agents_list_version');
        await migrateRollbackAll(t.db);
        expect(await sequences()).not.toContain('agents_list_version');
      });

      it('comments every column (postgres keeps comments)', async () => {
        t = await createTestDb(engine);
        expect(isPostgres(t.db)).toBe(true);
        const { rows } = await t.db.raw(
          `SELECT table_name, column_name FROM information_schema.columns
           WHERE table_schema = current_schema() AND table_name = ANY(?)
             AND coalesce(col_description(format('%I.%I', table_schema, table_name)::regclass, ordinal_position), '') = ''`,
          [TABLE_NAMES],
        );
        expect(rows).toEqual([]);
      });
    }
  });
}
