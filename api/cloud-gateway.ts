/**
 * Temporal calls of the admin cloud routes (part of WorkflowGateway, api/temporal.ts): each request runs one short
 * workflow and answers its result; refusals the workflow returns become `{ detail }` with their status here.
 */
import type { Client } from '@temporalio/client';
import { httpErrorOf } from './failures';
import { HttpError } from './http/errors';
import {
  AGENT_CLEANUP_WORKFLOW,
  CLOUD_ADMIN_WORKFLOW,
  ORPHAN_CLEANUP_WORKFLOW,
  STALE_AGENTS_CLEANUP_WORKFLOW,
  agentCleanupWorkflowId,
  cloudAdminWorkflowId,
  orphanCleanupWorkflowId,
  staleAgentsCleanupWorkflowId,
  type AgentCleanupInput,
  type CloudAdminOp,
  type OrphanCleanupInput,
  type StaleAgentsCleanupInput,
} from '../workflows/contracts/cloud';
import type { agentCleanup } from '../workflows/agent-cleanup';
import type { orphanCleanup } from '../workflows/orphan-cleanup';
import type { staleAgentsCleanup } from '../workflows/stale-agents-cleanup';
import { workflowRunner } from './run-workflow';

type Result<F extends (...a: never[]) => Promise<unknown>> = Awaited<ReturnType<F>>;

export interface CloudGateway {
  /** The view, or throws the workflow's refusal as an HttpError. */
  admin(input: CloudAdminOp, requestId: string): Promise<Record<string, unknown>>;
  orphanCleanup(input: OrphanCleanupInput, requestId: string): Promise<Result<typeof orphanCleanup>>;
  agentCleanup(input: AgentCleanupInput, requestId: string): Promise<Result<typeof agentCleanup>>;
  staleAgentsCleanup(input: StaleAgentsCleanupInput, requestId: string): Promise<Result<typeof staleAgentsCleanup>>;
}

/**
 * A clean-up whose workflow failed (an outside call kept failing: Cloudflare, GCP, the provisioner) answers 502 with
 * the cause as its `{detail}` instead of a bare 500 whose reason only the worker log knew.
 */
async function explained<T>(prefix: string, call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    throw httpErrorOf(err, prefix);
  }
}

export function createCloudGateway(client: Client, taskQueue: string): CloudGateway {
  const run = workflowRunner(client, taskQueue);
  return {
    async admin(input, requestId) {
      const r = await run(CLOUD_ADMIN_WORKFLOW, cloudAdminWorkflowId(input.op, requestId), input, {
        workflowExecutionTimeout: '2 minutes',
      });
      if (!r.ok) throw new HttpError(r.status, r.detail);
      const { ok: _ok, ...view } = r;
      return view;
    },
    orphanCleanup: (input, requestId) =>
      explained('Orphan clean-up failed', run(ORPHAN_CLEANUP_WORKFLOW, orphanCleanupWorkflowId(requestId), input)),
    agentCleanup: (input, requestId) =>
      explained(
        'Agent clean-up failed',
        run(AGENT_CLEANUP_WORKFLOW, agentCleanupWorkflowId(input.agentId, requestId), input),
      ),
    staleAgentsCleanup: (input, requestId) =>
      explained(
        'Stale agent clean-up failed',
        run(STALE_AGENTS_CLEANUP_WORKFLOW, staleAgentsCleanupWorkflowId(requestId), input),
      ),
  };
}
