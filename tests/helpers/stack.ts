/**
 * Boots the real control plane for a test file: the shared Temporal dev server, a worker
 * on a private task queue (prebuilt bundle), a fresh migrated database and the Koa API
 * on a free loopback port. Outside SaaS are the tests/fakes servers.
 */
import { Client, Connection, type WorkflowClientInterceptor } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { inject } from 'vitest';
import type { AppDeps } from '../../api/deps';
import type { DeploymentGatewayOptions } from '../../api/deployment-gateway';
import { createWorkflowGateway } from '../../api/temporal';
import { randomKeyRing, type KeyRing } from '../../core/auth/keyring';
import { apiConnectionOptions } from '../../api/temporal-availability';
import { hashPassword } from '../../core/auth/secrets';
import { VerifiedTokenCache } from '../../core/auth/token-cache';
import { loadConfig } from '../../core/config';
import { silentLogger } from '../../core/logger';
import { SettingsService } from '../../core/settings/service';
import { dataConverterFor } from '../../core/temporal/codec';
import { listen } from '../../bin/lib/api-server';
import { bundleWorkflows, createWorker } from '../../bin/lib/worker';
import { quietBundlerLogger } from './global-setup';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';
import type { Metrics } from '../../core/metrics';
import type { Tracing } from '../../core/tracing';
import type { Logger } from '../../core/logger';
import { createTestDb, type TestEngine } from './databases';

export const ADMIN_PASSWORD = 'correct horse battery staple';

export interface Stack {
  url: string;
  db: Knex;
  client: Client;
  deps: AppDeps;
  taskQueue: string;
  env: Record<string, string>;
  /** Stop the worker (simulates a crash/restart when followed by startWorker). */
  stopWorker(): Promise<void>;
  startWorker(): Promise<void>;
  close(): Promise<void>;
}

export interface StackOptions {
  engine?: TestEngine;
  env?: Record<string, string>;
  /** Override deps (e.g. adminPasswordHash: null). */
  deps?: Partial<AppDeps>;
  /** Workflow gateway options (e.g. a short placement wait). */
  gateway?: DeploymentGatewayOptions;
  /** Prometheus metrics shared by this stack's API and worker (GET /metrics). */
  metrics?: Metrics;
  /** OpenTelemetry tracing: API spans, client start spans, and a bundle with the workflow tracing interceptors. */
  tracing?: Tracing;
  /** The logger of API and worker (default: silent). */
  logger?: Logger;
  /** Sealing keys of the install (default: one fresh random key). */
  keys?: KeyRing;
  /**
   * Registrations start eagerly through a client on the worker's NativeConnection, as `npm start` does
   * (api/agent-gateway.ts EagerStart). Default: the plain connection, as an API-only replica. `onStarted` learns
   * whether each start was eagerly started (the server handed the first workflow task back with the answer).
   */
  eagerStart?: boolean | { onStarted(eagerlyStarted: boolean): void };
  /** The control plane's own configfs-tsm directory (a tests/fakes/tsm-kernel.ts root), for X-CP-Attestation. */
  tsmRoot?: string;
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const address = inject('temporalAddress');
  const bundle = opts.tracing
    ? await bundleWorkflows({ tracing: true, logger: quietBundlerLogger })
    : { code: readFileSync(inject('workflowBundlePath'), 'utf8') };
  // Rate limits are off unless a test turns them on (tests/integration/api-rate-limits.test.ts): suites that
  // create many accounts or agents from 127.0.0.1 would otherwise trip the production defaults.
  const env = { EASYENCLAVE_DB_PATH: ':memory:', RATELIMIT_ENABLED: 'false', ...opts.env };
  const testDb = await createTestDb(opts.engine ?? 'sqlite');
  const logger = opts.logger ?? silentLogger();
  const settings = new SettingsService(testDb.db, { env });
  const sealingKey = opts.keys ?? randomKeyRing();
  const taskQueue = `test-${randomUUID()}`;
  const config = loadConfig({ ...env, TEMPORAL_TASK_QUEUE: taskQueue });

