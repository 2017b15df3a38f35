/**
 * Production API process (run N replicas): Koa against TEMPORAL_ADDRESS and DATABASE_URL.
 * Runs no worker and no migrations (`npm run migrate` does those once per release).
 */
import { Client, Connection } from '@temporalio/client';
import { dataConverterFor } from '../core/temporal/codec';
import { apiConnectionOptions } from '../api/temporal-availability';
import { buildAppDeps, listen } from './lib/api-server';
import { clientInterceptorsOf, openRuntime } from './lib/runtime';
import { describeTemporalConnection, temporalConnectionOptions } from './lib/temporal-connection';

async function main(): Promise<void> {
  const runtime = await openRuntime({ migrate: false });
  const temporal = temporalConnectionOptions(runtime.config.temporal);
  const connection = await Connection.connect({
    ...temporal,
    ...apiConnectionOptions(runtime.config.temporal.callDeadlineMs),
  });
  const client = new Client({
    connection,
    namespace: runtime.config.temporal.namespace,
    dataConverter: dataConverterFor(runtime.sealingKey),
    ...clientInterceptorsOf(runtime),
  });
  const deps = await buildAppDeps(runtime, client, (m) => process.stdout.write(`${m}\n`));
  const api = await listen(deps, runtime.config.api.host, runtime.config.api.port);
  runtime.logger.info(`API listening on ${api.url} (Temporal ${describeTemporalConnection(temporal)})`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await api.close();
  await connection.close();
  await runtime.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`easyenclave api failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
