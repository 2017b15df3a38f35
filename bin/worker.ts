/**
 * Production worker process (run N replicas): all workflows and activities on the task
 * queue, plus idempotent creation of the Schedules.
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { readFile } from 'node:fs/promises';
import { dataConverterFor } from '../core/temporal/codec';
import { activityDepsOf, openRuntime } from './lib/runtime';
import { installSdkRuntime } from './lib/sdk-logger';
import { ensureSchedules } from './lib/schedules';
import { createWorker, workerSizing } from './lib/worker';
import { cachedWorkflowBundle } from './lib/workflow-bundle-cache';
import { describeTemporalConnection, temporalConnectionOptions } from './lib/temporal-connection';
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { Metrics } from '../core/metrics';

/** GET /metrics on its own port, behind `Bearer <METRICS_TOKEN>` when one is set (bind it to a private address). */
async function serveMetrics(metrics: Metrics, port: number, token: string | null): Promise<Server> {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  const server = createServer((req, res) => {
    const given = /^bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim() ?? '';
    if (token !== null && !timingSafeEqual(digest(given), digest(token))) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"detail":"Invalid metrics token"}');
      return;
    }
    if (req.url !== '/metrics') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"detail":"Not Found"}');
      return;
    }
    void metrics.registry
      .metrics()
      .then((text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text));
  });
  await new Promise<void>((resolve) => server.listen(port, process.env.METRICS_HOST ?? '127.0.0.1', resolve));
  return server;
}

async function main(): Promise<void> {
  const runtime = await openRuntime({ migrate: false });
  const { config, logger } = runtime;
  installSdkRuntime(logger, { sdkMetricsAddress: config.temporal.sdkMetricsAddress });
  const temporal = temporalConnectionOptions(config.temporal);
  const connection = await NativeConnection.connect(temporal);
  // A bundle prebuilt by `npm run build:workflows`, else the bundle cache (built in a child process on a miss): webpack
  // never runs in the worker process, whose RSS it would keep ~150 MB higher (docs/performance.md, Memory).
  const bundlePath = process.env.WORKFLOW_BUNDLE_PATH;
  const log = (m: string) => logger.info(m);
  const worker = await createWorker({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    activityDeps: activityDepsOf(runtime),
    tracing: runtime.tracing,
    options: workerSizing(config.temporal.worker),
    workflowBundle: bundlePath
      ? { code: await readFile(bundlePath, 'utf8') }
      : { code: (await cachedWorkflowBundle({ tracing: runtime.tracing !== undefined, log })).code },
  });
  const clientConnection = await Connection.connect(temporal);
  await ensureSchedules(
    new Client({
      connection: clientConnection,
      namespace: config.temporal.namespace,
      dataConverter: dataConverterFor(runtime.sealingKey),
    }),
    config.temporal.taskQueue,
    logger,
  );
  await clientConnection.close();
  logger.info(`worker polling ${config.temporal.taskQueue} on ${describeTemporalConnection(temporal)}`);
  if (config.temporal.sdkMetricsAddress) {
    logger.info(`Temporal SDK metrics on http://${config.temporal.sdkMetricsAddress}/metrics`);
  }
  // The worker's own metrics (workflow starts/failures, billing totals, sweep duration) when METRICS_PORT is set.
  const metricsServer = process.env.METRICS_PORT
    ? await serveMetrics(runtime.metrics, Number(process.env.METRICS_PORT), config.observability.metricsToken)
    : undefined;
  const stop = () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await worker.run();
  metricsServer?.close();
  await connection.close();
  await runtime.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`easyenclave worker failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
