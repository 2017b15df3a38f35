/**
 * Temporal calls of the deploy/undeploy routes and of the agent `deployed` callback, by workflow name and
 * business id (`deployment:<id>`); only contracts are imported. Part of WorkflowGateway (api/temporal.ts).
 */
import { type Client } from '@temporalio/client';
import { isWorkflowClosed } from '../core/temporal/workflow-closed';
import {
  DEPLOYMENT_WORKFLOW,
  UNDEPLOY_AGENT_WORKFLOW,
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
   * Starts `deployment:<id>` and waits (bounded) for its placement answer; null when the workflow is started but
   * did not answer in time (e.g. no worker is polling): the deployment carries on durably once one is.
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
      const handle = await client.workflow.start(DEPLOYMENT_WORKFLOW, {
        taskQueue,
        workflowId: deploymentWorkflowId(input.deploymentId),
        args: [input],
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
      });
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), placementWaitMs);
      });
      try {
        // A failed or slow update says nothing about the deployment, which runs on: answer "pending".
        return await Promise.race([handle.executeUpdate(placementUpdate).catch(() => null), late]);
      } finally {
        clearTimeout(timer);
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
    undeployAgent: (input, requestId) =>
      run(UNDEPLOY_AGENT_WORKFLOW, undeployAgentWorkflowId(input.agentId, requestId), input),
  };
}
