/**
 * `npm start`: the embedded all-in-one control plane. Starts the Temporal dev server
 * (unless TEMPORAL_ADDRESS points at one) and supervises it (restarted on the same state
 * file when it dies; this process exits non-zero when it cannot be brought back), migrates
 * the database, runs the worker and the API in this process, prints the URLs, and on
 * Ctrl-C stops all of it. The dev server dies with this process, however it dies
 * (bin/lib/temporal-guard.mjs).
 *
 * `npm start` runs this file bundled (dist/server/start.mjs, scripts/build-server.mjs) under plain node, not under
 * tsx: tsx's module-loader thread alone is ~40 MB of RSS (docs/performance.md, Memory). `npm run start:dev` runs it
 * from source.
 */
import { Client, Connection } from '@temporalio/client';
import { readFile } from 'node:fs/promises';
import { NativeConnection } from '@temporalio/worker';
import { dataConverterFor } from '../core/temporal/codec';
import { ensureTool } from '../scripts/tools.mjs';
import { buildAppDeps, listen } from './lib/api-server';
import { activityDepsOf, clientInterceptorsOf, logSettings, openRuntime } from './lib/runtime';
import { ensureSchedules } from './lib/schedules';
import { apiConnectionOptions } from '../api/temporal-availability';
import { superviseDevServer, type SupervisedDevServer } from './lib/dev-server-supervisor';
import { startTemporalDevServer } from './lib/temporal-dev-server';
import { createWorker, workerSizing } from './lib/worker';
import { installSdkRuntime } from './lib/sdk-logger';
import { temporalConnectionOptions } from './lib/temporal-connection';
import { cachedWorkflowBundle } from './lib/workflow-bundle-cache';

const say = (m: string) => process.stdout.write(`${m}\n`);

async function main(): Promise<number> {
  const runtime = await openRuntime();
  const { config, logger } = runtime;
  installSdkRuntime(logger, { sdkMetricsAddress: config.temporal.sdkMetricsAddress });
  const cleanups: (() => Promise<void>)[] = [() => runtime.close()];
  const stopAll = async () => {
    for (const c of cleanups.reverse()) await c().catch((e) => logger.error(`shutdown step failed: ${String(e)}`));
  };
  // The workflow bundle comes from WORKFLOW_BUNDLE_PATH, or from the bundle cache (built in a child process while
  // the dev server starts): webpack never runs in this serving process (docs/performance.md, Memory).
  const bundlePath = process.env.WORKFLOW_BUNDLE_PATH;
  const workflowBundle: Promise<{ code: string }> = bundlePath
    ? readFile(bundlePath, 'utf8').then((code) => ({ code }))
    : cachedWorkflowBundle({ tracing: runtime.tracing !== undefined, log: say });
  workflowBundle.catch(() => {}); // awaited below; a failure surfaces there
  try {
    let dev: SupervisedDevServer | undefined;
    let address = config.temporal.address;
    if (!address) {
      const cliPath = await ensureTool('temporal', { log: (...a) => logger.info(a.join(' ')) });
      const { restartDelayMs, ...devServer } = config.temporal.devServer;
      dev = await superviseDevServer({
        start: () => startTemporalDevServer({ cliPath, ...devServer, namespace: config.temporal.namespace, logger }),
        logger,
        restartDelayMs,
        say,
      });
      cleanups.push(() => dev!.stop());
      address = dev.address;
    }
    await logSettings(runtime);

    // An existing frontend (TEMPORAL_ADDRESS) gets the configured TLS and API key; the embedded dev server is local
    // plaintext.
    const temporal = dev ? { address } : temporalConnectionOptions(config.temporal);
    const connection = await Connection.connect({
      ...temporal,
      ...apiConnectionOptions(config.temporal.callDeadlineMs),
    });
    cleanups.push(() => connection.close());
    const client = new Client({
      connection,
      namespace: config.temporal.namespace,
      dataConverter: dataConverterFor(runtime.sealingKey),
      ...clientInterceptorsOf(runtime),
    });

    const workerConnection = await NativeConnection.connect(temporal);
    cleanups.push(() => workerConnection.close());
    say('Starting the worker…');
    const worker = await createWorker({
      connection: workerConnection,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
      activityDeps: activityDepsOf(runtime),
      tracing: runtime.tracing,
      options: workerSizing(config.temporal.worker),
      workflowBundle: { code: (await workflowBundle).code },
    });
    const workerRun = worker.run();
    cleanups.push(async () => {
      // A worker that already stopped (it failed) is not shut down again; its run is awaited either way, so the
      // connection below is closed only once no worker holds it.
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await workerRun.catch(() => {});
    });
    await ensureSchedules(client, config.temporal.taskQueue, logger);

    // Registrations start eagerly through the worker's own connection (api/agent-gateway.ts EagerStart).
    const eagerClient = new Client({
      connection: workerConnection,
      namespace: config.temporal.namespace,
      dataConverter: dataConverterFor(runtime.sealingKey),
      ...clientInterceptorsOf(runtime),
    });
    const deps = await buildAppDeps(runtime, client, say, eagerClient);
    const api = await listen(deps, config.api.host, config.api.port);
    cleanups.push(() => api.close());

    say('');
    say(`easyenclave control plane is up`);
    say(`  API           ${api.url}   (health: ${api.url}/health, docs: ${api.url}/docs)`);
    say(`  Temporal      ${address}${dev ? `   (Web UI: ${dev.uiUrl})` : ''}`);
    say(`  Database      ${config.database.url ? 'PostgreSQL' : config.database.filename}`);
    say('Press Ctrl-C to stop.');

    let exitCode = 0;
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
      workerRun.catch((err) => {
        logger.error(`worker stopped: ${String(err)}`);
        exitCode = 1;
        resolve();
      });
      void dev?.failed.then((err) => {
        process.stderr.write(`easyenclave: ${err.message}; stopping\n`);
        exitCode = 1;
        resolve();
      });
    });
    say('Stopping…');
    const force = setTimeout(() => {
      process.stderr.write('shutdown took longer than 10 s; exiting\n');
      process.exit(1);
    }, 10_000);
    force.unref();
    await stopAll();
    say('Stopped.');
    return exitCode;
  } catch (err) {
    await stopAll();
    throw err;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`easyenclave failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
