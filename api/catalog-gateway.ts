/**
 * Temporal calls of the catalog routes: start the `measure:<app>:<version>` workflow on publish and run the
 * `version-attest:` workflow for manual attests and measurer callbacks. Typed starts over type-only imports, so
 * no workflow code is loaded into the API. Part of WorkflowGateway (api/temporal.ts).
 */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { attestVersion } from '../workflows/attest-version';
import type { measureVersion } from '../workflows/measure-version';
import {
  attestVersionWorkflowId,
  measurementWorkflowId,
  type AttestVersionInput,
  type AttestVersionResult,
} from '../workflows/contracts/measurement';

export interface CatalogGateway {
  /** Starts the measurement of a freshly published (pending) version; returns the workflow id. */
  startMeasurement(v: { versionId: string; appName: string; version: string; nodeSize: string }): Promise<string>;
  attest(input: AttestVersionInput, requestId: string): Promise<AttestVersionResult>;
}

export function createCatalogGateway(client: Client, taskQueue: string): CatalogGateway {
  return {
    async startMeasurement(v) {
      const workflowId = measurementWorkflowId(v.appName, v.version, v.nodeSize);
      try {
        await client.workflow.start<typeof measureVersion>('measureVersion', {
          taskQueue,
          workflowId,
          args: [{ versionId: v.versionId }],
          // A version row is measured once; ALLOW_DUPLICATE only lets the sweep restart one left pending.
          workflowIdReusePolicy: 'ALLOW_DUPLICATE',
          workflowIdConflictPolicy: 'FAIL',
          workflowExecutionTimeout: '30 minutes',
        });
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
      return workflowId;
    },
    attest: (input, requestId) =>
      client.workflow.execute<typeof attestVersion>('attestVersion', {
        taskQueue,
        workflowId: attestVersionWorkflowId(input.versionId, requestId),
        args: [input],
        workflowExecutionTimeout: '2 minutes',
      }),
  };
}
