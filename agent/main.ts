/**
 * ee-agent: the in-VM agent. `npm run agent -- --help`. Exit codes: 0 stopped by a signal (or measure mode done),
 * 1 unexpected error, 2 invalid configuration, 3 gave up (registration_max_attempts reached), 64 bad command line.
 */
import { Command, CommanderError, Option } from 'commander';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { AbortedError } from './core/backoff';
import { AGENT_VERSION, GaveUpError, runAgent } from './core/agent-mode';
import { createAttester, insecureLocalQuoteSource, tsmQuoteSource } from './core/attestation';
import { ConfigError, loadRawConfig, parseConfig, resolveDatacenter, resolveVmName } from './core/config';
import { createCpClient } from './core/cp-client';
import { createLogger, errorText } from './core/log';
import { measure, runControlPlane } from './core/other-modes';
import { createStateStore } from './core/state';
import { startAgentServer } from './http/server';

export const EXIT = { ok: 0, internal: 1, config: 2, gaveUp: 3, usage: 64 } as const;

async function main(argv: string[]): Promise<number> {
  const program = new Command('ee-agent')
    .description('easyenclave in-VM agent: attests, registers with the control plane and runs the workload')
    .version(AGENT_VERSION)
    .option(
      '-c, --config <path>',
      'config JSON file (default: env EASYENCLAVE_CONFIG, /etc/easyenclave/config.json, config drive, kernel cmdline)',
    )
    .addOption(new Option('--mode <mode>', 'override config key mode').choices(['agent', 'control-plane', 'measure']))
    .option('--local', 'development without TDX: insecure-local attestation, state under ./data, API on 127.0.0.1')
    .option('--cp-url <url>', 'override config key control_plane_url')
    .option('--data-dir <dir>', 'override config key data_dir')
    .option('--port <port>', 'override config key admin_port', (v) => Number(v))
    .option('--debug', 'debug logging')
    .exitOverride();
  try {
    program.parse(argv);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    throw err;
  }
  const o = program.opts<{
    config?: string;
    mode?: string;
    local?: boolean;
    cpUrl?: string;
    dataDir?: string;
    port?: number;
    debug?: boolean;
  }>();
  const log = createLogger({ debug: o.debug });
  const env = process.env;

  let cfg;
  try {
    const loaded = loadRawConfig({ env, configPath: o.config, log });
    const raw: Record<string, unknown> = { ...loaded.raw };
    if (o.local) {
      Object.assign(raw, {
        attestation: 'insecure-local',
        data_dir: raw.data_dir ?? resolve('data/ee-agent-local'),
        workload_dir: raw.workload_dir ?? resolve('data/ee-agent-local/workload'),
        listen_host: raw.listen_host ?? '127.0.0.1',
        datacenter: raw.datacenter ?? 'baremetal:local',
      });
    }
    if (o.mode) raw.mode = o.mode;
    if (o.cpUrl) raw.control_plane_url = o.cpUrl;
    if (o.dataDir) raw.data_dir = o.dataDir;
    if (o.port !== undefined) raw.admin_port = o.port;
    cfg = parseConfig(raw, env);
    log.info(`ee-agent ${AGENT_VERSION} starting in ${cfg.mode} mode; config from ${loaded.source}`);
  } catch (err) {
    if (err instanceof ConfigError) {
      log.error(`configuration error: ${err.message}`);
      return EXIT.config;
    }
    throw err;
  }
  log.redact(cfg.intel_api_key);
  log.redact(cfg.bootstrap_token);

  const controller = new AbortController();
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      log.info(`${sig} received`);
      controller.abort();
    });
  }
  const source = cfg.attestation === 'insecure-local' ? insecureLocalQuoteSource() : tsmQuoteSource(cfg.tsm_report_dir);

  try {
    if (cfg.mode === 'measure') {
      await measure(source, (line) => process.stdout.write(line + '\n'));
      const off = spawnSync('systemctl', ['poweroff'], { stdio: 'inherit' });
      if (off.status !== 0)
        log.error(`systemctl poweroff failed (${off.error ? errorText(off.error) : `exit ${off.status}`})`);
      return EXIT.ok;
    }
    if (cfg.mode === 'control-plane') {
      await runControlPlane({ cfg, log, env, signal: controller.signal });
      return EXIT.ok;
    }
    await runAgent({
      cfg,
      log,
      vmName: resolveVmName(cfg),
      datacenter: resolveDatacenter(cfg, env),
      attester: createAttester({ source, itaUrl: cfg.ita_api_url, itaApiKey: cfg.intel_api_key }),
      cp: createCpClient({ baseUrl: cfg.control_plane_url }),
      store: createStateStore(cfg.data_dir),
      serve: startAgentServer,
      env,
      signal: controller.signal,
    });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof AbortedError) return EXIT.ok;
    if (err instanceof GaveUpError) {
      log.error(err.message);
      return EXIT.gaveUp;
    }
    log.error(`fatal: ${errorText(err)}${err instanceof Error && err.stack ? `\n${log.mask(err.stack)}` : ''}`);
    return EXIT.internal;
  }
}

main(process.argv).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`fatal: ${String(err)}\n`);
    process.exit(EXIT.internal);
  },
);
