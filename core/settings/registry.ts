/**
 * The settings registry: every DB-overridable setting, keyed by name, in registry order. `SettingKey` is the union
 * of the names, so reading a setting that is not declared here is a compile error in every reader
 * (SettingsReader.get, settingInt/settingBool); keys only known at run time (the admin API) go through `findSetting`.
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

/** One setting as declared in the registry; its key is the property name. */
export interface SettingSpec {
  readonly group: SettingGroup;
  readonly envVar: string;
  readonly default: string;
  readonly secret: boolean;
  readonly description: string;
}

const def = (group: SettingGroup, envVar: string, dflt: string, description: string, secret = false): SettingSpec => ({
  group,
  envVar,
  default: dflt,
  secret,
  description,
});

export const SETTING_REGISTRY = {
  // cloudflare
  'cloudflare.account_id': def(
    'cloudflare',
    'CLOUDFLARE_ACCOUNT_ID',
    '',
    'Cloudflare account that owns agent tunnels. Cloudflare is configured only when account_id, zone_id and api_token are all set.',
  ),
  'cloudflare.zone_id': def('cloudflare', 'CLOUDFLARE_ZONE_ID', '', 'Cloudflare zone for agent CNAME records.'),
  'cloudflare.api_token': def(
    'cloudflare',
    'CLOUDFLARE_API_TOKEN',
    '',
    'Bearer token for the Cloudflare API (tunnel + DNS edit).',
    true,
  ),
  'cloudflare.domain': def(
    'cloudflare',
    'EASYENCLAVE_DOMAIN',
    'easyenclave.com',
    'Domain for agent hostnames agent-<id>.<domain> and the proxy URL https://app[-staging].<domain>.',
  ),
  'cloudflare.api_url': def(
    'cloudflare',
    'CLOUDFLARE_API_URL',
    'https://api.cloudflare.com/client/v4',
    'Base URL of the Cloudflare v4 API (point at a fake or sandbox in tests).',
  ),
  // github_oauth
  'github_oauth.client_id': def(
    'github_oauth',
    'GITHUB_OAUTH_CLIENT_ID',
    '',
    'GitHub OAuth app client id; empty disables GitHub login (/auth/github answers 503).',
  ),
  'github_oauth.client_secret': def(
    'github_oauth',
    'GITHUB_OAUTH_CLIENT_SECRET',
    '',
    'GitHub OAuth app client secret.',
    true,
  ),
  'github_oauth.redirect_uri': def(
    'github_oauth',
    'GITHUB_OAUTH_REDIRECT_URI',
    'https://app.easyenclave.com/auth/github/callback',
    'OAuth callback URL registered with the GitHub app.',
  ),
  'github_oauth.base_url': def(
    'github_oauth',
    'GITHUB_OAUTH_BASE_URL',
    'https://github.com',
    'Base URL of GitHub web (authorize + access_token endpoints).',
  ),
  'github_oauth.api_url': def(
    'github_oauth',
    'GITHUB_API_URL',
    'https://api.github.com',
    'Base URL of the GitHub REST API (user, emails, orgs).',
  ),
  // github_oidc
  'github_oidc.jwks_url': def(
    'github_oidc',
    'GITHUB_OIDC_JWKS_URL',
    'https://token.actions.githubusercontent.com/.well-known/jwks',
    'JWKS used to verify GitHub Actions OIDC tokens.',
  ),
  'github_oidc.issuer': def(
    'github_oidc',
    'GITHUB_OIDC_ISSUER',
    'https://token.actions.githubusercontent.com',
    'Required issuer (iss) of GitHub Actions OIDC tokens.',
  ),
  'github_oidc.audience': def(
    'github_oidc',
    'GITHUB_OIDC_AUDIENCE',
    'easyenclave',
    'Required audience (aud) of GitHub Actions OIDC tokens.',
  ),
  // stripe
  'stripe.secret_key': def(
    'stripe',
    'STRIPE_SECRET_KEY',
    '',
    'Stripe secret key; enables Stripe. sk_test_/sk_live_ prefix gives the displayed mode.',
    true,
  ),
  'stripe.webhook_secret': def(
    'stripe',
    'STRIPE_WEBHOOK_SECRET',
    '',
    'Stripe webhook signing secret; empty refuses every webhook.',
    true,
  ),
  'stripe.api_url': def(
    'stripe',
    'STRIPE_API_URL',
    'https://api.stripe.com',
    'Base URL of the Stripe API (protocol, host and port are taken from it; stripe-mock in tests).',
  ),
  // intel_ta
  'intel_ta.jwks_url': def(
    'intel_ta',
    'ITA_JWKS_URL',
    'https://portal.trustauthority.intel.com/certs',
    'JWKS used to verify Intel Trust Authority attestation tokens.',
  ),
  'intel_ta.issuer': def(
    'intel_ta',
    'ITA_ISSUER',
    'https://portal.trustauthority.intel.com',
    'Required issuer (iss) of Intel Trust Authority tokens; empty skips the check.',
  ),
  'intel_ta.audience': def(
    'intel_ta',
    'ITA_AUDIENCE',
    '',
    'Required audience (aud) of Intel Trust Authority tokens; empty accepts tokens without an audience only.',
  ),
  // operational
  'operational.tcb_enforcement_mode': def(
    'operational',
    'TCB_ENFORCEMENT_MODE',
    'warn',
    'strict rejects TCB statuses outside allowed_tcb_statuses, warn logs, disabled skips.',
  ),
  'operational.allowed_tcb_statuses': def(
    'operational',
    'ALLOWED_TCB_STATUSES',
    'UpToDate',
    'Comma list of accepted Intel TCB statuses (case-sensitive).',
  ),
  'operational.nonce_enforcement_mode': def(
    'operational',
    'NONCE_ENFORCEMENT_MODE',
    'required',
    'required / optional / disabled: registration nonce replay protection. required (default) refuses a token whose REPORTDATA does not carry the outstanding challenge; optional and disabled are explicit operator choices that let an unbound token register.',
  ),
  'operational.nonce_ttl_seconds': def(
    'operational',
    'NONCE_TTL_SECONDS',
    '300',
    'Lifetime of a registration nonce in seconds.',
  ),
  'operational.rtmr_enforcement_mode': def(
    'operational',
    'RTMR_ENFORCEMENT_MODE',
    'warn',
    'strict rejects RTMR drift from the trusted baseline, warn logs, disabled skips.',
  ),
  'operational.signature_verification_mode': def(
    'operational',
    'SIGNATURE_VERIFICATION_MODE',
    'warn',
    'strict / warn / disabled: cosign signature checks during version measurement.',
  ),
  'operational.agent_attestation_interval': def(
    'operational',
    'AGENT_ATTESTATION_INTERVAL',
    '3600',
    'Seconds between control-plane-pulled agent attestations (pull mode); <= 0 disables.',
  ),
  'operational.agent_attestation_pull_enabled': def(
    'operational',
    'AGENT_ATTESTATION_PULL_ENABLED',
    'false',
    'Exactly "true" makes the health sweep pull fresh attestations from agents.',
  ),
  'operational.cp_to_agent_attestation_mode': def(
    'operational',
    'CP_TO_AGENT_ATTESTATION_MODE',
    'optional',
    'required / optional / disabled: X-CP-Attestation header on control-plane to agent calls.',
  ),
  'operational.agent_stale_hours': def(
    'operational',
    'AGENT_STALE_HOURS',
    '24',
    'Hours without contact before an agent is deleted with its tunnel and DNS record.',
  ),
  'operational.capacity_reconcile_interval_seconds': def(
    'operational',
    'CAPACITY_RECONCILE_INTERVAL_SECONDS',
    '30',
    'Capacity pool controller period in seconds (minimum 5).',
  ),
  'operational.capacity_dispatch_cooldown_seconds': def(
    'operational',
    'CAPACITY_DISPATCH_COOLDOWN_SECONDS',
    '300',
    'Minimum seconds between launch-order dispatches for one pool.',
  ),
  'operational.capacity_order_claim_ttl_seconds': def(
    'operational',
    'CAPACITY_ORDER_CLAIM_TTL_SECONDS',
    '600',
    'Launch-order claim lease in seconds (minimum 5; v1: 30); a lapsed lease re-queues the order.',
  ),
  'operational.capacity_fulfilled_grace_seconds': def(
    'operational',
    'CAPACITY_FULFILLED_GRACE_SECONDS',
    '1800',
    'Seconds a fulfilled but unregistered order still counts as pending capacity.',
  ),
  'operational.gcp_stale_reap_interval_seconds': def(
    'operational',
    'GCP_STALE_REAP_INTERVAL_SECONDS',
    '60',
    'GCP reclaim period in seconds (minimum 30).',
  ),
  'operational.default_gcp_tiny_capacity_enabled': def(
    'operational',
    'DEFAULT_GCP_TINY_CAPACITY_ENABLED',
    'false',
    'Ensure a warm-capacity target for tiny GCP nodes at start-up.',
  ),
  'operational.default_gcp_tiny_datacenter': def(
    'operational',
    'DEFAULT_GCP_TINY_DATACENTER',
    'gcp:us-central1-a',
    'Datacenter of the default tiny GCP target.',
  ),
  'operational.default_gcp_tiny_capacity_count': def(
    'operational',
    'DEFAULT_GCP_TINY_CAPACITY_COUNT',
    '0',
    'min_warm_count of the default tiny GCP target.',
  ),
  'operational.default_gcp_tiny_capacity_dispatch': def(
    'operational',
    'DEFAULT_GCP_TINY_CAPACITY_DISPATCH',
    'false',
    'Whether the default tiny GCP target dispatches launch orders.',
  ),
  'operational.deploy_callback_timeout_seconds': def(
    'operational',
    'DEPLOY_CALLBACK_TIMEOUT_SECONDS',
    '600',
    'Seconds a deployment waits for the agent deployed callback before it fails.',
  ),
  'operational.reassign_after_seconds': def(
    'operational',
    'REASSIGN_AFTER_SECONDS',
    '300',
    'Seconds an agent may be unhealthy (or silent: no heartbeat or healthy probe) before the health sweep moves its running deployment to another eligible agent of the same owner (failover).',
  ),
  'operational.reassign_give_up_seconds': def(
    'operational',
    'REASSIGN_GIVE_UP_SECONDS',
    '3600',
    'Seconds a deployment being moved (status reassigning) keeps retrying placement on a backoff before it is failed with the reason; nothing is billed meanwhile.',
  ),
  'operational.agent_direct_url': def(
    'operational',
    'AGENT_DIRECT_URL',
    '',
    'Base URL for control-plane to agent calls instead of https://<tunnel hostname> (local development, tests, private networks); {agent_id} and {hostname} are substituted.',
  ),
  'operational.allow_insecure_local_agents': def(
    'operational',
    'ALLOW_INSECURE_LOCAL_AGENTS',
    'false',
    'Development only: accept agents registering with insecure-local attestation (no TDX, ee-agent --local); they are recorded as unverified-dev, never verified, and take deployments only while this is true (after every verified agent).',
  ),
  'operational.proxy_timeout_seconds': def(
    'operational',
    'PROXY_TIMEOUT_SECONDS',
    '60',
    'Seconds /proxy/{service}/… waits for the service to start answering before it answers 504.',
  ),
  'operational.temporal_ui_url': def(
    'operational',
    'TEMPORAL_UI_URL',
    'http://127.0.0.1:8233',
    'Temporal Web UI base URL the dashboard links each workflow-backed object to (empty = no links).',
  ),
  'operational.oci_insecure_registries': def(
    'operational',
    'OCI_INSECURE_REGISTRIES',
    '',
    'Comma-separated registry hosts (host[:port]) measured over plain http instead of https (local registries).',
  ),
  'operational.cosign_bin': def(
    'operational',
    'COSIGN_BIN',
    'cosign',
    'cosign executable used to verify image signatures (scripts/tools.mjs installs the pinned one).',
  ),
  'operational.cosign_public_key': def(
    'operational',
    'COSIGN_PUBLIC_KEY',
    '',
    'PEM public key image signatures must verify against; empty = keyless (Fulcio certificate identity + Rekor).',
  ),
  'operational.cosign_certificate_oidc_issuer': def(
    'operational',
    'COSIGN_CERTIFICATE_OIDC_ISSUER',
    'https://token.actions.githubusercontent.com',
    'Keyless verification: OIDC issuer of the signing certificate.',
  ),
  'operational.cosign_certificate_identity_regexp': def(
    'operational',
    'COSIGN_CERTIFICATE_IDENTITY_REGEXP',
    '^https://github.com/.+/.+/.github/workflows/.+@refs/.*$',
    'Keyless verification: regular expression the certificate identity (workflow URL) must match.',
  ),
  'operational.cosign_rekor_url': def(
    'operational',
    'COSIGN_REKOR_URL',
    'https://rekor.sigstore.dev',
    'Transparency log signatures are checked against (unless cosign_ignore_tlog).',
  ),
  'operational.cosign_ignore_tlog': def(
    'operational',
    'COSIGN_IGNORE_TLOG',
    'false',
    'Skip the transparency-log check (keys that sign with --tlog-upload=false, air-gapped installs).',
  ),
  'operational.measurement_callback_secret': def(
    'operational',
    'MEASUREMENT_CALLBACK_SECRET',
    '',
    'HMAC-SHA256 key of POST /api/v1/internal/measurement-callback bodies (header X-Measurement-Signature: sha256=<hex>); empty = the callback is closed.',
    true,
  ),
  'billing.enabled': def(
    'operational',
    'BILLING_ENABLED',
    'true',
    'Master switch for hourly charging, the insufficient-funds terminator and capacity charges.',
  ),
  'billing.contributor_pool_bps': def(
    'operational',
    'BILLING_CONTRIBUTOR_POOL_BPS',
    '5000',
    'Share of the platform cut (basis points, 0-10000) routed to app contributors.',
  ),
  'billing.platform_account_id': def(
    'operational',
    'BILLING_PLATFORM_ACCOUNT_ID',
    '',
    'Account credited with platform revenue.',
  ),
  'billing.capacity_request_dev_simulation': def(
    'operational',
    'BILLING_CAPACITY_REQUEST_DEV_SIMULATION',
    'true',
    'Capacity purchases write a zero-amount ledger entry instead of charging.',
  ),
  'billing.capacity_price_tiny_monthly_usd': def(
    'operational',
    'BILLING_CAPACITY_PRICE_TINY_MONTHLY_USD',
    '25',
    'Monthly USD price of warm tiny capacity (also unknown sizes).',
  ),
  'billing.capacity_price_standard_monthly_usd': def(
    'operational',
    'BILLING_CAPACITY_PRICE_STANDARD_MONTHLY_USD',
    '100',
    'Monthly USD price of warm standard capacity.',
  ),
  'billing.capacity_price_llm_monthly_usd': def(
    'operational',
    'BILLING_CAPACITY_PRICE_LLM_MONTHLY_USD',
    '500',
    'Monthly USD price of warm llm capacity.',
  ),
  // provisioner
  'provisioner.webhook_url': def(
    'provisioner',
    'AGENT_PROVISIONER_WEBHOOK_URL',
    '',
    'External provisioning webhook for launch orders.',
  ),
  'provisioner.webhook_token': def(
    'provisioner',
    'AGENT_PROVISIONER_WEBHOOK_TOKEN',
    '',
    'Bearer token for the provisioner; fallback for inventory and cleanup tokens.',
    true,
  ),
  'provisioner.timeout_seconds': def(
    'provisioner',
    'AGENT_PROVISIONER_TIMEOUT_SECONDS',
    '20',
    'HTTP timeout in seconds for provisioner webhooks.',
  ),
  'provisioner.inventory_url': def('provisioner', 'AGENT_PROVISIONER_INVENTORY_URL', '', 'GET inventory webhook.'),
  'provisioner.inventory_token': def(
    'provisioner',
    'AGENT_PROVISIONER_INVENTORY_TOKEN',
    '',
    'Bearer token for the inventory webhook (falls back to webhook_token).',
    true,
  ),
  'provisioner.cleanup_url': def('provisioner', 'AGENT_PROVISIONER_CLEANUP_URL', '', 'POST cleanup webhook.'),
  'provisioner.cleanup_token': def(
    'provisioner',
    'AGENT_PROVISIONER_CLEANUP_TOKEN',
    '',
    'Bearer token for the cleanup webhook (falls back to webhook_token).',
    true,
  ),
  'provisioner.signing_secret': def(
    'provisioner',
    'AGENT_PROVISIONER_SIGNING_SECRET',
    '',
    "HMAC-SHA256 key of the X-EasyEnclave-Signature header on every provisioner call (blank: the call's bearer token).",
    true,
  ),
  // GCP (built-in launch-order fulfilment with @google-cloud/compute; v1 read these from the environment only)
  'gcp.project_id': def('provisioner', 'GCP_PROJECT_ID', '', 'GCP project of built-in fulfilment (with a key).'),
  'gcp.service_account_key': def(
    'provisioner',
    'GCP_SERVICE_ACCOUNT_KEY',
    '',
    'Service-account key JSON (or base64 of it) with client_email and private_key.',
    true,
  ),
  'gcp.api_endpoint': def(
    'provisioner',
    'GCP_COMPUTE_API_ENDPOINT',
    '',
    'Compute API base URL (blank: https://compute.googleapis.com); a fake or private endpoint for tests and staging.',
  ),
  'gcp.oauth_token_url': def(
    'provisioner',
    'GCP_OAUTH_TOKEN_URL',
    'https://oauth2.googleapis.com/token',
    'Where the service-account JWT is exchanged for an access token.',
  ),
  'gcp.default_zone': def('provisioner', 'EE_GCP_DEFAULT_ZONE', 'us-central1-a', 'Zone when a datacenter names none.'),
  'gcp.machine_types': def(
    'provisioner',
    'EE_GCP_MACHINE_TYPE_DEFAULT',
    'c3-standard-4,c3-standard-8',
    'Ordered machine types tried per insert (comma-separated) when no per-size list is set.',
  ),
  'gcp.machine_types_tiny': def('provisioner', 'EE_GCP_MACHINE_TYPE_TINY', '', 'Machine types for tiny nodes.'),
  'gcp.machine_types_standard': def(
    'provisioner',
    'EE_GCP_MACHINE_TYPE_STANDARD',
    '',
    'Machine types for standard nodes.',
  ),
  'gcp.machine_types_llm': def('provisioner', 'EE_GCP_MACHINE_TYPE_LLM', '', 'Machine types for llm nodes.'),
  'gcp.image_project': def('provisioner', 'EE_GCP_IMAGE_PROJECT', '', 'Boot image project (blank: gcp.project_id).'),
  'gcp.image_family': def('provisioner', 'EE_GCP_IMAGE_FAMILY', 'easyenclave-agent', 'Boot image family.'),
  'gcp.image_name': def('provisioner', 'EE_GCP_IMAGE_NAME', '', 'Exact boot image (preferred over the family).'),
  'gcp.boot_disk_gb': def('provisioner', 'EE_GCP_BOOT_DISK_GB', '80', 'Boot disk size in GB (minimum 20).'),
  'gcp.boot_disk_type': def('provisioner', 'EE_GCP_BOOT_DISK_TYPE', 'pd-balanced', 'Boot disk type.'),
  'gcp.network': def('provisioner', 'EE_GCP_NETWORK', 'default', 'VPC network of provisioned VMs.'),
  'gcp.agent_ita_api_key': def(
    'provisioner',
    'EE_AGENT_ITA_API_KEY',
    '',
    'Intel Trust Authority API key written into provisioned agents (they mint their own tokens).',
    true,
  ),
  'gcp.control_plane_url': def(
    'provisioner',
    'EASYENCLAVE_CP_URL',
    'https://app.easyenclave.com',
    'control_plane_url written into provisioned agents; also the ee-cp-host label.',
  ),
  'gcp.network_name': def(
    'provisioner',
    'EASYENCLAVE_NETWORK_NAME',
    '',
    'Network name of this install: the ee-network label, and the owned-only scope of the orphan reaper.',
  ),
  // auth
  'auth.password_login_enabled': def('auth', 'PASSWORD_LOGIN_ENABLED', 'true', 'Allow admin password login.'),
  'auth.require_github_oauth_in_production': def(
    'auth',
    'AUTH_REQUIRE_GITHUB_OAUTH_IN_PRODUCTION',
    'true',
    'In production, refuse to start unless GitHub OAuth is configured.',
  ),
  'auth.allow_password_login_in_production': def(
    'auth',
    'AUTH_ALLOW_PASSWORD_LOGIN_IN_PRODUCTION',
    'false',
    'In production, allow password login (requires password_login_enabled too).',
  ),
  // api: client addresses and rate limits (counters in the shared rate_limits table)
  'api.trusted_proxies': def(
    'api',
    'API_TRUSTED_PROXIES',
    '',
    'Comma list of IPs/CIDRs of reverse proxies whose X-Forwarded-For is believed; empty trusts none (the socket peer is the client).',
  ),
  'api.codec_cors_origins': def(
    'api',
    'API_CODEC_CORS_ORIGINS',
    'http://localhost:8233,http://127.0.0.1:8233',
    'Comma list of origins (the Temporal Web UI) allowed to call POST /codec/decode and /codec/encode from a browser.',
  ),
  'ratelimit.enabled': def(
    'api',
    'RATELIMIT_ENABLED',
    'true',
    'Master switch of every API rate limit (false for load tests).',
  ),
  'ratelimit.admin_login_per_ip': def(
    'api',
    'RATELIMIT_ADMIN_LOGIN_PER_IP',
    '5/15m',
    'Failed POST /admin/login attempts per client IP, as <count>/<n>s|m|h; successful logins do not count.',
  ),
  'ratelimit.admin_login_per_account': def(
    'api',
    'RATELIMIT_ADMIN_LOGIN_PER_ACCOUNT',
    '20/15m',
    'Failed POST /admin/login attempts against the admin account from all IPs together (<count>/<window>).',
  ),
  'ratelimit.account_create_per_ip': def(
    'api',
    'RATELIMIT_ACCOUNT_CREATE_PER_IP',
    '10/1h',
    'POST /api/v1/accounts requests per client IP (<count>/<window>).',
  ),
  'ratelimit.agent_challenge_per_ip': def(
    'api',
    'RATELIMIT_AGENT_CHALLENGE_PER_IP',
    '60/1m',
    'GET /api/v1/agents/challenge requests per client IP (<count>/<window>).',
  ),
  'ratelimit.agent_register_per_ip': def(
    'api',
    'RATELIMIT_AGENT_REGISTER_PER_IP',
    '30/1m',
    'POST /api/v1/agents/register requests per client IP (<count>/<window>).',
  ),
} as const satisfies Record<string, SettingSpec>;

