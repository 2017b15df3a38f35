/**
 * Agent configuration (agent.md §2, fixed): where it comes from, one zod schema for it, and the derived identity
 * (vm_name, datacenter). Sources, first hit wins, no merging:
 *
 *   1. the file named by env EASYENCLAVE_CONFIG (or `--config`)
 *   2. /etc/easyenclave/config.json
 *   3. a config-drive ISO (`config.json` at its root; devices: env EASYENCLAVE_CONFIG_DRIVE, /dev/sr0, /dev/sr1, …)
 *   4. the kernel cmdline: `easyenclave.configz=<base64 zlib JSON>` (tried first), then `easyenclave.config=<base64 JSON>`
 *   5. nothing: `{}` (every key at its default), with a warning
 *
 * A source that exists but does not parse is logged and skipped (v1). The chosen JSON is then validated once;
 * an invalid value is a ConfigError naming the key, never a silent default.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { configFromCmdline } from '../../core/agent-config-encoding';
import { readConfigDrive } from './config-drive';
import type { AgentLogger } from './log';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    message: string,
    /** The offending key (dotted path), or null when the problem is the document itself. */
    readonly key: string | null,
  ) {
    super(message);
  }
}

const MODES = ['agent', 'control-plane', 'measure'] as const;
const ATTESTATION = ['tdx', 'insecure-local'] as const;
const CP_ATTESTATION_MODES = ['required', 'optional', 'disabled'] as const;

const seconds = z.number().positive();
const port = z.number().int().min(1).max(65535);
const httpUrl = z
  .string()
  .trim()
  .refine((s) => {
    try {
      const u = new URL(s);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      return false;
    }
  }, 'must be an http(s) URL');
/** `"a,b"` or `["a","b"]` → trimmed, lowercased, non-empty. */
const stringList = z
  .union([z.string(), z.array(z.string())])
  .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim().toLowerCase()).filter(Boolean));

/** Every key the agent reads; unknown keys (vm_id, CP-mode pass-through keys…) are kept and ignored. */
export const AgentConfigSchema = z.looseObject({
  mode: z.enum(MODES).default('agent'),
  /** Base URL of the control plane. */
  control_plane_url: httpUrl.default('https://app.easyenclave.com'),
  /** `tdx` (configfs-tsm + Intel Trust Authority) or `insecure-local` (development only, see agent/README.md). */
  attestation: z.enum(ATTESTATION).default('tdx'),
  node_size: z.string().trim().toLowerCase().min(1, 'must not be empty').default('tiny'),
  intel_api_key: z.string().trim().optional(),
  ita_api_url: httpUrl.default('https://api.trustauthority.intel.com'),
  /** One-time token that pre-authorises this VM's registration (launch orders). */
  bootstrap_token: z.string().trim().optional(),
  vm_name: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'must be 1-128 characters of letters, digits, . _ -')
    .optional(),
  datacenter: z.string().trim().optional(),
  cloud_provider: z.string().optional(),
  availability_zone: z.string().optional(),
  zone: z.string().optional(),
  region: z.string().optional(),
  /** configfs-tsm report directory. */
  tsm_report_dir: z.string().min(1).default('/sys/kernel/config/tsm/report'),
  /** Persisted state (agent id, control secret, tunnel token), files 0600. */
  data_dir: z.string().min(1).default('/data/ee-agent'),
  /** Where the deployment's compose file and env are written. */
  workload_dir: z.string().min(1).default('/data/workload'),
  listen_host: z.string().min(1).default('0.0.0.0'),
  /** The agent's HTTP API (0: any free port, for development and tests). */
  admin_port: z.number().int().min(0).max(65535).default(8081),
  /** Where unmatched requests are proxied and where the health check goes by default. */
  workload_port: port.default(8080),
  /** Seconds between heartbeats (each with a fresh attestation). */
  heartbeat_interval: seconds.default(3600),
  cp_to_agent_attestation_mode: z.enum(CP_ATTESTATION_MODES).default('optional'),
  /** Control-plane MRTDs trusted for X-CP-Attestation. */
  trusted_proxy_mrtds: stringList.default([]),
  /** Seconds a CP → agent challenge lives (min 30). */
  cp_attestation_challenge_ttl: z.number().int().min(30).default(180),
  cloudflared_path: z.string().min(1).default('cloudflared'),
  docker_path: z.string().min(1).default('docker'),
  /** Timeout of one `docker compose up`/`down`/`pull`. */
  compose_timeout_seconds: seconds.default(600),
  /** How long a deploy waits for the workload's health endpoint. */
  health_timeout_seconds: seconds.default(120),
  /** First and maximum delay of every retry loop (registration, callbacks, cloudflared restarts). */
  retry_initial_seconds: seconds.default(2),
  retry_max_seconds: seconds.default(60),
  /** Give up (exit 3) after this many failed registration attempts; 0 = never give up. */
  registration_max_attempts: z.number().int().min(0).default(0),
  // control-plane mode (agent.md §11)
  control_plane_image: z.string().trim().min(1).optional(),
  port: port.default(8080),
  tunnel_token: z.string().trim().optional(),
});

