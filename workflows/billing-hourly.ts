import {
  defineSearchAttributeKey,
  SearchAttributeType,
  WorkflowExecutionAlreadyStartedError,
} from '@temporalio/common';
import { ParentClosePolicy, startChild, WorkflowIdReusePolicy, workflowInfo } from '@temporalio/workflow';
import { hourLabel } from '../core/billing';
import type { BillingHourlyInput, BillingHourlyResult } from './contracts/billing';
import { billingRun } from './billing-run';

/** Set by the Schedule on every workflow it starts (a scheduled action cannot pass its own time as an argument). */
const SCHEDULED_START_TIME = defineSearchAttributeKey('TemporalScheduledStartTime', SearchAttributeType.DATETIME);

/**
 * Started by the `billing-hourly` Schedule. Its own id is `<schedule workflowId>-<timestamp>`, so it is only the
 * thin door to the business id: it floors the scheduled time to the UTC hour and starts `billing-run:<hour>` as a
 * child with REJECT_DUPLICATE. A second start for the same hour (a manual trigger, a catch-up) finds the id taken
 * and reports "already billed" instead of billing again; the run itself would charge nothing new anyway (ledger keys).
 */
export async function billingHourly(input: BillingHourlyInput = {}): Promise<BillingHourlyResult> {
  const info = workflowInfo();
  const scheduled = info.typedSearchAttributes.get(SCHEDULED_START_TIME) ?? info.startTime;
  const hour = hourLabel(scheduled);
  const runWorkflowId = `${input.runIdPrefix ?? 'billing-run'}:${hour}`;
  try {
    const child = await startChild(billingRun, {
      workflowId: runWorkflowId,
      args: [{ hour }],
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      // The run outlives this thin parent if the parent is terminated or times out.
      parentClosePolicy: ParentClosePolicy.ABANDON,
    });
    return { hour, runWorkflowId, started: true, result: await child.result() };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { hour, runWorkflowId, started: false };
    throw err;
  }
}
