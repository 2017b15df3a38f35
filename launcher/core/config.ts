/**
 * The config object a VM boots with and how it reaches the guest (launcher.md §3, agent.md §2). The agent reads
 * `easyenclave.configz=<base64 zlib JSON>`, then `easyenclave.config=<base64 JSON>` from /proc/cmdline, or
 * `config.json` on a config-drive ISO; this module produces exactly that (the cmdline encoding itself is shared with
 * the agent: core/agent-config-encoding.ts). Pure: no files, no processes.
 */
import { compactJson, encodeConfigParam, type EncodedParam } from '../../core/agent-config-encoding';
import type { NodeSize } from './presets';

export type VmMode = 'agent' | 'control-plane' | 'measure';
export type LaunchConfig = Record<string, string | number>;

/** Default limit of the full kernel command line (env EASYENCLAVE_MAX_CMDLINE_BYTES). */
export const DEFAULT_MAX_CMDLINE_BYTES = 2048;
/** Base cmdline when the image ships no `easyenclave.cmdline`. */
export const DEFAULT_BASE_CMDLINE = 'console=ttyS0,115200';

type Env = Record<string, string | undefined>;

export { compactJson, encodeConfigParam, type EncodedParam };

export interface KernelCmdline {
  cmdline: string;
  /**
   * Set when the config must not or cannot go on the cmdline — it holds a secret, or it did not fit: write it to a
   * config-drive ISO instead (launcher.md §3.2 step 6).
   */
  configDrive: LaunchConfig | null;
}

/**
 * Config keys that are credentials. A config holding any of them never goes on the kernel command line: QEMU's argv
 * is readable by every local user (`ps`, /proc/<pid>/cmdline) and is saved in the VM's record, so the whole config
 * goes to the config drive (a 0600 file and ISO in the VM's 0700 directory) instead. [v1 put them on the cmdline.]
 */
export const SECRET_CONFIG_KEYS: ReadonlySet<string> = new Set([
  'intel_api_key',
  'bootstrap_token',
  'ee_agent_ita_api_key',
  'cloudflare_api_token',
  'gcp_service_account_key',
  'github_oauth_client_secret',
  'stripe_secret_key',
  'stripe_webhook_secret',
  'admin_password_hash',
]);

/** The secret keys `config` holds (non-empty values). */
export function secretKeysOf(config: LaunchConfig): string[] {
  return Object.keys(config).filter((k) => SECRET_CONFIG_KEYS.has(k) && String(config[k]) !== '');
}

/**
 * Full kernel cmdline: `<base> <param>=<value>` (+ ` swiotlb=131072` at ≥ 64 GiB). A config holding a secret
 * (SECRET_CONFIG_KEYS), or one over `maxBytes`, moves to a config drive — except in measure mode (its fixed document
 * holds no secret), where a fallback would change the measured inputs: that throws.
 */
export function buildCmdline(opts: {
  base: string;
  config: LaunchConfig;
  memoryMiB: number;
  maxBytes?: number;
}): KernelCmdline {
  const base = opts.base.trim();
  const swiotlb = opts.memoryMiB >= 64 * 1024 ? ' swiotlb=131072' : '';
  const p = encodeConfigParam(opts.config);
  const cmdline = `${base} ${p.key}=${p.value}`.trim() + swiotlb;
  const max = opts.maxBytes ?? DEFAULT_MAX_CMDLINE_BYTES;
  const secret = opts.config.mode !== 'measure' && secretKeysOf(opts.config).length > 0;
  if (!secret && cmdline.length <= max) return { cmdline, configDrive: null };
  if (opts.config.mode === 'measure') {
    const largest = Object.entries(opts.config)
      .map(([k, v]) => [k, String(v).length] as const)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 6)
      .map(([k, n]) => `${k}=${n}`)
      .join(', ');
    throw new Error(`measure config does not fit the ${max}-byte kernel cmdline (largest: ${largest})`);
  }
  return { cmdline: base + swiotlb, configDrive: opts.config };
}

export function maxCmdlineBytes(env: Env): number {
  const raw = env.EASYENCLAVE_MAX_CMDLINE_BYTES?.trim();
  return raw && /^\d+$/.test(raw) ? Number(raw) : DEFAULT_MAX_CMDLINE_BYTES;
}

