import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ParentClosePolicy, proxyActivities, startChild } from '@temporalio/workflow';
import type { MeasurementActivities } from '../activities/measurement';
import {
  measurementWorkflowId,
  type MeasurementSweepInput,
  type MeasurementSweepResult,
} from './contracts/measurement';
import { measureVersion } from './measure-version';

const db = proxyActivities<Pick<MeasurementActivities, 'listStalePendingVersions'>>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 5, initialInterval: '1 second' },
});

/**
 * Safety net for publishes whose `measure:` workflow never started (Temporal was down when the API answered, or
 * the version predates this control plane): every pending version older than the grace period gets its
 * measurement started under the same workflow id. A measurement still running is left alone (already started);
 * the children are abandoned so this sweep ends at once.
 */
export async function measurementSweep(input: MeasurementSweepInput = {}): Promise<MeasurementSweepResult> {
  const stale = await db.listStalePendingVersions({ olderThanSeconds: input.olderThanSeconds ?? 300, limit: 50 });
  let started = 0;
  let running = 0;
  for (const v of stale) {
    try {
      await startChild(measureVersion, {
        workflowId: measurementWorkflowId(v.appName, v.version, v.nodeSize),
        args: [{ versionId: v.versionId }],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        workflowExecutionTimeout: '30 minutes',
      });
      started += 1;
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      running += 1;
    }
  }
  return { found: stale.length, started, running };
}
