/**
 * The Temporal worker: every workflow of workflows/index.ts and every activity of
 * activities/index.ts on one task queue. Development loads workflow code from source;
 * production (and the test harness) may pass a prebuilt bundle.
 */
import { type NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { fileURLToPath } from 'node:url';
import { createActivities, type ActivityDeps } from '../../activities';
import { dataConverterFor } from '../../core/temporal/codec';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));

export interface WorkerSetup {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  activityDeps: ActivityDeps;
  /** Prebuilt bundle code (bundleWorkflowCode); default: bundle from source at start. */
  workflowBundle?: { code: string };
  options?: Partial<WorkerOptions>;
}

export async function createWorker(setup: WorkerSetup): Promise<Worker> {
  return Worker.create({
    connection: setup.connection,
    namespace: setup.namespace,
    taskQueue: setup.taskQueue,
    activities: createActivities(setup.activityDeps),
    // Every payload leaves the worker encrypted under the install's key (core/temporal/codec.ts).
    dataConverter: dataConverterFor(setup.activityDeps.sealingKey),
    ...(setup.workflowBundle ? { workflowBundle: setup.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    // In-flight activities get time to finish on Ctrl-C before they are cancelled.
    shutdownGraceTime: '5 seconds',
    ...setup.options,
  });
}
