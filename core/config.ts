/**
 * Process configuration that is not a DB-overridable setting: ports, paths, the database
 * and Temporal endpoints, deployment identity. Read once from the environment by bin/.
 */
import { parseIntStrict } from './settings/parse';

export interface RuntimeConfig {
  api: { host: string; port: number; bodyLimitBytes: number };
  dataDir: string;
  database: { url?: string; filename?: string; sqliteCacheKib?: number };
  temporal: {
    /** host:port of an existing Temporal frontend; unset → `start` runs the dev server. */
    address?: string;
    namespace: string;
    taskQueue: string;
    devServer: {
      ip: string;
      port: number;
      uiPort: number;
      dbFilename: string;
      /** First delay before `start` restarts a dev server that died (doubles per consecutive failure). */
      restartDelayMs: number;
    };
    /** Deadline of the API's short Temporal calls (workflow starts, signals): past it the API answers 503. */
    callDeadlineMs: number;
    /**
     * TLS to the Temporal frontend (a self-hosted cluster or Temporal Cloud); null → plaintext. The env names are the
     * Temporal CLI's (`TEMPORAL_TLS*`). Paths are read by bin/lib/temporal-connection.ts.
     */
    tls: TemporalTlsConfig | null;
    /** TEMPORAL_API_KEY: Temporal Cloud API key (a bearer token on every call; implies TLS). Never logged. */
    apiKey: string | null;
    /** TEMPORAL_SDK_METRICS_ADDRESS (`host:port`): the worker's Temporal SDK Prometheus endpoint; null → off. */
    sdkMetricsAddress: string | null;
    /**
     * Worker sizing (`npm start`, `npm run worker`). The SDK derives its default workflow cache from the V8 heap
     * limit (~2,300 workflows on a 24 GiB machine), so it is set here instead: bounded memory whatever the host.
     */
    worker: {
      /** TEMPORAL_MAX_CACHED_WORKFLOWS: workflows kept in the sticky cache (0 disables it). */
      maxCachedWorkflows: number;
      /** TEMPORAL_MAX_CONCURRENT_ACTIVITIES: activity tasks run at once. */
      maxConcurrentActivities: number;
      /**
       * TEMPORAL_MAX_CONCURRENT_WORKFLOW_TASKS: workflow tasks in flight at once. A registration holds its slot
       * while its local activities run, and an eager start needs a free one, so this is sized to the requests in
       * flight (the SDK's 40 made two thirds of `bench:register`'s 64-in-flight starts fall back to the queue).
       */
      maxConcurrentWorkflowTasks: number;
    };
  };
  environment: string;
  production: boolean;
  bootId: string | null;
  gitSha: string | null;
  admin: { passwordHash?: string; password?: string; githubLogins: string[] };
  gcp: { projectId: string; serviceAccountKey: string };
  observability: {
    /** METRICS_TOKEN: a bearer token a Prometheus scraper may use on GET /metrics (admin sessions always may). */
    metricsToken: string | null;
    /** OTEL_EXPORTER_OTLP_ENDPOINT: OTLP/HTTP base URL; unset → no tracing. */
    otlpEndpoint: string | null;
    /** OTEL_EXPORTER_OTLP_HEADERS (`k=v,k2=v2`, e.g. a collector API key). */
    otlpHeaders: string | null;
    /** OTEL_SERVICE_NAME; default easyenclave. */
    serviceName: string;
    /** LOG_FORMAT: `json` (pino, one object a line) or `text`; default json in production, text otherwise. */
    logFormat: 'json' | 'text';
  };
  trustedMrtdEnv: {
    TRUSTED_AGENT_MRTDS?: string;
    TRUSTED_PROXY_MRTDS?: string;
    SYSTEM_AGENT_MRTD?: string;
    SYSTEM_PROXY_MRTD?: string;
  };
  /** The RTMR baselines the attestation policy enforces (core/attestation/policy.ts parseRtmrProfiles), for display. */
  trustedRtmrEnv: {
    TRUSTED_AGENT_RTMRS?: string;
    TRUSTED_PROXY_RTMRS?: string;
    TRUSTED_AGENT_RTMRS_BY_SIZE?: string;
    TRUSTED_PROXY_RTMRS_BY_SIZE?: string;
  };
}

export interface TemporalTlsConfig {
  /** TEMPORAL_TLS_CLIENT_CERT_PATH / TEMPORAL_TLS_CLIENT_KEY_PATH: the mTLS client certificate and key (PEM). */
  clientCertPath: string | null;
  clientKeyPath: string | null;
  /** TEMPORAL_TLS_SERVER_CA_CERT_PATH: CA of the server's certificate (PEM); null → the system roots. */
  serverCaCertPath: string | null;
  /** TEMPORAL_TLS_SERVER_NAME: the name the server's certificate is checked against (SNI) instead of the host. */
  serverName: string | null;
}

const str = (v: string | undefined) => (v ?? '').trim();
const orNull = (v: string | undefined) => (str(v) === '' ? null : str(v));

