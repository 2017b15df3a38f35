/**
 * Measure mode (agent.md §12) and control-plane bootstrap mode (§11, with the preset tunnel token).
 */
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { parseTdxQuote } from '../../core/attestation/tdx-quote';
import { AbortedError, backoffDelay, sleep } from './backoff';
import type { QuoteSource } from './attestation';
import type { AgentConfig } from './config';
import { errorText, type AgentLogger } from './log';
import { runCommand, supervise, type Supervised } from './proc';

/** One quote over 64 zero bytes → `EASYENCLAVE_MEASUREMENTS=<json>` or `EASYENCLAVE_MEASURE_ERROR=<text>` on stdout. */
export async function measure(source: QuoteSource, out: (line: string) => void): Promise<boolean> {
  try {
    const q = parseTdxQuote(await source.quote(new Uint8Array(64)));
    out(`EASYENCLAVE_MEASUREMENTS=${JSON.stringify({ mrtd: q.mrtd, ...q.rtmrs })}`);
    return true;
  } catch (err) {
    out(`EASYENCLAVE_MEASURE_ERROR=${errorText(err).replace(/[\r\n]+/g, ' ')}`);
    return false;
  }
}

/** Config keys passed to the CP container as upper-cased env vars (§11.3), when set. */
const PASS_THROUGH = [
  'cloudflare_api_token',
  'cloudflare_account_id',
  'cloudflare_zone_id',
  'easyenclave_domain',
  'easyenclave_env',
  'easyenclave_network_name',
  'easyenclave_boot_id',
  'easyenclave_git_sha',
  'easyenclave_cp_url',
  'ee_agent_ita_api_key',
  'stripe_secret_key',
  'stripe_webhook_secret',
  'github_oauth_client_id',
  'github_oauth_client_secret',
  'github_oauth_redirect_uri',
  'admin_github_logins',
  'gcp_project_id',
  'gcp_workload_identity_provider',
  'gcp_service_account',
  'gcp_service_account_key',
  'ee_gcp_image_project',
  'ee_gcp_image_family',
  'ee_gcp_image_name',
  'azure_subscription_id',
  'azure_tenant_id',
  'azure_client_id',
  'azure_client_secret',
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
];

/** The child environment of the CP container: ours + PORT + the pass-through keys (objects as JSON). */
export function controlPlaneEnv(cfg: AgentConfig, base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, PORT: String(cfg.port) };
  const raw = cfg as Record<string, unknown>;
  for (const k of PASS_THROUGH) {
    const v = raw[k];
    if (v === undefined || v === null || v === '' || v === false) continue;
    env[k.toUpperCase()] = typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
  return env;
}

export async function runControlPlane(d: {
  cfg: AgentConfig;
  log: AgentLogger;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
}): Promise<void> {
  const { cfg, log, signal } = d;
  const dir = join(cfg.data_dir, 'control-plane');
  const file = join(dir, 'docker-compose.yml');
  const retry = { initialMs: cfg.retry_initial_seconds * 1000, maxMs: cfg.retry_max_seconds * 1000 };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const env = controlPlaneEnv(cfg, d.env);
  const envNames = Object.keys(env).filter((k) => PASS_THROUGH.includes(k.toLowerCase()) || k === 'PORT');
  const service = {
    image: cfg.control_plane_image,
    ports: [`${cfg.port}:8080`],
    restart: 'unless-stopped',
    // Names only: compose takes each value from the environment it is started with.
    environment: envNames,
  };
  if (!existsSync(file)) writeFileSync(file, stringify({ services: { easyenclave: service } }), { mode: 0o600 });
  const compose = (args: string[]) =>
    runCommand(cfg.docker_path, ['compose', '-f', file, ...args], {
      cwd: dir,
      env,
      timeoutMs: cfg.compose_timeout_seconds * 1000,
      signal,
    });
  for (let attempt = 1; ; attempt++) {
    try {
      await compose(['pull']);
      await compose(['up', '-d']);
      break;
    } catch (err) {
      if (signal.aborted) throw new AbortedError('stopped');
      const delay = backoffDelay(retry, attempt);
      log.error(`control plane start attempt ${attempt} failed: ${errorText(err)}; retrying in ${delay} ms`);
      await sleep(delay, signal);
    }
  }
  log.info(`control plane container ${cfg.control_plane_image} is up on port ${cfg.port}`);
  let tunnel: Supervised | null = null;
  if (cfg.tunnel_token) {
    log.redact(cfg.tunnel_token);
    tunnel = supervise({
      name: 'cloudflared',
      cmd: cfg.cloudflared_path,
      args: ['tunnel', '--no-autoupdate', 'run'],
      env: { ...d.env, TUNNEL_TOKEN: cfg.tunnel_token },
      log,
      backoff: retry,
    });
  } else {
    log.warn('no tunnel_token in the config: the control plane is not published through Cloudflare');
  }
  try {
    while (!signal.aborted) {
      await sleep(30_000, signal);
      try {
        const ps = await compose(['ps', '-q']);
        if (!ps.stdout.trim()) {
          log.warn('control plane container is gone; starting it again (same environment)');
          await compose(['up', '-d']);
        }
      } catch (err) {
        log.warn(`control plane check failed: ${errorText(err)}`);
      }
    }
  } catch (err) {
    if (!(err instanceof AbortedError)) throw err;
  } finally {
    await tunnel?.stop();
  }
}
