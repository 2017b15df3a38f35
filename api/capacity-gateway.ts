/**
 * Temporal calls of the capacity routes (part of WorkflowGateway, api/temporal.ts), typed by the workflows they
 * start (type-only imports). The one place capacity failures become HTTP statuses.
 */
import {
  WorkflowFailedError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { OrderView } from '../core/capacity';
import { HttpError, notFound } from './http/errors';
import { isWorkflowClosed } from '../core/temporal/workflow-closed';
import {
  capacityDispatchWorkflowId,
  capacityPurchaseWorkflowId,
  claimOrderUpdate,
  launchOrderWorkflowId,
  reportOrderUpdate,
  type ClaimInput,
  type DispatchInput,
  type DispatchResponse,
  type PurchaseInput,
  type PurchaseResult,
  type ReportInput,
} from '../workflows/contracts/capacity';
import { CapacityFailure } from '../workflows/contracts/failures';
import type { capacityDispatch } from '../workflows/capacity-dispatch';
import type { capacityPurchase } from '../workflows/capacity-purchase';

export interface CapacityGateway {
  dispatch(input: DispatchInput, requestId: string): Promise<DispatchResponse>;
  purchase(input: PurchaseInput): Promise<PurchaseResult>;
  /** The claimed order, or null when this order was not claimable (raced, closed, other fulfiller). */
  claim(orderId: string, input: ClaimInput): Promise<OrderView | null>;
  report(orderId: string, input: ReportInput): Promise<OrderView>;
}

const typeOf = (err: unknown): string | undefined => {
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
};

/** Maps a launch-order Update failure to HTTP: rejected/closed/unavailable are answers, anything else is a 500. */
function orderError(err: unknown, closedDetail: string): HttpError | null {
  // The order's workflow has closed (fulfilled by its agent, failed): the route already knows the row exists.
  if (isWorkflowClosed(err)) return new HttpError(409, closedDetail);
  if (err instanceof WorkflowUpdateFailedError) {
    const t = typeOf(err);
    const msg = (err.cause as Error | undefined)?.message ?? err.message;
    // Another launcher's order (or one launchers do not fulfil): typed by the validator, answered as not found.
    if (t === CapacityFailure.OrderNotFound) return notFound('Capacity launch order not found');
    // Closed or not in a state that takes the call (typed or a plain validator rejection): a conflict.
    return new HttpError(409, msg);
  }
  if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) return null;
  return null;
}

export function createCapacityGateway(client: Client, taskQueue: string): CapacityGateway {
  return {
    dispatch: (input, requestId) =>
      client.workflow.execute<typeof capacityDispatch>('capacityDispatch', {
        taskQueue,
        workflowId: capacityDispatchWorkflowId(requestId),
        args: [input],
        workflowExecutionTimeout: '2 minutes',
      }),

    async purchase(input) {
      try {
        // A retried request (same Idempotency-Key → same request id) re-joins the execution: charged once.
        return await client.workflow.execute<typeof capacityPurchase>('capacityPurchase', {
          taskQueue,
          workflowId: capacityPurchaseWorkflowId(input.accountId, input.requestId),
          args: [input],
          workflowIdConflictPolicy: 'USE_EXISTING',
          workflowExecutionTimeout: '2 minutes',
        });
      } catch (err) {
        if (err instanceof WorkflowFailedError)
          throw new HttpError(500, `Capacity purchase failed: ${err.cause?.message}`);
        throw err;
      }
    },

    async claim(orderId, input) {
      try {
        return await client.workflow.getHandle(launchOrderWorkflowId(orderId)).executeUpdate(claimOrderUpdate, {
          args: [input],
        });
      } catch (err) {
        if (orderError(err, '') !== null) return null;
        throw err;
      }
    },

    async report(orderId, input) {
      try {
        return await client.workflow.getHandle(launchOrderWorkflowId(orderId)).executeUpdate(reportOrderUpdate, {
          args: [input],
        });
      } catch (err) {
        const mapped = orderError(err, `Capacity launch order ${orderId} is closed; it takes no further updates`);
        if (mapped) throw mapped;
        throw err;
      }
    },
  };
}
