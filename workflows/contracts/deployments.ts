/**
 * Contract of the deployment workflow (`deployment:<deployment_id>`): one execution per deployment, from
 * reservation of an agent to the end of its life (failed or stopped). The compose lives in the `deployments` row;
 * the input carries ids only.
 */
import { defineSignal, defineUpdate } from '@temporalio/workflow';
import type { OwnerScope, PlacementRequest } from '../../core/placement';

export const deploymentWorkflowId = (deploymentId: string) => `deployment:${deploymentId}`;
export const undeployAgentWorkflowId = (agentId: string, requestId: string) => `undeploy:${agentId}:${requestId}`;

export interface DeploymentCandidate {
  agentId: string;
  /** Agent status the atomic reservation expects (`undeployed`, or `deployed` for an upgrade/fallback). */
  expectedStatus: string;
  expectedApp?: string | null;
}

/**
 * What the deploy request supplies for the row the workflow inserts as its first step (one writer per record). The
 * compose is staged by digest (`compose_blobs`), so the input stays small.
 */
export interface DeploymentRecordInput {
  composeSha256: string;
  config: Record<string, unknown>;
  accountId: string | null;
  appName: string | null;
  appVersion: string | null;
  slaClass: string;
  machineSize: string;
  cpuVcpus: number;
  memoryGb: number;
  gpuCount: number;
  /** ISO time the request was accepted. */
  createdAt: string;
  /** Verified repository_owner of an OIDC deployer; null for API keys. */
  githubOwner: string | null;
  /** HPKE envelope of the tenant's env, sealed to the agent by the client (ciphertext only; issue #17). */
  encryptedEnv?: { enc: string; ct: string } | null;
}

export interface DeploymentInput {
  deploymentId: string;
  /** The row to insert first; absent in runs started before the workflow owned its row (the API inserted it). */
  record?: DeploymentRecordInput;
  /** Eligible agents in preference order; the first one that can be claimed atomically wins. */
  candidates: DeploymentCandidate[];
  /** How long to wait for the agent's `deployed` callback (setting operational.deploy_callback_timeout_seconds). */
  callbackTimeoutSeconds: number;
  /**
   * The request's placement constraints and owner scope, kept for a failover (issue #20) to place again with the
   * same ones. Absent in runs started before it existed: a failover then uses any node size and location, and only
   * agents of the deployment's OIDC owner (or unowned ones for an API-key deploy).
   */
  placement?: DeploymentPlacement;
}

export interface DeploymentPlacement {
  request: PlacementRequest;
  owner: OwnerScope;
}

export type DeploymentOutcome = 'stopped' | 'failed';

export interface DeploymentResult {
  deploymentId: string;
  agentId: string | null;
  outcome: DeploymentOutcome;
  error?: string;
}

/** Answer of the `placement` update: where the deployment landed, once the reservation is decided. */
export type PlacementAnswer = { ok: true; agentId: string } | { ok: false; error: string };

/** Sent by the agent's `POST /api/v1/agents/{id}/deployed` (or a status `error` report). */
export interface DeployedCallback {
  agentId: string;
  ok: boolean;
  error?: string | null;
  serviceId?: string | null;
  /** Small attestation summary; stored in the deployment row by the activity. */
  attestation?: Record<string, unknown> | null;
}

export interface UndeployRequest {
  actor: string;
  reason?: string;
}

export interface UndeployAnswer {
  deploymentId: string;
  agentId: string | null;
  status: 'stopped' | 'already_finished';
}

/** Waits until the reservation is decided, then answers; safe to call any number of times. */
export const placementUpdate = defineUpdate<PlacementAnswer>('placement');
export const deployedSignal = defineSignal<[DeployedCallback]>('deployed');
/** Stops the workload (agent `/api/undeploy`) and frees the agent; answers when done. */
export const undeployUpdate = defineUpdate<UndeployAnswer, [UndeployRequest]>('undeploy');

export interface StoppedElsewhere {
  reason: string;
}
/**
 * The workload was already stopped and the rows updated by another process (the insufficient-funds terminator):
 * the deployment workflow ends without touching the agent again.
 */
export const stoppedElsewhereSignal = defineSignal<[StoppedElsewhere]>('stoppedElsewhere');

export interface AgentLost {
  /** Recorded on the deployment row, e.g. "agent deleted by admin". */
  reason: string;
  /** Whether to ask the agent to stop the workload (reset: the VM lives on; delete: it is going away). */
  stopWorkload: boolean;
  /** Workflow to tell (deploymentEndedSignal) once the deployment has ended. */
  replyTo: string;
}
/**
 * The deployment's agent is being deleted or reset: the deployment ends here — final charge, `stopped` with the
 * reason — before the agent row goes, so the operator still gets their share of the last period.
 */
export const agentLostSignal = defineSignal<[AgentLost]>('agentLost');
/** Answer to agentLostSignal: the deployment has ended (sent to `replyTo`). */
export const deploymentEndedSignal = defineSignal<[{ deploymentId: string }]>('deploymentEnded');

export interface UndeployAgentInput {
  agentId: string;
  actor: string;
}
export interface UndeployAgentResult {
  agentId: string;
  stoppedDeploymentId: string | null;
}

export interface AgentUnhealthy {
  agentId: string;
  /** ISO time since when the agent has been unhealthy (or silent). */
  since: string;
  /** Recorded on the deployment row and in its reassignments, e.g. "agent … unhealthy since …". */
  reason: string;
}
/**
 * Sent by the health sweep when the deployment's agent has been unhealthy, or silent, longer than
 * `operational.reassign_after_seconds`: the workflow moves the deployment to another eligible agent (failover).
 * Repeats are harmless (ignored unless the deployment runs on that agent).
 */
export const agentUnhealthySignal = defineSignal<[AgentUnhealthy]>('agentUnhealthy');
