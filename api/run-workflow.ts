import type { Client, WorkflowStartOptions } from '@temporalio/client';

type Extra = Partial<Pick<WorkflowStartOptions, 'workflowExecutionTimeout' | 'workflowIdConflictPolicy'>>;

/**
 * Executes a workflow by name on the API's task queue with one input object and waits for its result: the shape of
 * every request-scoped workflow the gateways run (admin changes, agent delete/reset, undeploy, payment intents).
 */
export function workflowRunner(client: Client, taskQueue: string) {
  return <R>(workflowType: string, workflowId: string, input: unknown, extra: Extra = {}): Promise<R> =>
    client.workflow.execute(workflowType, {
      taskQueue,
      workflowId,
      args: [input],
      workflowExecutionTimeout: '5 minutes',
      ...extra,
    }) as Promise<R>;
}