export type AgentConfig = z.infer<typeof AgentConfigSchema>;

/** Environment fallbacks of v1 (agent.md §2.4), applied only to keys the chosen source does not set. */
const ENV_FALLBACKS: [key: string, envVars: string[], transform?: (v: string) => unknown][] = [
  ['control_plane_url', ['EASYENCLAVE_URL']],
  ['intel_api_key', ['ITA_API_KEY', 'INTEL_API_KEY']],
  ['ita_api_url', ['ITA_API_URL', 'INTEL_API_URL']],
  ['node_size', ['EASYENCLAVE_DEFAULT_SIZE']],
  ['vm_name', ['VM_NAME']],
  ['admin_port', ['ADMIN_PORT'], Number],
  ['workload_port', ['WORKLOAD_PORT'], Number],
  ['heartbeat_interval', ['ATTESTATION_INTERVAL'], Number],
  ['cp_to_agent_attestation_mode', ['CP_TO_AGENT_ATTESTATION_MODE']],
  ['trusted_proxy_mrtds', ['TRUSTED_PROXY_MRTDS']],
];

/** v1 normalisation of the ITA base URL (agent.md §4.3): strip a trailing `/appraisal/v1[/attest]` or `/v2`. */
export function normalizeItaUrl(url: string): string {
  let u = url.trim().replace(/\/+$/, '');
  for (const suffix of ['/appraisal/v2', '/appraisal/v1', '/appraisal/v1/attest']) {
    if (u.endsWith(suffix)) {
      u = u.slice(0, -suffix.length).replace(/\/+$/, '');
      break;
    }
  }
  return u;
}

/** Validates a raw JSON object (plus env fallbacks). Throws ConfigError naming the first bad key. */
export function parseConfig(raw: unknown, env: Record<string, string | undefined> = {}): AgentConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError('configuration must be a JSON object', null);
  }
  const merged: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  for (const [key, vars, transform] of ENV_FALLBACKS) {
    if (merged[key] !== undefined && merged[key] !== '') continue;
    const v = vars.map((n) => env[n]?.trim()).find((x) => x);
    if (v) merged[key] = transform ? transform(v) : v;
  }
  const r = AgentConfigSchema.safeParse(merged);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const key = issue.path.map(String).join('.') || null;
    throw new ConfigError(`invalid config key ${key ?? '(document)'}: ${issue.message}`, key);
  }
  const cfg = r.data;
  cfg.ita_api_url = normalizeItaUrl(cfg.ita_api_url);
  cfg.control_plane_url = cfg.control_plane_url.replace(/\/+$/, '');
  if (cfg.mode === 'agent' && cfg.attestation === 'tdx' && !cfg.intel_api_key) {
    throw new ConfigError(
      'missing config key intel_api_key (or env ITA_API_KEY): TDX attestation needs an Intel Trust Authority API key',
      'intel_api_key',
    );
  }
  if (cfg.mode === 'control-plane' && !cfg.control_plane_image) {
    throw new ConfigError(
      'missing config key control_plane_image: control-plane mode needs a pinned image (no :latest default)',
      'control_plane_image',
    );
  }
  if (cfg.retry_max_seconds < cfg.retry_initial_seconds) {
    throw new ConfigError(
      'invalid config key retry_max_seconds: must be >= retry_initial_seconds',
      'retry_max_seconds',
    );
  }
  return cfg;
}

// ---------- sources ----------

function jsonObject(text: string): Record<string, unknown> {
  const v = JSON.parse(text) as unknown;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
  return v as Record<string, unknown>;
}

/** The config carried on a kernel command line (the launcher's encoding, core/agent-config-encoding.ts), or null. */
export { configFromCmdline };

export interface ConfigSources {
  env: Record<string, string | undefined>;
  /** Overrides env EASYENCLAVE_CONFIG (the CLI's --config). */
  configPath?: string;
  etcPath?: string;
  cmdlinePath?: string;
  /** Candidate config-drive devices (default: env EASYENCLAVE_CONFIG_DRIVE, /dev/sr0, /dev/sr1, /dev/cdrom, /dev/cdrom0). */
  configDrives?: string[];
  /** Reads config.json from a drive; default: agent/core/config-drive.ts (ISO 9660, no mount). Null when it has none. */
  readDrive?: (device: string) => string | null;
  log?: AgentLogger;
}

