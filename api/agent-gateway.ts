/**
 * Temporal calls of the agent routes, by workflow name and business id; only contracts are imported. Part of
 * WorkflowGateway (api/temporal.ts).
 */
import { WithStartWorkflowOperation, WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { createHash } from 'node:crypto';
import { workflowRunner } from './run-workflow';
import type { agentEntity, registerAgent } from '../workflows/index';
import {
  agentWorkflowId,
  deleteAgentWorkflowId,
  deployedUpdate,
  heartbeatUpdate,
  registerAgentWorkflowId,
  resetAgentWorkflowId,
  statusUpdate,
  type AgentRef,
  type ControlResult,
  type DeleteAgentResult,
  type DeployedInput,
  type HeartbeatInput,
  type RegisterAgentInput,
  type RegisterAgentResult,
  type ResetAgentResult,
  type StatusInput,
} from '../workflows/contracts/agents';

export type AgentControl =
  | { kind: 'heartbeat'; input: HeartbeatInput }
  | { kind: 'status'; input: StatusInput }
  | { kind: 'deployed'; input: DeployedInput };

export interface AgentGateway {
  /**
   * Runs (or re-joins) the registration attempt identified by vm_name + a digest of the whole request. `rejoined`:
   * this call found the attempt already started by an earlier identical request, so it must not hand out the
   * credentials a second time.
   */
  register(input: RegisterAgentInput): Promise<{ result: RegisterAgentResult; rejoined: boolean }>;
  /** Update-with-start on `agent:<id>`. */
  control(agentId: string, call: AgentControl): Promise<ControlResult>;
  remove(ref: AgentRef, requestId: string): Promise<DeleteAgentResult>;
  reset(agentId: string, requestId: string): Promise<ResetAgentResult>;
}

/**
 * The attempt key: a digest of the normalized request (the ITA token, and with it the bound nonce, included). An
 * identical request re-joins the same execution; any difference — another token, node size or datacenter — is a new
 * attempt (and a reused nonce inside another token is then rejected as consumed).
 */
export function registrationAttempt(input: RegisterAgentInput): string {
  const base = [input.vmName, input.nodeSize, input.datacenter, input.version, input.attestation];
  // The bootstrap token's HMAC joins the key only when one was presented, so existing attempt ids are unchanged.
  const extra = [
    ...(input.bootstrapTokenHash ? [input.bootstrapTokenHash] : []),
    // Likewise the HPKE key (issue #17): a request that swaps the key under the same token is another attempt.
    ...(input.encryptionPublicKey ? [{ encryption_public_key: input.encryptionPublicKey }] : []),
  ];
  const key = JSON.stringify([...base, ...extra]);
  return createHash('sha256').update(key).digest('hex').slice(0, 32);
}

/**
 * Eager workflow start for registrations (issue #19): `client` is on the NativeConnection of a worker that polls the
 * task queue in this process (`npm start`), so the server hands the new workflow's first task back in the start's
 * answer and the local worker runs it at once — no task-queue match, no poll round trip. Only such a client can
 * request it (the SDK refuses on a plain Connection); API-only replicas have none and start normally. When the
 * worker has no free slot, or the server does not enable eager start, the start silently takes the normal path.
 */
export interface EagerStart {
  client: Client;
  /** Deadline of the start call (the API's `callDeadlineMs`; the plain connection's interceptor sets it there). */
  deadlineMs: number;
}

export function createAgentGateway(client: Client, taskQueue: string, eager?: EagerStart): AgentGateway {
  const run = workflowRunner(client, taskQueue);
  const starter = eager?.client ?? client;
  const start = (input: RegisterAgentInput, workflowId: string) => {
    const started = () =>
      starter.workflow.start<typeof registerAgent>('registerAgent', {
        taskQueue,
        workflowId,
        args: [input],
        // A repeated identical request must not run a second registration, even after the first one closed.
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        workflowExecutionTimeout: '10 minutes',
        ...(eager ? { requestEagerStart: true } : {}),
      });
    return eager ? starter.connection.withDeadline(Date.now() + eager.deadlineMs, started) : started();
  };
  return {
    async register(input) {
      const workflowId = registerAgentWorkflowId(input.vmName, registrationAttempt(input));
      try {
        const handle = await start(input, workflowId);
        return { result: await handle.result(), rejoined: false };
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        const result = (await starter.workflow.getHandle(workflowId).result()) as RegisterAgentResult;
        return { result, rejoined: true };
      }
    },

    async control(agentId, call) {
      const startWorkflowOperation = new WithStartWorkflowOperation<typeof agentEntity>('agentEntity', {
        taskQueue,
        workflowId: agentWorkflowId(agentId),
        args: [{ agentId }],
        workflowIdConflictPolicy: 'USE_EXISTING',
      });
      const opts = { startWorkflowOperation };
      switch (call.kind) {
        case 'heartbeat':
          return client.workflow.executeUpdateWithStart(heartbeatUpdate, { ...opts, args: [call.input] });
        case 'status':
          return client.workflow.executeUpdateWithStart(statusUpdate, { ...opts, args: [call.input] });
        case 'deployed':
          return client.workflow.executeUpdateWithStart(deployedUpdate, { ...opts, args: [call.input] });
      }
    },

    remove: (ref, requestId) => run('deleteAgent', deleteAgentWorkflowId(ref.agentId, requestId), ref),

    reset: (agentId, requestId) => run('resetAgent', resetAgentWorkflowId(agentId, requestId), { agentId }),
  };
}
