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
import { createWorker } from './lib/worker';

async function main(): Promise<void> {
  const runtime = await openRuntime({ migrate: false });
  const { config, logger } = runtime;
  installSdkRuntime(logger);
  const address = config.temporal.address ?? `${config.temporal.devServer.ip}:${config.temporal.devServer.port}`;
  const connection = await NativeConnection.connect({ address });
  // A bundle prebuilt by `npm run build:workflows` avoids bundling at every start.
  const bundlePath = process.env.WORKFLOW_BUNDLE_PATH;
  const worker = await createWorker({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    activityDeps: activityDepsOf(runtime),
    ...(bundlePath ? { workflowBundle: { code: await readFile(bundlePath, 'utf8') } } : {}),
  });
  const clientConnection = await Connection.connect({ address });
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
  logger.info(`worker polling ${config.temporal.taskQueue} on ${address}`);
  const stop = () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await worker.run();
  await connection.close();
  await runtime.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`easyenclave worker failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
