/**
 * Initial schema: the 15 tables of spec/data-model.md with their v1 column names, plus the v2
 * decisions: datetimes are timestamptz on PostgreSQL (ISO-8601 UTC text on SQLite, written by
 * the app), JSON is text, money is bigint micro-dollars, secrets are stored only as hashes +
 * lookup prefixes, and the logical composite keys v1 enforced in code are unique keys here.
 * No foreign keys (v1 relations are by convention; deletes never cascade).
 */
import type { Knex } from 'knex';

type T = Knex.CreateTableBuilder;

/** UUID primary key written by the app. */
const uuidPk = (t: T, name: string, what: string) => t.string(name, 36).primary().comment(what);
const ts = (t: T, name: string) => t.timestamp(name, { useTz: true });

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('agents', (t) => {
    t.comment('Registered TDX VMs; a re-registration of a vm_name replaces its row');
    uuidPk(t, 'agent_id', 'Agent id, stable across re-registrations of the same vm_name');
    t.string('vm_name').notNullable().unique().comment('Registration key chosen by the VM');
    t.string('status')
      .notNullable()
      .defaultTo('undeployed')
      .index()
      .comment('Lifecycle status (undeployed, deploying, deployed, unverified, ... free-form from agents)');
    t.text('attestation').comment('JSON: last attestation blob from register/heartbeat');
    t.string('mrtd').notNullable().defaultTo('').comment('MRTD from verified ITA claims, as received');
    t.text('rtmrs').comment('JSON {rtmr0..rtmr3} from the attestation measurements');
    t.text('intel_ta_token').comment('Last Intel Trust Authority JWT');
    t.string('tunnel_id').comment('Cloudflare tunnel id');
    t.string('hostname').comment('Public hostname agent-<agent_id>.<domain>');
    t.text('tunnel_token').comment('Cloudflare connector token');
    t.string('current_deployment_id', 36).comment('Deployment currently placed on this agent');
    t.text('service_url').comment('Base URL of the deployed service');
    t.text('health_endpoint').notNullable().defaultTo('/health').comment('Health path reported by /deployed');
    t.string('health_status').notNullable().defaultTo('unknown').comment('unknown | healthy | unhealthy');
    ts(t, 'last_health_check').comment('When the CP health checker last probed the agent');
    ts(t, 'unhealthy_since').comment('Time of the transition into unhealthy; null otherwise');
    t.text('stats').comment('JSON: agent statistics (unused)');
    ts(t, 'registered_at').notNullable().comment('When the row was (re-)inserted');
    ts(t, 'last_heartbeat').notNullable().comment('Last sign of life from the agent');
    t.string('version').notNullable().defaultTo('1.0.0').comment('Agent software version');
    t.boolean('verified')
      .notNullable()
      .defaultTo(false)
      .index()
      .comment('Whether attestation/MRTD verification passed');
    t.text('verification_error').comment('Registration failure detail for unverified agents');
    t.text('tunnel_error').comment('Tunnel creation error (cleared when tunnel info is stored)');
    ts(t, 'last_attestation_check').comment('When the attestation was last refreshed');
    t.boolean('attestation_valid')
      .notNullable()
      .defaultTo(true)
      .comment('Result of the last attestation refresh; proxy skips false');
    t.text('attestation_error').comment('Last attestation refresh error, e.g. RTMR drift');
    t.string('account_id', 36).index().comment('Operator billing account credited with earnings');
    t.text('sla_tiers').defaultTo('[]').comment('JSON array of SLA tiers (unused)');
    t.text('machine_sizes').defaultTo('[]').comment('JSON array of machine sizes (unused)');
    t.string('tcb_status').index().comment('ITA attester_tcb_status (or Unknown)');
    ts(t, 'tcb_verified_at').comment('When tcb_status was last verified');
    t.string('node_size')
      .notNullable()
      .defaultTo('')
      .index()
      .comment('Normalized lower-case size token, e.g. tiny, standard, llm');
    t.string('datacenter')
      .notNullable()
      .defaultTo('')
      .index()
      .comment('Normalized <cloud>:<zone>, e.g. gcp:us-central1-a');
    t.string('github_owner').index().comment('GitHub login or org owning the agent');
    t.string('deployed_app').comment('App name of the current deployment');
  });

  await knex.schema.createTable('agent_control_credentials', (t) => {
    t.comment('Per-agent secret authenticating agent-control calls; deleted with the agent');
    t.string('agent_id', 36).primary().comment('Agent the secret belongs to');
    t.text('api_secret_hash').notNullable().comment('argon2id hash of the agent secret (never stored in clear)');
    t.string('api_secret_prefix', 32).notNullable().index().comment('First characters of the secret, for lookup');
    ts(t, 'created_at').notNullable().comment('When the credential was first created');
    ts(t, 'updated_at').notNullable().comment('When the secret was last replaced');
  });

  await knex.schema.createTable('deployments', (t) => {
    t.comment('One placement of an app version (compose) on an agent');
    uuidPk(t, 'deployment_id', 'Deployment id');
    t.text('compose').notNullable().comment('Base64 compose file copied from the app version');
    t.text('build_context').defaultTo('{}').comment('JSON build context (unused)');
    t.text('config')
      .defaultTo('{}')
      .comment('JSON request config (service_name, service_url, health_endpoint, app_name)');
    t.string('agent_id', 36).notNullable().index().comment('Agent the deployment is placed on');
    t.string('status')
      .notNullable()
      .defaultTo('pending')
      .index()
      .comment(
        'DeploymentStatus (core/deployment-status.ts): pending | deploying | running | failed | stopped | insufficient_funds',
      );
    t.string('service_id').comment('Service id reported by /deployed');
    t.text('attestation').comment('JSON attestation reported by /deployed');
    t.text('error').comment('Failure detail');
    ts(t, 'created_at').notNullable().comment('When the deployment was requested');
    ts(t, 'started_at').comment('When the deployment started running');
    ts(t, 'completed_at').comment('When it reached completed/failed/undeployed');
    t.string('account_id', 36).index().comment('Deployer account charged for it');
    t.string('app_name').index().comment('App deployed');
    t.string('app_version').comment('App version deployed');
    t.string('sla_class').notNullable().defaultTo('adhoc').comment('adhoc | three_nines | four_nines | five_nines');
    t.string('machine_size').notNullable().defaultTo('default').comment('default | h100');
    t.double('cpu_vcpus').notNullable().defaultTo(2).comment('vCPUs billed');
    t.double('memory_gb').notNullable().defaultTo(4).comment('Memory (GB) billed');
    t.integer('gpu_count').notNullable().defaultTo(0).comment('GPUs billed');
    ts(t, 'last_charge_time').comment('End of the last billed hour');
    t.bigInteger('total_charged').notNullable().defaultTo(0).comment('Cumulative charge in micro-dollars');
  });

  await knex.schema.createTable('apps', (t) => {
    t.comment('Published applications (catalog entries)');
    uuidPk(t, 'app_id', 'App id');
    t.string('name').notNullable().unique().comment('App name, the key used by versions, shares and deployments');
    t.text('description').notNullable().defaultTo('').comment('Free-text description');
    t.text('source_repo').comment('Source repository URL');
    t.text('maintainers').defaultTo('[]').comment('JSON array of GitHub logins (contributor-share fallback)');
    t.text('tags').defaultTo('[]').comment('JSON array of tags');
    ts(t, 'created_at').notNullable().comment('When the app was registered');
  });

  await knex.schema.createTable('app_versions', (t) => {
    t.comment('Versions (and per-node-size variants) of an app');
    uuidPk(t, 'version_id', 'Version id');
    t.string('app_name').notNullable().index().comment('App the version belongs to');
    t.string('version').notNullable().comment('Free-form version string');
    t.string('node_size').notNullable().defaultTo('').index().comment('Variant key; empty = generic');
    t.text('compose').notNullable().comment('Base64 compose YAML');
    t.string('image_digest').comment('Image digest (stored, unused)');
    t.string('source_commit').comment('Source commit (stored, unused)');
    t.string('source_tag').comment('Source tag (stored, unused)');
    t.string('mrtd').comment('Measured or declared MRTD');
    t.text('attestation').comment('JSON measurement payload or manual attestation metadata');
    t.text('ingress').comment('JSON [{path?, port}] Cloudflare ingress rules');
    t.string('status')
      .notNullable()
      .defaultTo('pending')
      .index()
      .comment('pending | attesting | attested | failed | rejected');
    t.text('rejection_reason').comment('Why the version was rejected/failed');
    ts(t, 'published_at').notNullable().comment('Publish time, list ordering key');
    t.unique(['app_name', 'version', 'node_size']);
  });

  await knex.schema.createTable('app_revenue_shares', (t) => {
    t.comment('Revenue share of an app paid to contributor/agent accounts');
    uuidPk(t, 'share_id', 'Share id');
    t.string('app_name').notNullable().index().comment('App whose revenue is shared');
    t.string('account_id', 36).notNullable().index().comment('Account receiving the share');
    t.integer('share_bps').notNullable().defaultTo(0).comment('Share in basis points (1..10000)');
    t.string('label').notNullable().defaultTo('').comment('Human label');
    ts(t, 'created_at').notNullable().comment('Creation time, ordering key');
  });

  await knex.schema.createTable('accounts', (t) => {
    t.comment('Billing accounts; balance is derived from the ledger');
    uuidPk(t, 'account_id', 'Account id');
    t.string('name').notNullable().unique().comment('Unique account name');
    t.text('description').notNullable().defaultTo('').comment('Free-text description');
    t.string('account_type').notNullable().index().comment('deployer | agent | contributor | launcher');
    ts(t, 'created_at').notNullable().comment('When the account was created');
    t.text('api_key_hash').comment('argon2id hash of the full API key');
    t.string('api_key_prefix').index().comment('First 12 chars of the API key, for lookup (not unique)');
    t.bigInteger('github_id').index().comment('GitHub numeric user id');
    t.string('github_login').comment('Linked GitHub login (maintainer fallback)');
    t.string('github_org').comment('Linked GitHub org');
    ts(t, 'linked_at').comment('When the GitHub identity was linked');
  });

  await knex.schema.createTable('transactions', (t) => {
    t.comment('Append-only money ledger; amounts in micro-dollars');
    uuidPk(t, 'transaction_id', 'Transaction id');
    // No separate account_id index: the (account_id, created_at) key below serves it.
    t.string('account_id', 36).notNullable().comment('Account the entry belongs to');
    t.bigInteger('amount').notNullable().comment('Signed micro-dollars: + credit, - debit');
    t.bigInteger('balance_after').notNullable().comment('Account balance after this entry, micro-dollars');
    t.string('tx_type')
      .notNullable()
      .index()
      .comment('deposit | charge | earning | contributor_credit | platform_revenue');
    t.text('description').notNullable().defaultTo('').comment('Human description');
    t.string('reference_id').comment('Deployment id, Stripe PaymentIntent id or capacity request id');
    ts(t, 'created_at').notNullable().comment('Entry time; newest entry holds the balance');
    t.string('ledger_key').unique().comment('Idempotency key, e.g. charge:<deployment_id>:<hour>:<role>');
    t.index(['account_id', 'created_at']);
  });

  await knex.schema.createTable('settings', (t) => {
    t.comment('DB overrides of registered settings (DB > env > default)');
    t.string('key').primary().comment('Registered setting key');
    t.text('value').notNullable().defaultTo('').comment('String value; empty behaves as unset');
    t.boolean('is_secret')
      .notNullable()
      .defaultTo(false)
      .comment('Copied from the registry on write; masks the value in listings');
    ts(t, 'updated_at').notNullable().comment('Last write time');
  });

  await knex.schema.createTable('admin_sessions', (t) => {
    t.comment('Admin login sessions (password or GitHub OAuth)');
    uuidPk(t, 'session_id', 'Session id');
    t.text('token_hash').notNullable().comment('argon2id hash of the session token');
    t.string('token_prefix', 32).notNullable().index().comment('First 12 chars of the token, for lookup');
    ts(t, 'created_at').notNullable().comment('Login time');
    ts(t, 'expires_at').notNullable().index().comment('Expiry (created + 24 h)');
    ts(t, 'last_used').notNullable().comment('Last successful authentication');
    t.string('ip_address').comment('Client address at login');
    t.bigInteger('github_id').comment('GitHub numeric user id (OAuth logins)');
    t.string('github_login').comment('GitHub login (OAuth logins)');
    t.string('github_email').comment('GitHub primary email (OAuth logins)');
    t.text('github_avatar_url').comment('GitHub avatar URL (OAuth logins)');
    t.string('auth_method').notNullable().defaultTo('password').comment('password | github_oauth');
    t.text('github_orgs').comment('JSON array of org logins; null when empty');
  });

  await knex.schema.createTable('trusted_mrtds', (t) => {
    t.comment('MRTDs trusted for agent/proxy registration (merged with env, DB wins)');
    t.string('mrtd', 96).primary().comment('96 lowercase hex chars');
    t.string('mrtd_type').notNullable().defaultTo('agent').index().comment('agent | proxy');
    t.text('note').notNullable().defaultTo('').comment('Operator note');
    ts(t, 'added_at').notNullable().comment('When first added, ordering key');
  });

  await knex.schema.createTable('capacity_pool_targets', (t) => {
    t.comment('Warm-capacity targets per (datacenter, node_size)');
    uuidPk(t, 'target_id', 'Target id');
    t.string('datacenter').notNullable().defaultTo('').index().comment('Lower-cased <cloud>:<zone>');
    t.string('node_size').notNullable().defaultTo('').index().comment('Lower-cased size; empty = any size');
    t.integer('min_warm_count').notNullable().defaultTo(0).comment('Warm agents to keep reserved (>= 0)');
    t.boolean('enabled').notNullable().defaultTo(true).index().comment('Whether the pool controller acts on it');
    t.boolean('require_verified').notNullable().defaultTo(true).comment('Only verified agents are eligible');
    t.boolean('require_healthy').notNullable().defaultTo(true).comment('Only healthy agents are eligible');
    t.boolean('require_hostname').notNullable().defaultTo(true).comment('Only agents with a hostname are eligible');
    t.boolean('dispatch').notNullable().defaultTo(false).comment('Whether shortfalls create launch orders');
    t.string('reason').notNullable().defaultTo('capacity-pool-controller').comment('Reason copied into launch orders');
    ts(t, 'created_at').notNullable().comment('Creation time');
    ts(t, 'updated_at').notNullable().comment('Last update time');
    t.unique(['datacenter', 'node_size']);
  });

  await knex.schema.createTable('capacity_reservations', (t) => {
    t.comment('Agents held as warm capacity; at most one open reservation per agent (app-enforced)');
    uuidPk(t, 'reservation_id', 'Reservation id');
    t.string('agent_id', 36).notNullable().index().comment('Reserved agent');
    t.string('datacenter').notNullable().defaultTo('').index().comment('Lower-cased datacenter');
    t.string('node_size').notNullable().defaultTo('').index().comment('Lower-cased node size');
    t.string('status').notNullable().defaultTo('open').index().comment('open | consumed | expired');
    t.string('deployment_id', 36).index().comment('Deployment that consumed the reservation');
    t.text('note').notNullable().defaultTo('').comment('Why the reservation exists');
    ts(t, 'created_at').notNullable().comment('Creation time');
    ts(t, 'updated_at').notNullable().comment('Last update time');
  });

  await knex.schema.createTable('capacity_launch_orders', (t) => {
    t.comment('Requests to launch one VM, claimed and fulfilled by launchers');
    uuidPk(t, 'order_id', 'Order id');
    t.string('datacenter').notNullable().defaultTo('').index().comment('Lower-cased datacenter');
    t.string('node_size').notNullable().defaultTo('').index().comment('Lower-cased node size');
    t.string('status')
      .notNullable()
      .defaultTo('open')
      .index()
      .comment('open | claimed | provisioning | fulfilled | failed');
    t.string('reason').notNullable().defaultTo('capacity-pool-controller').comment('Why the order exists');
    t.integer('requested_count').notNullable().defaultTo(1).comment('VMs requested (always 1)');
    t.string('account_id', 36).index().comment('Requesting/billed account');
    t.string('claimed_by_account_id').index().comment('Launcher account id, or cp-internal-launcher');
    ts(t, 'claim_expires_at').comment('When the claim lapses and the order is re-queued');
    ts(t, 'claimed_at').comment('Claim time');
    ts(t, 'fulfilled_at').comment('Fulfilment time');
    t.string('bootstrap_token_hash').index().comment('Hash of the one-time bootstrap token minted at claim');
    ts(t, 'bootstrap_token_issued_at').comment('When the bootstrap token was minted');
    ts(t, 'bootstrap_token_used_at').comment('When the bootstrap token was consumed');
    t.string('vm_name').index().comment('VM name reported by the launcher');
    t.text('error').comment('Failure or re-queue detail');
    ts(t, 'created_at').notNullable().comment('Creation time (FIFO key with order_id)');
    ts(t, 'updated_at').notNullable().comment('Last update time');
  });

  await knex.schema.createTable('services', (t) => {
    t.comment('Legacy service registry (read by the proxy fallback only)');
    uuidPk(t, 'service_id', 'Service id');
    t.string('name').notNullable().unique().comment('Unique service name');
    t.text('description').notNullable().defaultTo('').comment('Free-text description');
    t.text('source_repo').comment('Source repository URL');
    t.string('source_commit').comment('Source commit');
    t.string('compose_hash').comment('Hash of the compose file');
    t.string('mrtd').comment('MRTD of the service VM');
    t.text('intel_ta_token').comment('Intel Trust Authority JWT');
    t.text('endpoints').defaultTo('{}').comment('JSON map environment name -> URL');
    t.text('attestation_json').comment('JSON attestation');
    ts(t, 'registered_at').notNullable().comment('Registration time');
    ts(t, 'last_health_check').comment('Last health check time');
    t.string('health_status').notNullable().defaultTo('unknown').index().comment('unknown | healthy | unhealthy');
    t.text('tags').defaultTo('[]').comment('JSON array of tags');
  });
}

/** Creation order; `down` drops in reverse. Frozen with this migration. */
const TABLES = [
  'agents',
  'agent_control_credentials',
  'deployments',
  'apps',
  'app_versions',
  'app_revenue_shares',
  'accounts',
  'transactions',
  'settings',
  'admin_sessions',
  'trusted_mrtds',
  'capacity_pool_targets',
  'capacity_reservations',
  'capacity_launch_orders',
  'services',
] as const;

export async function down(knex: Knex): Promise<void> {
  for (const table of [...TABLES].reverse()) await knex.schema.dropTableIfExists(table);
}