/** Control-plane VM keys passed through from the host env of the same upper-case name (§3.1), dropped when empty. */
export const CP_ENV_KEYS = [
  'control_plane_image',
  'easyenclave_boot_id',
  'easyenclave_git_sha',
  'cloudflare_api_token',
  'cloudflare_account_id',
  'cloudflare_zone_id',
  'easyenclave_domain',
  'easyenclave_network_name',
  'easyenclave_env',
  'ee_agent_ita_api_key',
  'gcp_project_id',
  'gcp_service_account_key',
  'ee_gcp_image_project',
  'ee_gcp_image_family',
  'ee_gcp_image_name',
  'github_oauth_client_id',
  'github_oauth_client_secret',
  'github_oauth_redirect_uri',
  'admin_github_logins',
  'stripe_secret_key',
  'stripe_webhook_secret',
  'trusted_agent_mrtds',
  'trusted_proxy_mrtds',
  'trusted_agent_rtmrs',
  'trusted_proxy_rtmrs',
  'trusted_agent_rtmrs_by_size',
  'trusted_proxy_rtmrs_by_size',
  'tcb_enforcement_mode',
  'allowed_tcb_statuses',
  'nonce_enforcement_mode',
  'nonce_ttl_seconds',
  'rtmr_enforcement_mode',
  'signature_verification_mode',
  'cp_to_agent_attestation_mode',
  'auth_require_github_oauth_in_production',
  'password_login_enabled',
  'auth_allow_password_login_in_production',
  'billing_enabled',
  'billing_capacity_request_dev_simulation',
  'billing_platform_account_id',
  'billing_contributor_pool_bps',
  'default_gcp_tiny_capacity_enabled',
  'default_gcp_tiny_capacity_count',
  'default_gcp_tiny_capacity_dispatch',
  'admin_password_hash',
] as const;

export interface ConfigInput {
  mode: VmMode;
  nodeSize: NodeSize;
  vmName: string;
  vmId: string;
  cpUrl?: string;
  intelApiKey?: string;
  owner?: string;
  datacenter?: string;
  cloudProvider?: string;
  availabilityZone?: string;
  region?: string;
  bootstrapToken?: string;
  cpImage?: string;
  cpPort?: number;
  /** `insecure-local` for development guests without TDX. */
  attestation?: string;
}

const set = (c: LaunchConfig, k: string, v: string | number | undefined) => {
  if (v === undefined || v === '') return;
  c[k] = typeof v === 'string' ? v.trim() : v;
};

/**
 * Insertion-ordered config (order matters for reproducible RTMRs): mode, node_size, command keys, vm_id last.
 * Measure VMs get a fixed document per size (no host env, no random id) so their measurements are stable; v1's
 * empty `node_size`/`control_plane_url` would be rejected by this agent's schema, so they are left out.
 */
export function buildConfig(input: ConfigInput, env: Env = {}): LaunchConfig {
  if (input.mode === 'measure') {
    return { mode: 'measure', node_size: input.nodeSize, vm_id: `measure-${input.nodeSize}` };
  }
  const c: LaunchConfig = { mode: input.mode };
  if (input.mode === 'agent') c.node_size = input.nodeSize;
  set(c, 'control_plane_url', input.cpUrl);
  set(c, 'intel_api_key', input.intelApiKey ?? env.ITA_API_KEY ?? env.INTEL_API_KEY);
  if (input.mode === 'agent') {
    if (env.EASYENCLAVE_NETWORK_NAME) set(c, 'easyenclave_network_name', env.EASYENCLAVE_NETWORK_NAME);
    else set(c, 'easyenclave_env', env.EASYENCLAVE_ENV);
    const admin = env.AGENT_ADMIN_AUTH_MODE?.trim();
    if (admin && ['password', 'cp', 'hybrid'].includes(admin)) c.agent_admin_auth_mode = admin;
    const cpAtt = env.CP_TO_AGENT_ATTESTATION_MODE?.trim();
    if (cpAtt && ['required', 'optional', 'disabled'].includes(cpAtt)) c.cp_to_agent_attestation_mode = cpAtt;
    set(c, 'trusted_proxy_mrtds', env.TRUSTED_PROXY_MRTDS);
    set(c, 'cloud_provider', input.cloudProvider);
    set(c, 'availability_zone', input.availabilityZone);
    set(c, 'region', input.region);
    set(c, 'datacenter', input.datacenter);
    set(c, 'owner', input.owner);
    set(c, 'attestation', input.attestation);
    set(c, 'bootstrap_token', input.bootstrapToken);
  } else {
    set(c, 'port', input.cpPort ?? 8080);
    for (const k of CP_ENV_KEYS) {
      if (k === 'control_plane_image' && input.cpImage) set(c, k, input.cpImage);
      else set(c, k, env[k.toUpperCase()]);
    }
    if (!c.easyenclave_domain) c.easyenclave_domain = 'easyenclave.com';
  }
  c.vm_name = input.vmName;
  c.vm_id = input.vmId;
  return c;
}

/** `org/name`, `github:org/name` or `github:org` → `github:org[/name]`; anything else is rejected. */
export function normalizeOwner(raw: string): string | null {
  const s = raw.trim().replace(/^github:/i, '');
  return /^[A-Za-z0-9][A-Za-z0-9-]{0,38}(\/[A-Za-z0-9._-]{1,100})?$/.test(s) ? `github:${s}` : null;
}

/** Datacenter label `<provider>:<location>` (lowercase letters, digits, - _ .). */
export function normalizeDatacenter(raw: string): string | null {
  const s = raw.trim().toLowerCase();
  return /^[a-z0-9][a-z0-9_-]*:[a-z0-9][a-z0-9._-]*$/.test(s) ? s : null;
}
