/**
 * Temporal calls of the admin billing routes: operator re-runs of an hour, by workflow name and business id
 * (`billing-run:<hour>:rerun-<n>`), typed by the workflow (type-only import). Part of WorkflowGateway (api/temporal.ts).
 */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { conflict } from './http/errors';
import { billingRerunWorkflowId, type BillingRunResult } from '../workflows/contracts/billing';
import type { billingRun } from '../workflows/index';

export interface BillingGateway {
  /** Starts the next free `billing-run:<hour>:rerun-<n>` and waits for its totals. */
  rerunHour(hour: string): Promise<{ workflowId: string; result: BillingRunResult }>;
}

/** Re-runs of one hour kept apart by n; far more than any operator needs. */
const MAX_RERUNS = 1000;

export function createBillingGateway(client: Client, taskQueue: string): BillingGateway {
  return {
    async rerunHour(hour) {
      // n = the first id not taken yet: REJECT_DUPLICATE makes a closed re-run's id count as taken, and two
      // operators racing for the same n both get a run (the loser takes n+1). Charging twice is impossible either
      // way: every charge is keyed `charge:<deployment>:<hour>:<role>`.
      for (let n = 1; n <= MAX_RERUNS; n++) {
        const workflowId = billingRerunWorkflowId(hour, n);
        try {
          const handle = await client.workflow.start<typeof billingRun>('billingRun', {
            taskQueue,
            workflowId,
            args: [{ hour }],
            workflowIdReusePolicy: 'REJECT_DUPLICATE',
            workflowExecutionTimeout: '1 hour',
          });
          return { workflowId, result: await handle.result() };
        } catch (err) {
          if (err instanceof WorkflowExecutionAlreadyStartedError) continue;
          throw err;
        }
      }
      throw conflict(`Hour ${hour} has been re-run ${MAX_RERUNS} times already`);
    },
  };
}