  const connection = await Connection.connect({ address, ...apiConnectionOptions(config.temporal.callDeadlineMs) });
  // The same data converter as bin/: the harness proves payloads reach the Temporal server encrypted.
  const client = new Client({
    connection,
    dataConverter: dataConverterFor(sealingKey),
    ...(opts.tracing
      ? { interceptors: { workflow: [new OpenTelemetryWorkflowClientInterceptor({ tracer: opts.tracing.tracer })] } }
      : {}),
  });
  const workerConnection = await NativeConnection.connect({ address });

  let running: { shutdown(): void; done: Promise<void> } | undefined;
  const startWorker = async () => {
    const worker = await createWorker({
      connection: workerConnection,
      namespace: 'default',
      taskQueue,
      workflowBundle: bundle,
      activityDeps: {
        db: testDb.db,
        settings,
        logger,
        sealingKey,
        onChange: () => settings.invalidate(),
        trustEnv: env,
        tsmRoot: opts.tsmRoot ?? join(tmpdir(), `no-tsm-${taskQueue}`),
        metrics: opts.metrics,
      },
      tracing: opts.tracing,
      options: { shutdownGraceTime: '1 second' },
    });
    running = { shutdown: () => worker.shutdown(), done: worker.run() };
  };
  const stopWorker = async () => {
    if (!running) return;
    running.shutdown();
    await running.done;
    running = undefined;
  };
  await startWorker();

  const deps: AppDeps = {
    db: testDb.db,
    settings,
    workflows: createWorkflowGateway(client, taskQueue, {
      ...opts.gateway,
      ...(opts.eagerStart
        ? {
            eagerStart: {
              client: new Client({
                connection: workerConnection,
                dataConverter: dataConverterFor(sealingKey),
                interceptors: { workflow: [startObserver(opts.eagerStart)] },
              }),
              deadlineMs: config.temporal.callDeadlineMs,
            },
          }
        : {}),
    }),
    logger,
    config,
    adminPasswordHash: await hashPassword(ADMIN_PASSWORD),
    credentialCache: new VerifiedTokenCache(),
    sealingKey,
    cpAttestation: async () => null,
    now: () => new Date(),
    metrics: opts.metrics,
    tracing: opts.tracing,
    ...opts.deps,
  };
  const api = await listen(deps, '127.0.0.1', 0);

  return {
    url: api.url,
    db: testDb.db,
    client,
    deps,
    taskQueue,
    env,
    stopWorker,
    startWorker,
    async close() {
      await api.close();
      await stopWorker();
      await workerConnection.close();
      await connection.close();
      await testDb.destroy();
    },
  };
}

/** A client interceptor that reports each start's `eagerlyStarted` to a test. */
function startObserver(eager: StackOptions['eagerStart']): WorkflowClientInterceptor {
  const onStarted = typeof eager === 'object' ? eager.onStarted : () => {};
  return {
    async startWithDetails(input, next) {
      const out = await next(input);
      onStarted(out.eagerlyStarted);
      return out;
    },
  };
}

export interface HttpResult<T = any> {
  status: number;
  body: T;
  headers: Headers;
  text: string;
}

/** A tiny JSON HTTP client for tests. */
export function http(baseUrl: string) {
  const call = async <T = any>(
    method: string,
    path: string,
    opts: { json?: unknown; raw?: string; token?: string; headers?: Record<string, string> } = {},
  ): Promise<HttpResult<T>> => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    let body: string | undefined;
    if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      headers['content-type'] = 'application/json';
    } else if (opts.raw !== undefined) {
      body = opts.raw;
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(`${baseUrl}${path}`, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.status, body: parsed as T, headers: res.headers, text };
  };
  return {
    get: <T = any>(p: string, o?: Parameters<typeof call>[2]) => call<T>('GET', p, o),
    post: <T = any>(p: string, o?: Parameters<typeof call>[2]) => call<T>('POST', p, o),
    put: <T = any>(p: string, o?: Parameters<typeof call>[2]) => call<T>('PUT', p, o),
    patch: <T = any>(p: string, o?: Parameters<typeof call>[2]) => call<T>('PATCH', p, o),
    delete: <T = any>(p: string, o?: Parameters<typeof call>[2]) => call<T>('DELETE', p, o),
  };
}

export async function adminLogin(baseUrl: string, password = ADMIN_PASSWORD): Promise<string> {
  const res = await http(baseUrl).post('/admin/login', { json: { password } });
  if (res.status !== 200) throw new Error(`admin login failed: ${res.status} ${res.text}`);
  return res.body.token as string;
}
