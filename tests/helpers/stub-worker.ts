/**
 * Workflow tests with mocked activities: a Worker on a private task queue of the shared dev server (global setup),
 * running the prebuilt workflow bundle against the given stub activities. Orchestration is tested here without a
 * database or fakes; the stack (tests/helpers/stack.ts) is for the whole path.
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { inject } from 'vitest';

export interface StubWorker {
  client: Client;
  taskQueue: string;
  close(): Promise<void>;
}

export async function startStubWorker(activities: Record<string, (...args: any[]) => unknown>): Promise<StubWorker> {
  const address = inject('temporalAddress');
  const taskQueue = `stub-${randomUUID()}`;
  const nativeConnection = await NativeConnection.connect({ address });
  const worker = await Worker.create({
    connection: nativeConnection,
    taskQueue,
    workflowBundle: { code: readFileSync(inject('workflowBundlePath'), 'utf8') },
    activities,
    shutdownGraceTime: '1 second',
  });
  const running = worker.run();
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  return {
    client,
    taskQueue,
    async close() {
      worker.shutdown();
      await running;
      await nativeConnection.close();
      await connection.close();
    },
  };
}
