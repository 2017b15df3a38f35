/**
 * The closed vocabulary of permanent failures (ApplicationFailure `type`) that workflows and the API branch on —
 * never on message text. Activities throw `ApplicationFailure.nonRetryable(message, <type>)`; transient failures
 * throw plain errors and let the retry policy work. The API maps these types to HTTP statuses in one place
 * (api/failures.ts). Capacity and measurement keep their lists beside their contracts (CapacityFailure,
 * MeasurementFailureType); this module holds the deployment, agent-call and trust ones and the type lookup.
 */
import { ApplicationFailure, TemporalFailure } from '@temporalio/workflow';

/** Steps of the deployment workflow's own activities. */
export const DeploymentFailure = {
  /** The deployment row is gone (an activity was given an id with no row). */
  DeploymentNotFound: 'DeploymentNotFound',
  /** The compose the deploy request staged is missing (compose_blobs row deleted before the workflow ran). */
  ComposeNotStaged: 'ComposeNotStaged',
} as const;

/** Failure types thrown by the agent HTTP activities (activities/agent.ts). */
export const AgentFailure = {
  /** The agent answered 4xx (bad/missing secret, CP attestation refused, bad payload) or another unexpected status. */
  Rejected: 'AgentRejected',
  /** The agent (or the tunnel in front of it) answered 404 for an agent API route. */
  NotFound: 'AgentNotFound',
  /** No hostname and no `operational.agent_direct_url`, or an unusable one. */
  NoAddress: 'AgentNoAddress',
  /** Unreachable, timeout, 5xx, 429, or a garbled 2xx. Retryable; surfaces with this type after the last attempt. */
  Unavailable: 'AgentUnavailable',
  /** `agentDeploy` was given a deployment id with no row. */
  DeploymentNotFound: 'DeploymentNotFound',
  /** The deployment row is placed on another agent than the one the caller wants to push it to. */
  DeploymentAgentMismatch: 'DeploymentAgentMismatch',
  /** The deployment row cannot be sent (empty compose). */
  InvalidDeployment: 'InvalidDeployment',
  /** `api_secret_sealed` does not open with this install's sealing key. */
  SecretUnreadable: 'AgentSecretUnreadable',
  /** `cp_to_agent_attestation_mode=required` but this control plane cannot mint a TDX quote. */
  CpAttestationUnavailable: 'CpAttestationUnavailable',
  /** Missing agent id / deployment id in the activity input. */
  InvalidInput: 'AgentInvalidInput',
} as const;
export type AgentFailureType = (typeof AgentFailure)[keyof typeof AgentFailure];

/**
 * Why a trust verdict refused (TrustVerdict.code, activities/attestation.ts): the callers branch on this, not on the
 * detail text (an ITA outage must not read as an untrusted MRTD).
 */
export const TrustFailure = {
  /** The ITA token did not verify (signature, issuer, audience, expiry). */
  ItaRejected: 'ita_rejected',
  /** The ITA token could not be checked (JWKS unreachable, malformed token). */
  ItaError: 'ita_error',
  /** Signed, but without an MRTD claim. */
  NoMrtd: 'no_mrtd',
  /** TCB status refused by operational.tcb_enforcement_mode. */
  Tcb: 'tcb',
  /** The MRTD is not on the trust list. */
  MrtdUntrusted: 'mrtd_untrusted',
  /** RTMRs differ from the baseline (strict mode). */
  Rtmr: 'rtmr',
  /** Development evidence refused (insecure local agents not allowed, or malformed). */
  InsecureLocal: 'insecure_local',
  /** The registered HPKE key's SHA-256 is not REPORTDATA bytes 32..64 of the signed quote (issue #17). */
  KeyBinding: 'key_binding',
} as const;
export type TrustFailureCode = (typeof TrustFailure)[keyof typeof TrustFailure];

/**
 * The ApplicationFailure that decided a failure: the error itself, or the cause an activity, child workflow or
 * client wrapper (WorkflowFailedError, WorkflowUpdateFailedError) carries. Follows `cause` links only through
 * Temporal's wrappers, so an unrelated error's cause is never read.
 */
export function applicationFailureOf(err: unknown): ApplicationFailure | undefined {
  let e: unknown = err;
  while (e) {
    if (e instanceof ApplicationFailure) return e;
    // ActivityFailure, ChildWorkflowFailure, … are TemporalFailures; the client's wrappers are known by class name.
    const wrapper =
      e instanceof TemporalFailure ||
      (e instanceof Error && (e.name === 'WorkflowFailedError' || e.name === 'WorkflowUpdateFailedError'));
    if (!wrapper) return undefined;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The failure type, if the error is (or wraps) a typed ApplicationFailure. */
export const failureTypeOf = (err: unknown): string | undefined => applicationFailureOf(err)?.type ?? undefined;

/** The human message of the deciding failure (for `{detail}` and logs), else the error's own message. */
export function failureMessageOf(err: unknown): string {
  const app = applicationFailureOf(err);
  if (app) return app.message;
  return err instanceof Error ? err.message : String(err);
}
