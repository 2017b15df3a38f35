/**
 * Contracts of the agent processes: registration (one workflow per attempt), the per-agent entity workflow that
 * serializes agent-control calls, and the admin/periodic workflows that reset or remove agents (undeploy is the deployment
 * workflows' business: workflows/contracts/deployments.ts).
 * Secrets (control secret, tunnel token) cross workflow history only sealed (core/auth/seal.ts).
 */
import { defineSignal, defineUpdate } from '@temporalio/workflow';

/** AES-GCM ciphertext under the install's sealing key. */
export interface SealedValue {
  sealed: string;
}

/** An expected refusal: the HTTP status and `{detail}` the API answers with. */
export interface Rejection {
  ok: false;
  status: number;
  detail: string;
}

export interface RegisterAgentInput {
  vmName: string;
  nodeSize: string;
  datacenter: string;
  version: string;
  /** The agent's attestation blob; policy reads only the signed ITA token inside it. */
  attestation: Record<string, unknown>;
  /** HMAC of the launch-order bootstrap token the agent presented (never the token itself). */
  bootstrapTokenHash?: string | null;
  /** base64url X25519 HPKE public key; its SHA-256 must be REPORTDATA bytes 32..64 of the signed quote. */
  encryptionPublicKey?: string | null;
}

export type RegisterAgentResult =
  | {
      ok: true;
      agentId: string;
      hostname: string | null;
      tunnelToken: SealedValue | null;
      secret: SealedValue;
      pollInterval: number;
      /** True when an existing verified agent re-registered (v1's fast path). */
      reRegistered: boolean;
    }
  | Rejection;

/** `attempt` is a digest of the ITA token: an identical request maps onto the same execution and its outcome. */
export const registerAgentWorkflowId = (vmName: string, attempt: string) => `register:${vmName}:${attempt}`;

// ---------- entity workflow `agent:<id>` ----------

export interface AgentEntityInput {
  agentId: string;
  /** Updates handled by previous runs (carried across continue-as-new). */
  handled?: number;
  /** Continue-as-new after this many updates in one run (default 200) even if the server has not suggested it. */
  continueAfter?: number;
}

export interface HeartbeatInput {
  vmName: string;
  attestation: Record<string, unknown>;
  status: string | null;
  deploymentId: string | null;
}
export interface StatusInput {
  status: string;
  deploymentId: string;
  error: string | null;
}
export interface DeployedInput {
  deploymentId: string;
  serviceId: string;
  attestation: Record<string, unknown>;
}

export type ControlResult = { ok: true; body: Record<string, unknown> } | Rejection;

// Updates, not signals: the agent's HTTP call needs the outcome (403 on a failed attestation refresh, …).
export const heartbeatUpdate = defineUpdate<ControlResult, [HeartbeatInput]>('heartbeat');
export const statusUpdate = defineUpdate<ControlResult, [StatusInput]>('status');
export const deployedUpdate = defineUpdate<ControlResult, [DeployedInput]>('deployed');
/** The agent row is gone (admin delete or stale clean-up): the entity workflow ends. */
export const agentDeletedSignal = defineSignal('deleted');

export const agentWorkflowId = (agentId: string) => `agent:${agentId}`;

// ---------- admin / periodic ----------

export interface AgentRef {
  agentId: string;
  tunnelId: string | null;
  hostname: string | null;
}

export interface DeleteAgentResult {
  deleted: boolean;
  tunnelDeleted: boolean;
}

export interface ResetAgentResult {
  found: boolean;
  tunnelCreated: boolean;
  /** Set when the tunnel could not be created (502). */
  error?: string;
}

export interface AgentHealthSweepResult {
  checked: number;
  healthy: number;
  attested: number;
}

export interface AgentStaleCleanupInput {
  /** Override the cut-off (ISO) instead of workflow time − operational.agent_stale_hours (tests, admin runs). */
  cutoff?: string;
}
export interface AgentStaleCleanupResult {
  cutoff: string;
  deleted: string[];
}

export const deleteAgentWorkflowId = (agentId: string, requestId: string) => `agent-delete:${agentId}:${requestId}`;
export const resetAgentWorkflowId = (agentId: string, requestId: string) => `agent-reset:${agentId}:${requestId}`;
