/**
 * The settings registry: every DB-overridable setting, in registry order.
 *
 * Resolution (core/settings/service.ts): a non-empty DB value wins, else a non-empty
 * environment variable, else the default. Values are strings; consumers parse them with
 * core/settings/parse.ts. The v1 registry (46 keys, spec/settings.md) is kept in order and
 * the v2 additions (outside base URLs, OIDC, deploy timeouts) follow it in their groups.
 */

export const SETTING_GROUPS = [
  'cloudflare',
  'github_oauth',
  'github_oidc',
  'stripe',
  'intel_ta',
  'operational',
  'provisioner',
  'auth',
  'api',
] as const;
export type SettingGroup = (typeof SETTING_GROUPS)[number];

export interface SettingDef {
  readonly key: string;
  readonly group: SettingGroup;
  readonly envVar: string;
  readonly default: string;
  readonly secret: boolean;
  readonly description: string;
}

const def = (
  key: string,
  group: SettingGroup,
  envVar: string,
  dflt: string,
  description: string,
  secret = false,
): SettingDef => ({ key, group, envVar, default: dflt, secret, description });

export const SETTINGS: readonly SettingDef[] = [
  // cloudflare
  def(
    'cloudflare.account_id',
    'cloudflare',
    'CLOUDFLARE_ACCOUNT_ID',
    '',
    'Cloudflare account that owns agent tunnels. Cloudflare is configured only when account_id, zone_id and api_token are all set.',
  ),
  def('cloudflare.zone_id', 'cloudflare', 'CLOUDFLARE_ZONE_ID', '', 'Cloudflare zone for agent CNAME records.'),
  def(
    'cloudflare.api_token',
    'cloudflare',
    'CLOUDFLARE_API_TOKEN',
    '',
    'Bearer token for the Cloudflare API (tunnel + DNS edit).',
    true,
  ),
  def(
    'cloudflare.domain',
    'cloudflare',
    'EASYENCLAVE_DOMAIN',
    'easyenclave.com',
    'Domain for agent hostnames agent-<id>.<domain> and the proxy URL https://app[-staging].<domain>.',
  ),
  def(
    'cloudflare.api_url',
    'cloudflare',
    'CLOUDFLARE_API_URL',
    'https://api.cloudflare.com/client/v4',
    'Base URL of the Cloudflare v4 API (point at a fake or sandbox in tests).',
  ),
  // github_oauth
  def(
    'github_oauth.client_id',
    'github_oauth',
    'GITHUB_OAUTH_CLIENT_ID',
    '',
    'GitHub OAuth app client id; empty disables GitHub login (/auth/github answers 503).',
  ),
  def(
    'github_oauth.client_secret',
    'github_oauth',
    'GITHUB_OAUTH_CLIENT_SECRET',
    '',
    'GitHub OAuth app client secret.',
    true,
  ),
  def(
    'github_oauth.redirect_uri',
    'github_oauth',
    'GITHUB_OAUTH_REDIRECT_URI',
    'https://app.easyenclave.com/auth/github/callback',
    'OAuth callback URL registered with the GitHub app.',
  ),
  def(
    'github_oauth.base_url',
    'github_oauth',
    'GITHUB_OAUTH_BASE_URL',
    'https://github.com',
    'Base URL of GitHub web (authorize + access_token endpoints).',
  ),
  def(
    'github_oauth.api_url',
    'github_oauth',
    'GITHUB_API_URL',
    'https://api.github.com',
    'Base URL of the GitHub REST API (user, emails, orgs).',
  ),
  // github_oidc
  def(
    'github_oidc.jwks_url',
    'github_oidc',
    'GITHUB_OIDC_JWKS_URL',
    'https://token.actions.githubusercontent.com/.well-known/jwks',
    'JWKS used to verify GitHub Actions OIDC tokens.',
  ),
  def(
    'github_oidc.issuer',
    'github_oidc',
    'GITHUB_OIDC_ISSUER',
    'https://token.actions.githubusercontent.com',
    'Required issuer (iss) of GitHub Actions OIDC tokens.',
  ),
  def(
    'github_oidc.audience',
    'github_oidc',
    'GITHUB_OIDC_AUDIENCE',
    'easyenclave',
    'Required audience (aud) of GitHub Actions OIDC tokens.',
  ),
  // stripe
  def(
    'stripe.secret_key',
    'stripe',
    'STRIPE_SECRET_KEY',
    '',
    'Stripe secret key; enables Stripe. sk_test_/sk_live_ prefix gives the displayed mode.',
    true,
  ),
  def(
    'stripe.webhook_secret',
    'stripe',
    'STRIPE_WEBHOOK_SECRET',
    '',
    'Stripe webhook signing secret; empty refuses every webhook.',
    true,
  ),
  def(
    'stripe.api_url',
    'stripe',
    'STRIPE_API_URL',
    'https://api.stripe.com',
    'Base URL of the Stripe API (protocol, host and port are taken from it; stripe-mock in tests).',
  ),
  // intel_ta
  def(
    'intel_ta.jwks_url',
    'intel_ta',
    'ITA_JWKS_URL',
    'https://portal.trustauthority.intel.com/certs',
    'JWKS used to verify Intel Trust Authority attestation tokens.',
  ),
  def(
    'intel_ta.issuer',
    'intel_ta',
    'ITA_ISSUER',
    'https://portal.trustauthority.intel.com',
    'Required issuer (iss) of Intel Trust Authority tokens; empty skips the check.',
  ),
  def(
    'intel_ta.audience',
    'intel_ta',
    'ITA_AUDIENCE',
    '',
    'Required audience (aud) of Intel Trust Authority tokens; empty accepts tokens without an audience only.',
  ),
  // operational
  def(
    'operational.tcb_enforcement_mode',
    'operational',
    'TCB_ENFORCEMENT_MODE',
    'warn',
    'strict rejects TCB statuses outside allowed_tcb_statuses, warn logs, disabled skips.',
  ),
  def(
    'operational.allowed_tcb_statuses',
    'operational',
    'ALLOWED_TCB_STATUSES',
    'UpToDate',
    'Comma list of accepted Intel TCB statuses (case-sensitive).',
  ),
  def(
    'operational.nonce_enforcement_mode',
    'operational',
    'NONCE_ENFORCEMENT_MODE',
    'required',
    'required / optional / disabled: registration nonce replay protection. required (default) refuses a token whose REPORTDATA does not carry the outstanding challenge; optional and disabled are explicit operator choices that let an unbound token register.',
  ),
  def(
    'operational.nonce_ttl_seconds',
    'operational',
    'NONCE_TTL_SECONDS',
    '300',
    'Lifetime of a registration nonce in seconds.',
  ),
  def(
    'operational.rtmr_enforcement_mode',
    'operational',
    'RTMR_ENFORCEMENT_MODE',
    'warn',
    'strict rejects RTMR drift from the trusted baseline, warn logs, disabled skips.',
  ),
  def(
    'operational.signature_verification_mode',
    'operational',
    'SIGNATURE_VERIFICATION_MODE',
    'warn',
    'strict / warn / disabled: cosign signature checks during version measurement.',
  ),
  def(
    'operational.agent_attestation_interval',
    'operational',
    'AGENT_ATTESTATION_INTERVAL',
    '3600',
    'Seconds between control-plane-pulled agent attestations (pull mode); <= 0 disables.',
  ),
  def(
    'operational.agent_attestation_pull_enabled',
    'operational',
    'AGENT_ATTESTATION_PULL_ENABLED',
    'false',
    'Exactly "true" makes the health sweep pull fresh attestations from agents.',
  ),
  def(
    'operational.cp_to_agent_attestation_mode',
    'operational',
    'CP_TO_AGENT_ATTESTATION_MODE',
    'optional',
    'required / optional / disabled: X-CP-Attestation header on control-plane to agent calls.',
  ),
  def(
    'operational.agent_stale_hours',
    'operational',
    'AGENT_STALE_HOURS',
    '24',
    'Hours without contact before an agent is deleted with its tunnel and DNS record.',
  ),
  def(
    'operational.capacity_reconcile_interval_seconds',
    'operational',
    'CAPACITY_RECONCILE_INTERVAL_SECONDS',
    '30',
    'Capacity pool controller period in seconds (minimum 5).',
  ),
  def(
    'operational.capacity_dispatch_cooldown_seconds',
    'operational',
    'CAPACITY_DISPATCH_COOLDOWN_SECONDS',
    '300',
    'Minimum seconds between launch-order dispatches for one pool.',
  ),
  def(
    'operational.capacity_order_claim_ttl_seconds',
    'operational',
    'CAPACITY_ORDER_CLAIM_TTL_SECONDS',
    '600',
    'Launch-order claim lease in seconds (minimum 5; v1: 30); a lapsed lease re-queues the order.',
  ),
  def(
    'operational.capacity_fulfilled_grace_seconds',
    'operational',
    'CAPACITY_FULFILLED_GRACE_SECONDS',
    '1800',
    'Seconds a fulfilled but unregistered order still counts as pending capacity.',
  ),
  def(
    'operational.gcp_stale_reap_interval_seconds',
    'operational',
    'GCP_STALE_REAP_INTERVAL_SECONDS',
    '60',
    'GCP reclaim period in seconds (minimum 30).',
  ),
  def(
    'operational.default_gcp_tiny_capacity_enabled',
    'operational',
    'DEFAULT_GCP_TINY_CAPACITY_ENABLED',
    'false',
    'Ensure a warm-capacity target for tiny GCP nodes at start-up.',
  ),
  def(
    'operational.default_gcp_tiny_datacenter',
    'operational',
    'DEFAULT_GCP_TINY_DATACENTER',
    'gcp:us-central1-a',
    'Datacenter of the default tiny GCP target.',
  ),
  def(
    'operational.default_gcp_tiny_capacity_count',
    'operational',
    'DEFAULT_GCP_TINY_CAPACITY_COUNT',
    '0',
    'min_warm_count of the default tiny GCP target.',
  ),
  def(
    'operational.default_gcp_tiny_capacity_dispatch',
    'operational',
    'DEFAULT_GCP_TINY_CAPACITY_DISPATCH',
    'false',
    'Whether the default tiny GCP target dispatches launch orders.',
  ),
  def(
    'operational.deploy_callback_timeout_seconds',
    'operational',
    'DEPLOY_CALLBACK_TIMEOUT_SECONDS',
    '600',
    'Seconds a deployment waits for the agent deployed callback before it fails.',
  ),
  def(
    'operational.reassign_after_seconds',
    'operational',
    'REASSIGN_AFTER_SECONDS',
    '300',
    'Seconds an agent may be unhealthy (or silent: no heartbeat or healthy probe) before the health sweep moves its running deployment to another eligible agent of the same owner (failover).',
  ),
  def(
    'operational.reassign_give_up_seconds',
    'operational',
    'REASSIGN_GIVE_UP_SECONDS',
    '3600',
    'Seconds a deployment being moved (status reassigning) keeps retrying placement on a backoff before it is failed with the reason; nothing is billed meanwhile.',
  ),
  def(
    'operational.agent_direct_url',
    'operational',
    'AGENT_DIRECT_URL',
    '',
    'Base URL for control-plane to agent calls instead of https://<tunnel hostname> (local development, tests, private networks); {agent_id} and {hostname} are substituted.',
  ),
  def(
    'operational.allow_insecure_local_agents',
    'operational',
    'ALLOW_INSECURE_LOCAL_AGENTS',
    'false',
    'Development only: accept agents registering with insecure-local attestation (no TDX, ee-agent --local); they are recorded as unverified-dev, never verified, and take deployments only while this is true (after every verified agent).',
  ),
  def(
    'operational.proxy_timeout_seconds',
    'operational',
    'PROXY_TIMEOUT_SECONDS',
    '60',
    'Seconds /proxy/{service}/… waits for the service to start answering before it answers 504.',
  ),
  def(
    'operational.temporal_ui_url',
    'operational',
    'TEMPORAL_UI_URL',
    'http://127.0.0.1:8233',
    'Temporal Web UI base URL the dashboard links each workflow-backed object to (empty = no links).',
  ),
  def(
    'operational.oci_insecure_registries',
    'operational',
    'OCI_INSECURE_REGISTRIES',
    '',
    'Comma-separated registry hosts (host[:port]) measured over plain http instead of https (local registries).',
  ),
  def(
    'operational.cosign_bin',
    'operational',
    'COSIGN_BIN',
    'cosign',
    'cosign executable used to verify image signatures (scripts/tools.mjs installs the pinned one).',
  ),
  def(
    'operational.cosign_public_key',
    'operational',
    'COSIGN_PUBLIC_KEY',
    '',
    'PEM public key image signatures must verify against; empty = keyless (Fulcio certificate identity + Rekor).',
  ),
  def(
    'operational.cosign_certificate_oidc_issuer',
    'operational',
    'COSIGN_CERTIFICATE_OIDC_ISSUER',
    'https://token.actions.githubusercontent.com',
    'Keyless verification: OIDC issuer of the signing certificate.',
  ),
  def(
    'operational.cosign_certificate_identity_regexp',
    'operational',
    'COSIGN_CERTIFICATE_IDENTITY_REGEXP',
    '^https://github.com/.+/.+/.github/workflows/.+@refs/.*$',
    'Keyless verification: regular expression the certificate identity (workflow URL) must match.',
  ),
  def(
    'operational.cosign_rekor_url',
    'operational',
    'COSIGN_REKOR_URL',
    'https://rekor.sigstore.dev',
    'Transparency log signatures are checked against (unless cosign_ignore_tlog).',
  ),
  def(
    'operational.cosign_ignore_tlog',
    'operational',
    'COSIGN_IGNORE_TLOG',
    'false',
    'Skip the transparency-log check (keys that sign with --tlog-upload=false, air-gapped installs).',
  ),
  def(
    'operational.measurement_callback_secret',
    'operational',
    'MEASUREMENT_CALLBACK_SECRET',
    '',
    'HMAC-SHA256 key of POST /api/v1/internal/measurement-callback bodies (header X-Measurement-Signature: sha256=<hex>); empty = the callback is closed.',
    true,
  ),
  def(
    'billing.enabled',
    'operational',
    'BILLING_ENABLED',
    'true',
    'Master switch for hourly charging, the insufficient-funds terminator and capacity charges.',
  ),
  def(
    'billing.contributor_pool_bps',
    'operational',
    'BILLING_CONTRIBUTOR_POOL_BPS',
    '5000',
    'Share of the platform cut (basis points, 0-10000) routed to app contributors.',
  ),
  def(
    'billing.platform_account_id',
    'operational',
    'BILLING_PLATFORM_ACCOUNT_ID',
    '',
    'Account credited with platform revenue.',
  ),
  def(
    'billing.capacity_request_dev_simulation',
    'operational',
    'BILLING_CAPACITY_REQUEST_DEV_SIMULATION',
    'true',
    'Capacity purchases write a zero-amount ledger entry instead of charging.',
  ),
  def(
    'billing.capacity_price_tiny_monthly_usd',
    'operational',
    'BILLING_CAPACITY_PRICE_TINY_MONTHLY_USD',
    '25',
    'Monthly USD price of warm tiny capacity (also unknown sizes).',
  ),
  def(
    'billing.capacity_price_standard_monthly_usd',
    'operational',
    'BILLING_CAPACITY_PRICE_STANDARD_MONTHLY_USD',
    '100',
    'Monthly USD price of warm standard capacity.',
  ),
  def(
    'billing.capacity_price_llm_monthly_usd',
    'operational',
    'BILLING_CAPACITY_PRICE_LLM_MONTHLY_USD',
    '500',
    'Monthly USD price of warm llm capacity.',
  ),
  // provisioner
  def(
    'provisioner.webhook_url',
    'provisioner',
    'AGENT_PROVISIONER_WEBHOOK_URL',
    '',
    'External provisioning webhook for launch orders.',
  ),
  def(
    'provisioner.webhook_token',
    'provisioner',
    'AGENT_PROVISIONER_WEBHOOK_TOKEN',
    '',
    'Bearer token for the provisioner; fallback for inventory and cleanup tokens.',
    true,
  ),
  def(
    'provisioner.timeout_seconds',
    'provisioner',
    'AGENT_PROVISIONER_TIMEOUT_SECONDS',
    '20',
    'HTTP timeout in seconds for provisioner webhooks.',
  ),
  def('provisioner.inventory_url', 'provisioner', 'AGENT_PROVISIONER_INVENTORY_URL', '', 'GET inventory webhook.'),
  def(
    'provisioner.inventory_token',
    'provisioner',
    'AGENT_PROVISIONER_INVENTORY_TOKEN',
    '',
    'Bearer token for the inventory webhook (falls back to webhook_token).',
    true,
  ),
  def('provisioner.cleanup_url', 'provisioner', 'AGENT_PROVISIONER_CLEANUP_URL', '', 'POST cleanup webhook.'),
  def(
    'provisioner.cleanup_token',
    'provisioner',
    'AGENT_PROVISIONER_CLEANUP_TOKEN',
    '',
    'Bearer token for the cleanup webhook (falls back to webhook_token).',
    true,
  ),
  def(
    'provisioner.signing_secret',
    'provisioner',
    'AGENT_PROVISIONER_SIGNING_SECRET',
    '',
    "HMAC-SHA256 key of the X-EasyEnclave-Signature header on every provisioner call (blank: the call's bearer token).",
    true,
  ),
  // GCP (built-in launch-order fulfilment with @google-cloud/compute; v1 read these from the environment only)
  def('gcp.project_id', 'provisioner', 'GCP_PROJECT_ID', '', 'GCP project of built-in fulfilment (with a key).'),
  def(
    'gcp.service_account_key',
    'provisioner',
    'GCP_SERVICE_ACCOUNT_KEY',
    '',
    'Service-account key JSON (or base64 of it) with client_email and private_key.',
    true,
  ),
  def(
    'gcp.api_endpoint',
    'provisioner',
    'GCP_COMPUTE_API_ENDPOINT',
    '',
    'Compute API base URL (blank: https://compute.googleapis.com); a fake or private endpoint for tests and staging.',
  ),
  def(
    'gcp.oauth_token_url',
    'provisioner',
    'GCP_OAUTH_TOKEN_URL',
    'https://oauth2.googleapis.com/token',
    'Where the service-account JWT is exchanged for an access token.',
  ),
  def('gcp.default_zone', 'provisioner', 'EE_GCP_DEFAULT_ZONE', 'us-central1-a', 'Zone when a datacenter names none.'),
  def(
    'gcp.machine_types',
    'provisioner',
    'EE_GCP_MACHINE_TYPE_DEFAULT',
    'c3-standard-4,c3-standard-8',
    'Ordered machine types tried per insert (comma-separated) when no per-size list is set.',
  ),
  def('gcp.machine_types_tiny', 'provisioner', 'EE_GCP_MACHINE_TYPE_TINY', '', 'Machine types for tiny nodes.'),
  def(
    'gcp.machine_types_standard',
    'provisioner',
    'EE_GCP_MACHINE_TYPE_STANDARD',
    '',
    'Machine types for standard nodes.',
  ),
  def('gcp.machine_types_llm', 'provisioner', 'EE_GCP_MACHINE_TYPE_LLM', '', 'Machine types for llm nodes.'),
  def('gcp.image_project', 'provisioner', 'EE_GCP_IMAGE_PROJECT', '', 'Boot image project (blank: gcp.project_id).'),
  def('gcp.image_family', 'provisioner', 'EE_GCP_IMAGE_FAMILY', 'easyenclave-agent', 'Boot image family.'),
  def('gcp.image_name', 'provisioner', 'EE_GCP_IMAGE_NAME', '', 'Exact boot image (preferred over the family).'),
  def('gcp.boot_disk_gb', 'provisioner', 'EE_GCP_BOOT_DISK_GB', '80', 'Boot disk size in GB (minimum 20).'),
  def('gcp.boot_disk_type', 'provisioner', 'EE_GCP_BOOT_DISK_TYPE', 'pd-balanced', 'Boot disk type.'),
  def('gcp.network', 'provisioner', 'EE_GCP_NETWORK', 'default', 'VPC network of provisioned VMs.'),
  def(
    'gcp.agent_ita_api_key',
    'provisioner',
    'EE_AGENT_ITA_API_KEY',
    '',
    'Intel Trust Authority API key written into provisioned agents (they mint their own tokens).',
    true,
  ),
  def(
    'gcp.control_plane_url',
    'provisioner',
    'EASYENCLAVE_CP_URL',
    'https://app.easyenclave.com',
    'control_plane_url written into provisioned agents; also the ee-cp-host label.',
  ),
  def(
    'gcp.network_name',
    'provisioner',
    'EASYENCLAVE_NETWORK_NAME',
    '',
    'Network name of this install: the ee-network label, and the owned-only scope of the orphan reaper.',
  ),
  // auth
  def('auth.password_login_enabled', 'auth', 'PASSWORD_LOGIN_ENABLED', 'true', 'Allow admin password login.'),
  def(
    'auth.require_github_oauth_in_production',
    'auth',
    'AUTH_REQUIRE_GITHUB_OAUTH_IN_PRODUCTION',
    'true',
    'In production, refuse to start unless GitHub OAuth is configured.',
  ),
  def(
    'auth.allow_password_login_in_production',
    'auth',
    'AUTH_ALLOW_PASSWORD_LOGIN_IN_PRODUCTION',
    'false',
    'In production, allow password login (requires password_login_enabled too).',
  ),
  // api: client addresses and rate limits (counters in the shared rate_limits table)
  def(
    'api.trusted_proxies',
    'api',
    'API_TRUSTED_PROXIES',
    '',
    'Comma list of IPs/CIDRs of reverse proxies whose X-Forwarded-For is believed; empty trusts none (the socket peer is the client).',
  ),
  def(
    'api.codec_cors_origins',
    'api',
    'API_CODEC_CORS_ORIGINS',
    'http://localhost:8233,http://127.0.0.1:8233',
    'Comma list of origins (the Temporal Web UI) allowed to call POST /codec/decode and /codec/encode from a browser.',
  ),
  def(
    'ratelimit.enabled',
    'api',
    'RATELIMIT_ENABLED',
    'true',
    'Master switch of every API rate limit (false for load tests).',
  ),
  def(
    'ratelimit.admin_login_per_ip',
    'api',
    'RATELIMIT_ADMIN_LOGIN_PER_IP',
    '5/15m',
    'Failed POST /admin/login attempts per client IP, as <count>/<n>s|m|h; successful logins do not count.',
  ),
  def(
    'ratelimit.admin_login_per_account',
    'api',
    'RATELIMIT_ADMIN_LOGIN_PER_ACCOUNT',
    '20/15m',
    'Failed POST /admin/login attempts against the admin account from all IPs together (<count>/<window>).',
  ),
  def(
    'ratelimit.account_create_per_ip',
    'api',
    'RATELIMIT_ACCOUNT_CREATE_PER_IP',
    '10/1h',
    'POST /api/v1/accounts requests per client IP (<count>/<window>).',
  ),
  def(
    'ratelimit.agent_challenge_per_ip',
    'api',
    'RATELIMIT_AGENT_CHALLENGE_PER_IP',
    '60/1m',
    'GET /api/v1/agents/challenge requests per client IP (<count>/<window>).',
  ),
  def(
    'ratelimit.agent_register_per_ip',
    'api',
    'RATELIMIT_AGENT_REGISTER_PER_IP',
    '30/1m',
    'POST /api/v1/agents/register requests per client IP (<count>/<window>).',
  ),
];

export type SettingKey = string;

const BY_KEY: ReadonlyMap<string, SettingDef> = new Map(SETTINGS.map((s) => [s.key, s]));

export function findSetting(key: string): SettingDef | undefined {
  return BY_KEY.get(key);
}

/** Mask a secret value for listings and logs: <= 8 chars → ****, else first 4 + **** + last 4. */
export function maskSecret(value: string): string {
  if (value === '') return '';
  if (value.length <= 8) return '****';
  return `${value.slice(0, 4)}****${value.slice(-4)}`;
}
