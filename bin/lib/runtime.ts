/**
 * Shared start-up of every process: logger, database (+ migrations), settings, the
 * install's sealing keys (from outside the database, bin/lib/sealing-key.ts), the production auth policy.
 */
import type { Knex } from 'knex';
import type { ActivityDeps } from '../../activities';
import { githubOAuthConfigured } from '../../core/auth/login-policy';
import { loadConfig, type RuntimeConfig } from '../../core/config';
import { createDb } from '../../core/db/connection';
import { migrateLatest } from '../../core/db/migrate';
import { LogBuffer, Logger, pinoSink } from '../../core/logger';
import { createMetrics, type Metrics } from '../../core/metrics';
import { countAgentsByStatus } from '../../core/stores/agents';
import { createTracing, parseOtlpHeaders, type Tracing } from '../../core/tracing';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';
import type { ClientOptions } from '@temporalio/client';
import { settingBool } from '../../core/settings/read';
import { SettingsService, describeSettings } from '../../core/settings/service';
import { loadSealingKeys } from './sealing-key';
import type { KeyRing } from '../../core/auth/keyring';

export interface Runtime {
  config: RuntimeConfig;
  logger: Logger;
  db: Knex;
  settings: SettingsService;
  sealingKey: KeyRing;
  /** This process's Prometheus metrics (API /metrics; the worker's with METRICS_PORT). */
  metrics: Metrics;
  /** Set when OTEL_EXPORTER_OTLP_ENDPOINT is. */
  tracing?: Tracing;
  close(): Promise<void>;
}

export async function openRuntime(
  opts: { env?: NodeJS.ProcessEnv; migrate?: boolean; logger?: Logger } = {},
): Promise<Runtime> {
  const config = loadConfig(opts.env ?? process.env);
  const logger =
    opts.logger ??
    new Logger(config.observability.logFormat === 'json' ? new LogBuffer(2000, pinoSink()) : new LogBuffer());
  const db = createDb(config.database);
  const metrics = createMetrics({ agentsByStatus: () => countAgentsByStatus(db) });
  const o = config.observability;
  const tracing = o.otlpEndpoint
    ? createTracing({
        endpoint: o.otlpEndpoint,
        serviceName: o.serviceName,
        headers: parseOtlpHeaders(o.otlpHeaders ?? ''),
      })
    : undefined;
  try {
    if (opts.migrate !== false) {
      const ran = await migrateLatest(db);
      if (ran.length > 0) logger.info(`database migrated: ${ran.join(', ')}`);
    }
    const settings = new SettingsService(db, {
      env: opts.env ?? process.env,
      onLoadError: (err) => logger.error(`settings reload failed: ${String(err)}`),
    });
    await enforceProductionAuthPolicy(config, settings);
    const sealingKey = await loadSealingKeys({ config, env: opts.env ?? process.env, db, logger });
    return {
      config,
      logger,
      db,
      settings,
      sealingKey,
      metrics,
      tracing,
      close: async () => {
        await tracing?.shutdown();
        await db.destroy();
      },
    };
  } catch (err) {
    await tracing?.shutdown();
    await db.destroy();
    throw err;
  }
}

/** In production, refuse to start without GitHub OAuth unless explicitly allowed (settings.md §5). */
async function enforceProductionAuthPolicy(config: RuntimeConfig, settings: SettingsService): Promise<void> {
  if (!config.production) return;
  const required = await settingBool(settings, 'auth.require_github_oauth_in_production');
  if (required && !(await githubOAuthConfigured(settings))) {
    throw new Error(
      'Production mode requires GitHub OAuth: set GITHUB_OAUTH_CLIENT_ID and GITHUB_OAUTH_CLIENT_SECRET, ' +
        'or AUTH_REQUIRE_GITHUB_OAUTH_IN_PRODUCTION=false',
    );
  }
}

export async function logSettings(runtime: Runtime): Promise<void> {
  for (const line of await describeSettings(runtime.settings)) runtime.logger.debug(line);
}

/** The worker's activity dependencies, wired from a runtime. */
export function activityDepsOf(runtime: Runtime): ActivityDeps {
  return {
    db: runtime.db,
    settings: runtime.settings,
    logger: runtime.logger.child('worker'),
    sealingKey: runtime.sealingKey,
    onChange: () => runtime.settings.invalidate(),
    // Env trust baselines (TRUSTED_*_MRTDS, TRUSTED_*_RTMRS[_BY_SIZE]) are injected, never read by activities.
    trustEnv: process.env,
    metrics: runtime.metrics,
  };
}

/** Temporal client interceptors of a runtime: the OpenTelemetry start/signal spans when tracing is on. */
export function clientInterceptorsOf(runtime: Runtime): Pick<ClientOptions, 'interceptors'> {
  return runtime.tracing
    ? { interceptors: { workflow: [new OpenTelemetryWorkflowClientInterceptor({ tracer: runtime.tracing.tracer })] } }
    : {};
}