export function loadConfig(env: NodeJS.ProcessEnv = process.env): RuntimeConfig {
  const dataDir = str(env.EE_DATA_DIR) || 'data';
  const environment = (str(env.EASYENCLAVE_ENV) || str(env.ENVIRONMENT)).toLowerCase();
  const databaseUrl = str(env.DATABASE_URL);
  return {
    api: {
      host: str(env.API_HOST) || '0.0.0.0',
      port: parseIntStrict(env.PORT ?? env.API_PORT ?? '', 8080),
      bodyLimitBytes: parseIntStrict(env.API_BODY_LIMIT_BYTES ?? '', 5 * 1024 * 1024),
    },
    dataDir,
    database: /^postgres(ql)?:\/\//.test(databaseUrl)
      ? { url: databaseUrl }
      : {
          filename: str(env.EASYENCLAVE_DB_PATH) || `${dataDir}/easyenclave.db`,
          // Unset or not an integer: core/db/connection.ts's default (2048 KiB).
          ...(parseIntStrict(env.SQLITE_CACHE_KIB ?? '', 0) > 0
            ? { sqliteCacheKib: parseIntStrict(env.SQLITE_CACHE_KIB ?? '', 0) }
            : {}),
        },
    temporal: {
      address: orNull(env.TEMPORAL_ADDRESS) ?? undefined,
      namespace: str(env.TEMPORAL_NAMESPACE) || 'default',
      taskQueue: str(env.TEMPORAL_TASK_QUEUE) || 'easyenclave',
      devServer: {
        ip: str(env.TEMPORAL_DEV_IP) || '127.0.0.1',
        port: parseIntStrict(env.TEMPORAL_DEV_PORT ?? '', 7233),
        uiPort: parseIntStrict(env.TEMPORAL_UI_PORT ?? '', 8233),
        dbFilename: str(env.TEMPORAL_DB_FILE) || `${dataDir}/temporal.db`,
        restartDelayMs: parseIntStrict(env.TEMPORAL_DEV_RESTART_DELAY_MS ?? '', 1000),
      },
      callDeadlineMs: parseIntStrict(env.TEMPORAL_CALL_DEADLINE_MS ?? '', 2000),
      tls: temporalTls(env),
      apiKey: orNull(env.TEMPORAL_API_KEY),
      sdkMetricsAddress: orNull(env.TEMPORAL_SDK_METRICS_ADDRESS),
      worker: {
        maxCachedWorkflows: parseIntStrict(env.TEMPORAL_MAX_CACHED_WORKFLOWS ?? '', 500),
        maxConcurrentActivities: parseIntStrict(env.TEMPORAL_MAX_CONCURRENT_ACTIVITIES ?? '', 100),
        maxConcurrentWorkflowTasks: parseIntStrict(env.TEMPORAL_MAX_CONCURRENT_WORKFLOW_TASKS ?? '', 128),
      },
    },
    environment,
    production: environment === 'prod' || environment === 'production',
    bootId: orNull(env.EASYENCLAVE_BOOT_ID),
    gitSha: orNull(env.EASYENCLAVE_GIT_SHA),
    admin: {
      passwordHash: orNull(env.ADMIN_PASSWORD_HASH) ?? undefined,
      password: env.ADMIN_PASSWORD ? env.ADMIN_PASSWORD : undefined,
      githubLogins: str(env.ADMIN_GITHUB_LOGINS)
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    },
    gcp: {
      projectId: str(env.GCP_PROJECT_ID),
      serviceAccountKey: str(env.GCP_SERVICE_ACCOUNT_KEY),
    },
    observability: {
      metricsToken: orNull(env.METRICS_TOKEN),
      otlpEndpoint: orNull(env.OTEL_EXPORTER_OTLP_ENDPOINT),
      otlpHeaders: orNull(env.OTEL_EXPORTER_OTLP_HEADERS),
      serviceName: str(env.OTEL_SERVICE_NAME) || 'easyenclave',
      logFormat:
        str(env.LOG_FORMAT).toLowerCase() === 'json' ||
        (str(env.LOG_FORMAT) === '' && (environment === 'prod' || environment === 'production'))
          ? 'json'
          : 'text',
    },
    trustedMrtdEnv: {
      TRUSTED_AGENT_MRTDS: env.TRUSTED_AGENT_MRTDS,
      TRUSTED_PROXY_MRTDS: env.TRUSTED_PROXY_MRTDS,
      SYSTEM_AGENT_MRTD: env.SYSTEM_AGENT_MRTD,
      SYSTEM_PROXY_MRTD: env.SYSTEM_PROXY_MRTD,
    },
    trustedRtmrEnv: {
      TRUSTED_AGENT_RTMRS: env.TRUSTED_AGENT_RTMRS,
      TRUSTED_PROXY_RTMRS: env.TRUSTED_PROXY_RTMRS,
      TRUSTED_AGENT_RTMRS_BY_SIZE: env.TRUSTED_AGENT_RTMRS_BY_SIZE,
      TRUSTED_PROXY_RTMRS_BY_SIZE: env.TRUSTED_PROXY_RTMRS_BY_SIZE,
    },
  };
}

/**
 * TLS is on when TEMPORAL_TLS is true, or — unless TEMPORAL_TLS is false — when any TLS file, the server name or an
 * API key is given (Temporal Cloud takes API keys over TLS only).
 */
function temporalTls(env: NodeJS.ProcessEnv): TemporalTlsConfig | null {
  const tls: TemporalTlsConfig = {
    clientCertPath: orNull(env.TEMPORAL_TLS_CLIENT_CERT_PATH),
    clientKeyPath: orNull(env.TEMPORAL_TLS_CLIENT_KEY_PATH),
    serverCaCertPath: orNull(env.TEMPORAL_TLS_SERVER_CA_CERT_PATH),
    serverName: orNull(env.TEMPORAL_TLS_SERVER_NAME),
  };
  const flag = str(env.TEMPORAL_TLS).toLowerCase();
  if (['0', 'false', 'no', 'off'].includes(flag)) return null;
  const implied = Object.values(tls).some((v) => v !== null) || orNull(env.TEMPORAL_API_KEY) !== null;
  return ['1', 'true', 'yes', 'on'].includes(flag) || implied ? tls : null;
}
