import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ParentClosePolicy, startChild } from '@temporalio/workflow';
import type { NewOrderRef } from '../contracts/capacity';
import { launchOrderWorkflowId } from '../contracts/capacity';
import type { launchOrder } from '../launch-order';

/**
 * One `launch-order:<id>` workflow per new order row. Abandoned by its starter (a reconcile pass or a request
 * ends long before its order does); an id already running (a retried start) is fine.
 */
export async function startLaunchOrders(orders: NewOrderRef[]): Promise<void> {
  for (const o of orders) {
    try {
      await startChild<typeof launchOrder>('launchOrder', {
        workflowId: launchOrderWorkflowId(o.orderId),
        args: [o],
        parentClosePolicy: ParentClosePolicy.ABANDON,
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  }
}
