/**
 * Temporal calls of the deploy/undeploy routes and of the agent `deployed` callback, by workflow name and
 * business id (`deployment:<id>`), typed by the workflows (type-only); at run time only contracts are imported. Part of WorkflowGateway (api/temporal.ts).
 */
import { WithStartWorkflowOperation, WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { deployment } from '../workflows/index';
import { isWorkflowClosed } from '../core/temporal/workflow-closed';
import {
  deployedSignal,
  deploymentWorkflowId,
  placementUpdate,
  undeployAgentWorkflowId,
  undeployUpdate,
  type DeployedCallback,
  type DeploymentInput,
  type PlacementAnswer,
  type UndeployAgentInput,
  type UndeployAgentResult,
  type UndeployAnswer,
  type UndeployRequest,
} from '../workflows/contracts/deployments';
import { workflowRunner } from './run-workflow';

export interface DeploymentGateway {
  /**
   * One update-with-start on `deployment:<id>`: starts the workflow (which inserts the row) and returns its placement
   * answer; null when the workflow started but did not answer within the wait (e.g. no worker is polling): the
   * deployment carries on durably once one is. Throws when the start itself failed — then nothing was written.
   */
  startDeployment(input: DeploymentInput): Promise<PlacementAnswer | null>;
  /** Signals the agent's callback; false when no deployment workflow is running for that id. */
  signalDeployed(deploymentId: string, callback: DeployedCallback): Promise<boolean>;
  /** Undeploy through the running deployment workflow; null when none is running. */
  undeployDeployment(deploymentId: string, request: UndeployRequest): Promise<UndeployAnswer | null>;
  /** Undeploy an agent whose workload has no deployment workflow. */
  undeployAgent(input: UndeployAgentInput, requestId: string): Promise<UndeployAgentResult>;
}

const notRunning = isWorkflowClosed;
const yes = () => true;
const no = () => false;

export interface DeploymentGatewayOptions {
  /** How long a deploy request waits for the placement answer before answering 202 pending. Default 15 s. */
  placementWaitMs?: number;
}

export function createDeploymentGateway(
  client: Client,
  taskQueue: string,
  opts: DeploymentGatewayOptions = {},
): DeploymentGateway {
  const placementWaitMs = opts.placementWaitMs ?? 15_000;
  const run = workflowRunner(client, taskQueue);
  return {
    async startDeployment(input) {
      // The early-return pattern (samples-typescript `early-return/`): start and placement update in one call, so a
      // start that fails leaves nothing behind and a started deployment always has its workflow.
      const startWorkflowOperation = new WithStartWorkflowOperation<typeof deployment>('deployment', {
        taskQueue,
        workflowId: deploymentWorkflowId(input.deploymentId),
        args: [input],
        workflowIdConflictPolicy: 'FAIL',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
      });
      try {
        return await client.withDeadline(Date.now() + placementWaitMs, () =>
          client.workflow.executeUpdateWithStart(placementUpdate, { startWorkflowOperation }),
        );
      } catch (err) {
        // A deployment id that already has a workflow (client-chosen ids, issue #17) is a conflict, not "pending".
        if (err instanceof WorkflowExecutionAlreadyStartedError) throw err;
        // The update did not complete within the wait. When the start went through (the server answered it, or —
        // the server holds the first answer until the update is accepted, i.e. a worker polls — the execution
        // exists), the deployment runs on durably and the caller gets "pending". Otherwise the start failed and
        // nothing was written.
        if (await startWorkflowOperation.workflowHandle().then(yes, no)) return null;
        const exists = await client.workflow
          .getHandle(deploymentWorkflowId(input.deploymentId))
          .describe()
          .then(yes, no);
        if (exists) return null;
        throw err;
      }
    },
    async signalDeployed(deploymentId, callback) {
      try {
        await client.workflow.getHandle(deploymentWorkflowId(deploymentId)).signal(deployedSignal, callback);
        return true;
      } catch (err) {
        if (notRunning(err)) return false;
        throw err;
      }
    },
    async undeployDeployment(deploymentId, request) {
      try {
        return await client.workflow.getHandle(deploymentWorkflowId(deploymentId)).executeUpdate(undeployUpdate, {
          args: [request],
        });
      } catch (err) {
        if (notRunning(err)) return null;
        throw err;
      }
    },
    undeployAgent: (input, requestId) => run('undeployAgent', undeployAgentWorkflowId(input.agentId, requestId), input),
  };
}
