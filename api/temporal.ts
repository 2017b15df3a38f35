/**
 * The API's only door into Temporal: start or execute workflows by name with business
 * ids. No workflow code is imported here, only contracts.
 */
import type { Client } from '@temporalio/client';
import { createAgentGateway, type AgentGateway } from './agent-gateway';
import { createDeploymentGateway, type DeploymentGateway, type DeploymentGatewayOptions } from './deployment-gateway';
import {
  CHANGE_SETTING_WORKFLOW,
  CHANGE_TRUSTED_MRTD_WORKFLOW,
  changeSettingWorkflowId,
  changeTrustedMrtdWorkflowId,
  type ChangeSettingInput,
  type ChangeSettingResult,
  type ChangeTrustedMrtdInput,
  type ChangeTrustedMrtdResult,
} from '../workflows/contracts/admin';
import {
  CREATE_PAYMENT_INTENT_WORKFLOW,
  paymentIntentWorkflowId,
  type CreatePaymentIntentInput,
  type CreatePaymentIntentResult,
} from '../workflows/contracts/payments';

export interface WorkflowGateway {
  deployments: DeploymentGateway;
  agents: AgentGateway;
  changeSetting(input: ChangeSettingInput, requestId: string): Promise<ChangeSettingResult>;
  changeTrustedMrtd(input: ChangeTrustedMrtdInput, requestId: string): Promise<ChangeTrustedMrtdResult>;
  createPaymentIntent(input: CreatePaymentIntentInput): Promise<CreatePaymentIntentResult>;
}

export function createWorkflowGateway(
  client: Client,
  taskQueue: string,
  opts: DeploymentGatewayOptions = {},
): WorkflowGateway {
  return {
    deployments: createDeploymentGateway(client, taskQueue, opts),
    agents: createAgentGateway(client, taskQueue),
    changeSetting: (input, requestId) =>
      client.workflow.execute(CHANGE_SETTING_WORKFLOW, {
        taskQueue,
        workflowId: changeSettingWorkflowId(input.key, requestId),
        args: [input],
        workflowExecutionTimeout: '5 minutes',
      }),
    changeTrustedMrtd: (input, requestId) =>
      client.workflow.execute(CHANGE_TRUSTED_MRTD_WORKFLOW, {
        taskQueue,
        workflowId: changeTrustedMrtdWorkflowId(input.mrtd, requestId),
        args: [input],
        workflowExecutionTimeout: '5 minutes',
      }),
    // A retried request (same Idempotency-Key) joins the running execution, or runs again with the same
    // Stripe idempotency key and so gets the same PaymentIntent back.
    createPaymentIntent: (input) =>
      client.workflow.execute(CREATE_PAYMENT_INTENT_WORKFLOW, {
        taskQueue,
        workflowId: paymentIntentWorkflowId(input.accountId, input.requestKey),
        workflowIdConflictPolicy: 'USE_EXISTING',
        args: [input],
        workflowExecutionTimeout: '2 minutes',
      }),
  };
}