/** A setting name. Reading a key that is not in the registry does not compile. */
export type SettingKey = keyof typeof SETTING_REGISTRY;

/** A registered setting with its key. */
export interface SettingDef extends SettingSpec {
  readonly key: SettingKey;
}

/** Every setting in registry order (object keys keep declaration order: none is an integer-like string). */
export const SETTINGS: readonly SettingDef[] = (Object.keys(SETTING_REGISTRY) as SettingKey[]).map((key) => ({
  key,
  ...SETTING_REGISTRY[key],
}));

const BY_KEY: ReadonlyMap<string, SettingDef> = new Map(SETTINGS.map((s) => [s.key, s]));

/** Whether a string (an admin's input, a stored row) names a registered setting. */
export function isSettingKey(key: string): key is SettingKey {
  return BY_KEY.has(key);
}

/** The definition of a key given as a string at run time (admin API); typed reads use `SETTING_REGISTRY[key]`. */
export function findSetting(key: string): SettingDef | undefined {
  return BY_KEY.get(key);
}

/** Mask a secret value for listings and logs: <= 8 chars → ****, else first 4 + **** + last 4. */
export function maskSecret(value: string): string {
  if (value === '') return '';
  if (value.length <= 8) return '****';
  return `${value.slice(0, 4)}****${value.slice(-4)}`;
}
