import type { Client, WorkflowStartOptions } from '@temporalio/client';
import type * as workflows from '../workflows/index';

/** Every workflow the worker registers, by the name it is registered under (type-only: no workflow code loads). */
export type Workflows = typeof workflows;
export type WorkflowName = keyof Workflows;
export type WorkflowInput<N extends WorkflowName> = Parameters<Workflows[N]>[0];
export type WorkflowResult<N extends WorkflowName> = Awaited<ReturnType<Workflows[N]>>;

type Extra = Partial<Pick<WorkflowStartOptions, 'workflowExecutionTimeout' | 'workflowIdConflictPolicy'>>;

/**
 * Executes a workflow by its registered name on the API's task queue with one input object and waits for its
 * result: the shape of every request-scoped workflow the gateways run (admin changes, agent delete/reset, undeploy,
 * payment intents). Typed by the workflow itself: a renamed workflow or a changed input type fails to compile.
 */
export function workflowRunner(client: Client, taskQueue: string) {
  return <N extends WorkflowName>(
    workflowType: N,
    workflowId: string,
    input: WorkflowInput<N>,
    extra: Extra = {},
  ): Promise<WorkflowResult<N>> =>
    // The generic options type does not resolve for an open N; the signature above carries the checking.
    client.workflow.execute(workflowType, {
      taskQueue,
      workflowId,
      args: [input],
      workflowExecutionTimeout: '5 minutes',
      ...extra,
    }) as Promise<WorkflowResult<N>>;
}
