/**
 * The API's only door into Temporal: start or execute workflows by their registered name with business ids, typed
 * by the workflows' own signatures (type-only imports); at run time only contracts are imported.
 */
import type { Client } from '@temporalio/client';
import { createAgentGateway, type AgentGateway, type EagerStart } from './agent-gateway';
import { createCatalogGateway, type CatalogGateway } from './catalog-gateway';
import { createCapacityGateway, type CapacityGateway } from './capacity-gateway';
import { createCloudGateway, type CloudGateway } from './cloud-gateway';
import { createBillingGateway, type BillingGateway } from './billing-gateway';
import { workflowRunner } from './run-workflow';
import { temporalReachable } from './temporal-availability';
import { createDeploymentGateway, type DeploymentGateway, type DeploymentGatewayOptions } from './deployment-gateway';
import {
  changeSettingWorkflowId,
  changeTrustedMrtdWorkflowId,
  type ChangeSettingInput,
  type ChangeSettingResult,
  type ChangeTrustedMrtdInput,
  type ChangeTrustedMrtdResult,
} from '../workflows/contracts/admin';
import {
  paymentIntentWorkflowId,
  type CreatePaymentIntentInput,
  type CreatePaymentIntentResult,
} from '../workflows/contracts/payments';

export interface WorkflowGateway {
  deployments: DeploymentGateway;
  agents: AgentGateway;
  catalog: CatalogGateway;
  capacity: CapacityGateway;
  cloud: CloudGateway;
  billing: BillingGateway;
  changeSetting(input: ChangeSettingInput, requestId: string): Promise<ChangeSettingResult>;
  changeTrustedMrtd(input: ChangeTrustedMrtdInput, requestId: string): Promise<ChangeTrustedMrtdResult>;
  createPaymentIntent(input: CreatePaymentIntentInput): Promise<CreatePaymentIntentResult>;
  /** Does the Temporal frontend answer within `timeoutMs`? For /health and /ready. */
  temporalReachable(timeoutMs: number): Promise<boolean>;
}

export interface WorkflowGatewayOptions extends DeploymentGatewayOptions {
  /** A client on the NativeConnection of this process's worker: registrations start eagerly (api/agent-gateway.ts). */
  eagerStart?: EagerStart;
}

export function createWorkflowGateway(
  client: Client,
  taskQueue: string,
  opts: WorkflowGatewayOptions = {},
): WorkflowGateway {
  const run = workflowRunner(client, taskQueue);
  return {
    deployments: createDeploymentGateway(client, taskQueue, opts),
    agents: createAgentGateway(client, taskQueue, opts.eagerStart),
    catalog: createCatalogGateway(client, taskQueue),
    capacity: createCapacityGateway(client, taskQueue),
    cloud: createCloudGateway(client, taskQueue),
    billing: createBillingGateway(client, taskQueue),
    changeSetting: (input, requestId) => run('changeSetting', changeSettingWorkflowId(input.key, requestId), input),
    changeTrustedMrtd: (input, requestId) =>
      run('changeTrustedMrtd', changeTrustedMrtdWorkflowId(input.mrtd, requestId), input),
    // A retried request (same Idempotency-Key) joins the running execution, or runs again with the same
    // Stripe idempotency key and so gets the same PaymentIntent back.
    createPaymentIntent: (input) =>
      run('createPaymentIntent', paymentIntentWorkflowId(input.accountId, input.requestKey), input, {
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowExecutionTimeout: '2 minutes',
      }),
    temporalReachable: (timeoutMs) => temporalReachable(client, timeoutMs),
  };
}