export interface LoadedConfig {
  raw: Record<string, unknown>;
  /** Human description of where it came from (for the start-up log line). */
  source: string;
}

function regularFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Finds the raw config document (first hit wins). Never throws for a missing/unreadable source. */
export function loadRawConfig(s: ConfigSources): LoadedConfig {
  const warn = (m: string) => s.log?.warn(m);
  const files = [s.configPath ?? s.env.EASYENCLAVE_CONFIG, s.etcPath ?? '/etc/easyenclave/config.json'];
  for (const f of files) {
    if (!f || !regularFile(f)) continue;
    try {
      return { raw: jsonObject(readFileSync(f, 'utf8')), source: f };
    } catch (err) {
      warn(`ignoring config file ${f}: ${(err as Error).message}`);
    }
  }
  const drives = s.configDrives ?? [
    ...(s.env.EASYENCLAVE_CONFIG_DRIVE ? [s.env.EASYENCLAVE_CONFIG_DRIVE] : []),
    '/dev/sr0',
    '/dev/sr1',
    '/dev/cdrom',
    '/dev/cdrom0',
  ];
  const readDrive = s.readDrive ?? ((d: string) => readConfigDrive(d));
  for (const d of drives) {
    if (!existsSync(d)) continue;
    try {
      const text = readDrive(d);
      if (text !== null) return { raw: jsonObject(text), source: `config drive ${d}` };
    } catch (err) {
      warn(`ignoring config drive ${d}: ${(err as Error).message}`);
    }
  }
  const cmdlinePath = s.cmdlinePath ?? '/proc/cmdline';
  try {
    const fromCmdline = configFromCmdline(readFileSync(cmdlinePath, 'utf8'), warn);
    if (fromCmdline) return { raw: fromCmdline, source: `kernel cmdline (${cmdlinePath})` };
  } catch {
    // no cmdline (not Linux, or a test path that does not exist)
  }
  warn('no configuration found (EASYENCLAVE_CONFIG, /etc/easyenclave/config.json, config drive, kernel cmdline)');
  return { raw: {}, source: 'defaults' };
}

// ---------- identity ----------

/** Datacenter label of agent.md §2.5. */
export function resolveDatacenter(cfg: AgentConfig, env: Record<string, string | undefined> = {}): string {
  if (cfg.datacenter) return cfg.datacenter;
  const raw = (cfg.cloud_provider ?? '').trim().toLowerCase();
  const aliases: Record<string, string> = {
    google: 'gcp',
    gcp: 'gcp',
    azure: 'azure',
    az: 'azure',
    baremetal: 'baremetal',
    'bare-metal': 'baremetal',
    onprem: 'baremetal',
    'on-prem': 'baremetal',
    'self-hosted': 'baremetal',
  };
  const provider = aliases[raw] ?? raw;
  const az = (cfg.availability_zone ?? cfg.zone ?? '').trim().toLowerCase();
  const region = (cfg.region ?? '').trim().toLowerCase();
  if (provider && az) return `${provider}:${az}`;
  if (provider && region) return `${provider}:${region}`;
  if (provider === 'baremetal') return 'baremetal:default';
  const fallback = env.EASYENCLAVE_DEFAULT_DATACENTER?.trim().toLowerCase();
  return fallback || 'baremetal:default';
}

/**
 * vm_name of agent.md §2.6: config/env → /etc/hostname → `<data_dir>/vm_name` → a generated
 * `tdx-agent-<8 hex>` written to `<data_dir>/vm_name` so a restart keeps its identity.
 */
export function resolveVmName(cfg: AgentConfig, opts: { hostnamePath?: string } = {}): string {
  if (cfg.vm_name) return cfg.vm_name;
  const read = (p: string) => {
    try {
      return readFileSync(p, 'utf8').trim();
    } catch {
      return '';
    }
  };
  const host = read(opts.hostnamePath ?? '/etc/hostname');
  if (host) return host;
  const file = join(cfg.data_dir, 'vm_name');
  const saved = read(file);
  if (saved) return saved;
  const name = `tdx-agent-${randomUUID().replace(/-/g, '').slice(0, 8)}`;
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, name + '\n', { mode: 0o600 });
  } catch {
    // not persisted: identity lasts for this process only
  }
  return name;
}
